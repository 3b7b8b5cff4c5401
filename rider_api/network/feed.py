"""Reading the CSV files of a GTFS feed (a zip or a folder) with the standard library.

Files are UTF-8 with or without a byte-order mark, with any line ends (LF, CRLF, CR).
Column names and values are stripped of surrounding whitespace; a missing value is the
empty string. A file is read as a stream (``FeedFiles.stream``): a city's stop_times.txt
has millions of rows and is never held in memory whole; small files are read into a
:class:`Table` (``FeedFiles.read``).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from rider_api.network.errors import FeedError, FeedProblem

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = ["FeedFiles", "Row", "Table", "TableStream", "open_feed"]

Row = dict[str, str]

#: Bytes read at a time when looking for the place of a decoding error.
_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Table:
    """The rows of one file, each with its line number in the file."""

    file: str
    columns: frozenset[str]
    rows: list[tuple[int, Row]]


class TableStream:
    """The rows of one file as they are read: ``(line, values)``, values in the order of
    ``columns``, not stripped, padded with empty strings to the header's width (values
    past the last column are kept and ignored). Blank lines are skipped; ``line`` is the
    row's last line in the file (the header is line 1).

    A loop that must be fast reads ``reader`` itself, inside ``errors()``, and passes
    each row through ``complete`` (or does what it does).
    """

    def __init__(
        self, file: str, columns: tuple[str, ...], reader: CsvReader, rescan: _Rescan
    ) -> None:
        self.file = file
        self.columns = columns
        self.width = len(columns)
        self.reader = reader
        self._rescan = rescan

    def index(self, column: str) -> int | None:
        """The position of ``column`` in every row's values, or None if the file lacks it."""
        return self.columns.index(column) if column in self.columns else None

    def row(self, values: list[str]) -> Row:
        """One row as a mapping of stripped values (for the field parsers)."""
        return dict(zip(self.columns, map(str.strip, values), strict=False))

    def complete(self, values: list[str]) -> list[str] | None:
        """``values`` padded to the header's width, or None for a blank line."""
        n = len(values)
        if n < 2 and (n == 0 or not values[0].strip()):
            return None
        if n < self.width:
            values += [""] * (self.width - n)
        return values

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn broken CSV and bytes that are not UTF-8, met while reading, into FeedError."""
        try:
            yield
        except csv.Error as exc:
            line = self.reader.line_num
            raise FeedError([FeedProblem(self.file, line, None, f"not valid CSV ({exc})")]) from exc
        except UnicodeDecodeError as exc:
            raise self._rescan() from exc

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self.reader
        complete = self.complete
        with self.errors():
            for values in reader:
                if complete(values) is not None:
                    yield reader.line_num, values


_Rescan = Callable[[], FeedError]


class FeedFiles:
    """The files of an opened feed; use through :func:`open_feed`."""

    def __init__(self, names: dict[str, str], opener: Callable[[str], IO[bytes]]) -> None:
        self._names = names
        self._open = opener

    def has(self, file: str) -> bool:
        return file in self._names

    @contextmanager
    def stream(self, file: str, required_columns: tuple[str, ...] = ()) -> Iterator[TableStream]:
        """Open ``file`` for reading row by row; a missing column in ``required_columns``
        is a FeedError, and so are bytes that are not UTF-8 and broken CSV (when met)."""
        if file not in self._names:
            raise FeedError([FeedProblem(file, None, None, "required file is missing")])
        member = self._names[file]

        def rescan() -> FeedError:
            with self._open(member) as raw:
                return _decoding_error(file, raw)

        with (
            self._open(member) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        ):
            reader = csv.reader(text)
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise FeedError([FeedProblem(file, 1, None, f"not valid CSV ({exc})")]) from exc
            except UnicodeDecodeError as exc:
                raise rescan() from exc
            if header is None:
                raise FeedError([FeedProblem(file, 1, None, "the file is empty")])
            columns = tuple(name.strip() for name in header)
            missing = [name for name in required_columns if name not in columns]
            if missing:
                raise FeedError(
                    [FeedProblem(file, 1, name, "required column is missing") for name in missing]
                )
            yield TableStream(file, columns, reader, rescan)

    def check(self, file: str, required_columns: tuple[str, ...] = ()) -> None:
        """Read ``file``'s header only: FeedError if it is empty, lacks a required column,
        or its first lines are not UTF-8 or not CSV."""
        with self.stream(file, required_columns):
            pass

    def read(self, file: str, required_columns: tuple[str, ...] = ()) -> Table:
        """Read a whole (small) file; a missing column in ``required_columns`` is a FeedError."""
        with self.stream(file, required_columns) as stream:
            rows = [(line, stream.row(values)) for line, values in stream]
            return Table(file, frozenset(stream.columns), rows)


def _decoding_error(file: str, raw: IO[bytes]) -> FeedError:
    """Where the first byte that is not UTF-8 is: its offset after any byte-order mark and
    its line, read again in chunks (the text layer's error only knows its own buffer)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes decoded so far, after the byte-order mark
    lines = 0
    pending = b""
    first = True
    while True:
        chunk = raw.read(_SCAN_CHUNK)
        data = pending + chunk
        if first:
            data = data.removeprefix(codecs.BOM_UTF8)
            first = False
        try:
            decoder.decode(data, final=not chunk)
        except UnicodeDecodeError as exc:
            line = lines + data[: exc.start].count(b"\n") + 1
            return FeedError(
                [FeedProblem(file, line, None, f"not UTF-8 text (byte {offset + exc.start})")]
            )
        # The decoder keeps an unfinished character for the next chunk: count it then.
        kept = len(decoder.getstate()[0])
        done = data[: len(data) - kept]
        offset += len(done)
        lines += done.count(b"\n")
        pending = data[len(done) :]
        decoder.reset()
        if not chunk:
            return FeedError([FeedProblem(file, None, None, "not UTF-8 text")])


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
