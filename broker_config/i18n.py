"""Languages and string tables: one ``Lang``, one way to pick it, one table shape.

Every app (the rider web app, the operator console, the driver display) keeps its texts
in a :class:`StringTable`: ``{key: {lang: template}}``, looked up with
``table.t(key, lang, **values)``. A template is a ``str.format`` string, or
:func:`plural` forms chosen by the count ``n``: English says "1 stop" and "2 stops",
Chinese has one form for both.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, get_args

from broker_config.messages import Lang

__all__ = [
    "LANGS",
    "Plural",
    "StringTable",
    "Template",
    "other_lang",
    "pick_lang",
    "plural",
]

#: Every language, in the order pages offer them.
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)


def pick_lang(value: object, default: Lang = "zh-TW") -> Lang:
    """The language a loose value names (a form field, cookie, stored setting or an
    Accept-Language header): "en", "EN", "en-US,en;q=0.9" -> "en"; "zh-TW", "zh-Hant-TW"
    -> "zh-TW"; anything else (None, "", "fr") -> ``default``."""
    if not isinstance(value, str):
        return default
    tag = value.split(",", 1)[0].split(";", 1)[0].strip().lower()
    if tag == "en" or tag.startswith("en-"):
        return "en"
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-TW"
    return default


def other_lang(lang: Lang) -> Lang:
    """The language a switch button offers."""
    return "en" if lang == "zh-TW" else "zh-TW"


@dataclass(frozen=True, slots=True)
class Plural:
    """A text with a singular and a plural form, chosen by the count ``n``."""

    one: str
    other: str

    def choose(self, n: int) -> str:
        return self.one if n == 1 else self.other


def plural(*, one: str, other: str) -> Plural:
    """Forms for one and for any other count: ``plural(one="{n} stop", other="{n} stops")``."""
    return Plural(one=one, other=other)


Template = str | Plural


def _fields(template: Template) -> set[str]:
    forms = (template.one, template.other) if isinstance(template, Plural) else (template,)
    return {
        name.split(".", 1)[0].split("[", 1)[0]
        for form in forms
        for _, name, _, _ in string.Formatter().parse(form)
        if name is not None
    }


class StringTable(Mapping[str, Mapping[Lang, Template]]):
    """The texts of one app, every key in every language: ``{key: {lang: template}}``.

    A table is checked when it is built: a missing language, a malformed template or a
    field that one language fills and another does not is a ValueError at import, not a
    broken page later.
    """

    def __init__(self, name: str, entries: Mapping[str, Mapping[Lang, Template]]) -> None:
        self.name = name
        self._entries: dict[str, dict[Lang, Template]] = {k: dict(v) for k, v in entries.items()}
        problems: list[str] = []
        for key, entry in self._entries.items():
            if sorted(entry) != sorted(LANGS):
                problems.append(f"{key!r} has languages {sorted(entry)}, not {sorted(LANGS)}")
                continue
            try:
                fields = {lang: _fields(template) for lang, template in entry.items()}
            except ValueError as exc:
                problems.append(f"{key!r} is malformed: {exc}")
                continue
            if len({frozenset(f) for f in fields.values()}) > 1:
                problems.append(f"{key!r} has different fields per language: {fields}")
        if problems:
            raise ValueError(f"string table {name}: " + "; ".join(problems))

    def __getitem__(self, key: str) -> Mapping[Lang, Template]:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def template(self, key: str, lang: Lang, /, **values: object) -> str:
        """The unfilled template of ``key`` in ``lang``; a plural text's form is the one
        for the count ``values["n"]``. KeyError for an unknown key or language."""
        entry = self._entries.get(key)
        if entry is None:
            raise KeyError(f"no text {key!r} in the {self.name} string table")
        template = entry.get(lang)
        if template is None:
            raise KeyError(f"no language {lang!r} in the {self.name} string table")
        if isinstance(template, Plural):
            n = values.get("n")
            if not isinstance(n, int) or isinstance(n, bool):
                raise TypeError(f"text {key!r} of the {self.name} table needs a count n=<int>")
            return template.choose(n)
        return template

    def t(self, key: str, lang: Lang, /, **values: object) -> str:
        """The text ``key`` in ``lang`` with its ``{fields}`` filled in from ``values``."""
        try:
            return self.template(key, lang, **values).format(**values)
        except KeyError as exc:
            if key in self._entries and lang in LANGS:  # a field without a value
                message = f"text {key!r} of the {self.name} table needs the value {exc}"
                raise KeyError(message) from None
            raise

    def templates(self, lang: Lang, *prefixes: str) -> dict[str, str]:
        """The unfilled templates in ``lang`` of the keys starting with one of ``prefixes``
        (every key when none), for a script to fill in; a plural text gives ``key.one``
        and ``key.other``."""
        out: dict[str, str] = {}
        for key, entry in self._entries.items():
            if prefixes and not key.startswith(prefixes):
                continue
            template = entry[lang]
            if isinstance(template, Plural):
                out[f"{key}.one"] = template.one
                out[f"{key}.other"] = template.other
            else:
                out[key] = template
        return out
