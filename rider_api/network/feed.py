"""Reading the CSV files of a GTFS feed (a zip or a folder) with the standard library.

Files are UTF-8 with or without a byte-order mark. Column names and values are
stripped of surrounding whitespace; a missing value is the empty string.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from rider_api.network.errors import FeedError, FeedProblem

__all__ = ["FeedFiles", "Table", "open_feed"]

Row = dict[str, str]


@dataclass(frozen=True, slots=True)
class Table:
    """The rows of one file, each with its line number in the file."""

    file: str
    columns: frozenset[str]
    rows: list[tuple[int, Row]]


class FeedFiles:
    """The files of an opened feed; use through :func:`open_feed`."""

    def __init__(self, names: dict[str, str], opener: Callable[[str], IO[bytes]]) -> None:
        self._names = names
        self._open = opener

    def has(self, file: str) -> bool:
        return file in self._names

    def read(self, file: str, required_columns: tuple[str, ...] = ()) -> Table:
        """Read a whole file; a missing column in ``required_columns`` is a FeedError."""
        if file not in self._names:
            raise FeedError([FeedProblem(file, None, None, "required file is missing")])
        with self._open(self._names[file]) as raw:
            data = raw.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise FeedError(
                [FeedProblem(file, line, None, f"not UTF-8 text (byte {exc.start})")]
            ) from exc
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader, None)
            if header is None:
                raise FeedError([FeedProblem(file, 1, None, "the file is empty")])
            columns = [name.strip() for name in header]
            missing = [name for name in required_columns if name not in columns]
            if missing:
                raise FeedError(
                    [FeedProblem(file, 1, name, "required column is missing") for name in missing]
                )
            rows: list[tuple[int, Row]] = []
            width = len(columns)
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if len(values) < width:
                    values += [""] * (width - len(values))
                # Values past the last column are ignored (strict=False).
                row = dict(zip(columns, map(str.strip, values), strict=False))
                rows.append((reader.line_num, row))
        except csv.Error as exc:
            raise FeedError(
                [FeedProblem(file, reader.line_num, None, f"not valid CSV ({exc})")]
            ) from exc
        return Table(file, frozenset(columns), rows)


@contextmanager
def open_feed(path: str | Path) -> Iterator[FeedFiles]:
    """Open a GTFS zip (its files at the top or in one folder) or a folder of .txt files."""
    source = Path(path)
    if source.is_dir():
        names = {p.name: p.name for p in source.iterdir() if p.is_file() and p.suffix == ".txt"}
        yield FeedFiles(names, lambda name: (source / name).open("rb"))
        return
    if not source.exists():
        raise FeedError([FeedProblem(str(source), None, None, "no such file or folder")])
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise FeedError(
            [FeedProblem(source.name, None, None, "neither a zip file nor a folder")]
        ) from exc
    with archive:
        names = {}
        for member in archive.namelist():
            member_path = PurePosixPath(member)
            if member.endswith("/") or member_path.suffix != ".txt" or len(member_path.parts) > 2:
                continue
            # Files at the top of the archive win over copies in a folder.
            if member_path.name not in names or len(member_path.parts) == 1:
                names[member_path.name] = member
        yield FeedFiles(names, archive.open)
