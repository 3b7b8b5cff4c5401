"""GTFS translations.txt: names in zh-TW and English.

Both formats are read: the current one (table_name, field_name, language, translation,
record_id / record_sub_id / field_value) and the older one (trans_id, lang,
translation) where a translated field holds a trans_id.
"""

from __future__ import annotations

from typing import Literal

from rider_api.network.feed import Table

__all__ = ["Slot", "Translations", "lang_slot"]

Slot = Literal["zh", "en"]

#: Chinese tags we accept as zh-TW; simplified-script tags are left out on purpose.
_ZH_TAGS = frozenset({"zh", "zh-tw", "zh-hant", "zh-hant-tw", "zh-hk", "zh-hant-hk", "zh-mo"})


def lang_slot(lang: str | None) -> Slot | None:
    """Which of the two languages a BCP 47 tag fills (None: neither)."""
    if not lang:
        return None
    tag = lang.strip().lower().replace("_", "-")
    if tag == "en" or tag.startswith("en-"):
        return "en"
    if tag in _ZH_TAGS:
        return "zh"
    return None


class Translations:
    """Looks up the translation of one field value of one record."""

    def __init__(self) -> None:
        self._by_record: dict[tuple[str, str, Slot, str, str], str] = {}
        self._by_value: dict[tuple[str, str, Slot, str], str] = {}
        self._legacy: dict[tuple[str, Slot], str] = {}
        self.used_rows = 0

    @classmethod
    def from_table(cls, table: Table | None) -> Translations:
        """Rows in languages other than zh-TW and English, or without a target, are ignored."""
        translations = cls()
        if table is None:
            return translations
        legacy = "trans_id" in table.columns and "table_name" not in table.columns
        for _line, row in table.rows:
            slot = lang_slot(row.get("lang" if legacy else "language"))
            text = row.get("translation", "")
            if slot is None or not text:
                continue
            if legacy:
                translations._legacy[(row.get("trans_id", ""), slot)] = text
            else:
                tbl, fld = row.get("table_name", ""), row.get("field_name", "")
                if row.get("record_id"):
                    key = (tbl, fld, slot, row["record_id"], row.get("record_sub_id", ""))
                    translations._by_record[key] = text
                elif row.get("field_value"):
                    translations._by_value[(tbl, fld, slot, row["field_value"])] = text
                elif tbl == "feed_info":
                    translations._by_value[(tbl, fld, slot, "")] = text
                else:
                    continue
            translations.used_rows += 1
        return translations

    def get(
        self, table: str, field: str, slot: Slot, record_id: str, value: str, sub_id: str = ""
    ) -> str | None:
        """The translation of ``value`` (field ``field`` of record ``record_id``), if any."""
        found = self._by_record.get((table, field, slot, record_id, sub_id))
        if found is None:
            found = self._by_value.get((table, field, slot, value))
        if found is None and self._legacy:
            found = self._legacy.get((value, slot))
        return found

    def both(self, table: str, field: str, record_id: str, value: str) -> tuple[str, str]:
        """(zh-TW, en): each the translation if there is one, else the value as written."""
        zh = self.get(table, field, "zh", record_id, value)
        en = self.get(table, field, "en", record_id, value)
        return (zh or value, en or value)
