"""Free text a person typed (names, notes, announcements): one line, no control characters.

Every free-text field of the server is a single line: a rider's name and note are shown
on one line on the driver's display and the console and are read aloud; an
announcement is spoken. A control character (NUL, escape, C1 codes) means nothing to a
listener or a display and can break log lines, terminals and database drivers, and a
line break has no place in a one-line field; so the whole C0 and C1 ranges (tab and
newlines included), DEL, the Unicode line and paragraph separators and lone surrogates
are refused, not silently removed, so the sender learns what was wrong. Leading and
trailing whitespace (a pasted trailing newline) is stripped before the check by the
fields that strip.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

__all__ = ["ONE_LINE", "check_one_line", "control_character_at"]

_REFUSED: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def control_character_at(text: str) -> int | None:
    """The index of the first refused character of ``text``, or None if it is plain."""
    found = _REFUSED.search(text)
    return None if found is None else found.start()


def check_one_line(text: str) -> str:
    """Return ``text`` unchanged if it is one line of plain text; raise a ValueError if not.

    The error is a pydantic error (a ``ValueError``), so a model field using this answers
    422 with the message below, and a form handler may catch ``ValueError``.
    """
    index = control_character_at(text)
    if index is None:
        return text
    raise PydanticCustomError(
        "control_character",
        "Text must be one line without control characters; found U+{code} at position "
        "{position}. Remove it, or retype the text.",
        {"code": f"{ord(text[index]):04X}", "position": index + 1},
    )


#: Put in ``Annotated[str, StringConstraints(...), ONE_LINE]`` after the constraints.
ONE_LINE: Final = AfterValidator(check_one_line)
