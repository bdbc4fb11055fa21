"""Deliveries and the raw store, the warehouse's system of record.

A delivery is a folder of CSV or Parquet files, each named after the raw table it feeds
(`raw_orders.csv`, `raw_orders_2026-07-01.parquet`, ...). A CSV file is UTF-8 (a byte-order
mark is fine), comma-separated, with CRLF or LF line ends and a header of exactly the table's
columns in any order; a Parquet file has exactly the table's columns (any types: they are taken
in as text). Rows are not judged here (staging does that, row by row, with a reason). A file
whose structure is wrong, or a CSV line that cannot be read (too many or too few fields, an
unterminated quote, bytes that are not UTF-8), refuses the whole delivery before anything is
built, in one sentence that names the file, the line and what to fix.

Intake converts an accepted delivery once into the raw store, append-only Parquet, one folder
per raw table:

    <root>/<table>/_schema.parquet     no rows: the table's columns, so the folder always scans
    <root>/<table>/<batch id>.parquet  what one batch delivered for the table: every column as
                                       delivered text, plus _loaded_at (when the batch was taken
                                       in, UTC) and _batch_id
    <root>/_batches/<batch id>.json    the commit mark: a batch's files count once it exists

A batch's files are written before its refresh runs the gates, and the batch is committed only
when the refresh publishes; a refresh that fails or dies leaves uncommitted files, which the
next refresh deletes before it starts (`RawStore.discard_uncommitted`). The staging models
read the folders directly (models/staging/raw_sources.yml), so the files are what every build,
full or incremental, sees. GDPR erasure blanks the personal data of erased customers in the
files that hold some (`RawStore.scrub`), keeping everything else, _loaded_at included.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from nps_warehouse.contract import (
    BATCH_ID,
    ERASURES,
    LOADED_AT,
    PERSONAL_COLUMNS,
    RAW_COLUMNS,
)

SUFFIXES = (".csv", ".parquet")
SCHEMA_FILE = "_schema.parquet"
BATCHES = "_batches"
SCRUB_PENDING = "_scrub.pending"

# What to tell the sender for each kind of unreadable CSV line (DuckDB's reject error types).
CSV_LINE_FIXES = {
    "TOO MANY COLUMNS": "it has more fields than the header; quote values that contain a comma",
    "MISSING COLUMNS": "it has fewer fields than the header; every line needs every column",
    "UNQUOTED VALUE": "a quote is not closed; close it or double quotes inside values",
    "INVALID ENCODING": "it is not UTF-8; export the file as UTF-8 (in Excel: CSV UTF-8)",
    "INVALID UNICODE": "it is not UTF-8; export the file as UTF-8 (in Excel: CSV UTF-8)",
}


class RawFileError(ValueError):
    """A delivery that cannot be taken in; the message names the file and what to fix."""


@dataclass(frozen=True)
class RawFile:
    table: str
    path: Path
    has_rows: bool = True  # a header without rows is fine: nothing to deliver this time


def table_of(path: Path) -> str:
    """The raw table a file feeds, from its name (longest matching table name wins)."""
    matches = [
        table for table in RAW_COLUMNS if path.stem == table or path.stem.startswith(f"{table}_")
    ]
    if path.suffix.lower() not in SUFFIXES or not matches:
        raise RawFileError(
            f"{path}: not a raw file; name it <table>[_<suffix>].csv or .parquet with <table> "
            f"one of {', '.join(RAW_COLUMNS)}"
        )
    return max(matches, key=len)


def _parquet_header(path: Path) -> tuple[list[str], bool]:
    """A Parquet file's column names and whether it has rows (from its metadata only)."""
    try:
        with duckdb.connect() as connection:
            columns = [
                row[0]
                for row in connection.execute(
                    "select name from parquet_schema(?) where num_children is null", [str(path)]
                ).fetchall()
            ]
            rows = connection.execute(
                "select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [str(path)]
            ).fetchone()[0]
    except duckdb.Error as error:
        raise RawFileError(
            f"{path}: not a readable Parquet file ({str(error).splitlines()[0]})"
        ) from error
    return columns, rows > 0


def _csv_header(path: Path) -> tuple[list[str], bool]:
    """A CSV file's header (a UTF-8 byte-order mark dropped) and whether a row follows it."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
            has_rows = any(line.strip() for line in handle)
    except UnicodeDecodeError as error:
        raise RawFileError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); export the file "
            "as UTF-8 (in Excel: CSV UTF-8)"
        ) from error
    return [column.strip() for column in header or []], has_rows


def check_file(path: Path) -> RawFile:
    """Check one file's structure: a header, (CSV) comma-separated, exactly the columns."""
    table = table_of(path)
    if path.suffix.lower() == ".parquet":
        columns, has_rows = _parquet_header(path)
    else:
        columns, has_rows = _csv_header(path)
    expected = RAW_COLUMNS[table]
    if not columns:
        raise RawFileError(f"{path}: the file is empty; expected a header {','.join(expected)}")
    if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
        raise RawFileError(
            f"{path}: the header {columns[0]!r} is not comma-separated (wrong delimiter?); "
            f"expected {','.join(expected)}"
        )
    missing = [column for column in expected if column not in columns]
    if missing:
        raise RawFileError(
            f"{path}: column {missing[0]!r} is missing; expected {','.join(expected)}"
        )
    unexpected = [column for column in columns if column not in expected]
    if unexpected:
        raise RawFileError(
            f"{path}: column {unexpected[0]!r} is not a column of {table}; "
            f"expected {','.join(expected)}"
        )
    return RawFile(table, path, has_rows)


def check_delivery(folder: Path) -> list[RawFile]:
    """Check every CSV and Parquet file of a delivery folder (other files, such as the seeds'
    YAML, are not data); the first structural fault raises RawFileError."""
    if not folder.is_dir():
        raise RawFileError(f"{folder}: no such folder of new raw files")
    files = [
        check_file(path)
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in SUFFIXES and not path.name.startswith(".")
    ]
    if not files:
        raise RawFileError(f"{folder}: no raw files (.csv or .parquet) in the delivery")
    return files


def read_as_text(connection: duckdb.DuckDBPyConnection, raw: RawFile, name: str) -> int:
    """Make the temporary view `name` the rows of a checked raw file, every column as text in
    the table's column order; the number of rows. A Parquet file is read where the view is
    (at 100M orders a table of it first took 11 s and 8.5 GB more); a CSV file goes into a
    table first, as a line that cannot be read (DuckDB skips it into its rejects table)
    refuses the file, which is known only once it is read."""
    source = "read_parquet('{}')".format(str(raw.path).replace("'", "''"))
    if raw.path.suffix.lower() == ".csv":
        header, _ = _csv_header(raw.path)
        types = ", ".join(f"'{column}': 'varchar'" for column in header)
        source = f"{name}_csv"
        connection.execute(
            f"create or replace temporary table {source} as select * from read_csv(?, "
            "header = true, delim = ',', quote = '\"', escape = '\"', auto_detect = false, "
            f"columns = {{{types}}}, strict_mode = true, store_rejects = true, "
            "rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')",
            [str(raw.path)],
        )
        rejects = "select line, error_type, count(*) over () from csv_rejects order by line limit 1"
        rejected = connection.execute(rejects).fetchone()
        if rejected:
            line, kind, count = rejected
            fix = CSV_LINE_FIXES.get(kind, f"it cannot be read ({kind.lower()})")
            more = f" ({count - 1} more such line{'s' * (count > 2)})" if count > 1 else ""
            raise RawFileError(f"{raw.path} line {line}: {fix}{more}")
    columns = ", ".join(
        f"cast({column} as varchar) as {column}" for column in RAW_COLUMNS[raw.table]
    )
    connection.execute(f"create or replace temporary view {name} as select {columns} from {source}")
    (rows,) = connection.execute(f"select count(*) from {name}").fetchone()
    return rows


@dataclass
class Batch:
    """One delivery taken into the raw store: its id, intake time, rows per table, files."""

    batch_id: str
    loaded_at: datetime
    rows: dict[str, int] = field(default_factory=dict)
    # The delivered files: name and SHA-256 of each (see `fingerprint`).
    sources: list[dict[str, str]] = field(default_factory=list)
    # Rows per covered day of the tables with a day column (set by the intake validation).
    daily_rates: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "loaded_at": self.loaded_at.isoformat()}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Batch:
        data = json.loads(text)
        return cls(**{**data, "loaded_at": datetime.fromisoformat(data["loaded_at"])})


def fingerprint(files: list[RawFile]) -> list[dict[str, str]]:
    """What identifies a delivery: each file's name and the SHA-256 of its bytes."""
    sources = []
    for raw in files:
        with raw.path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        sources.append({"name": raw.path.name, "sha256": digest})
    return sources


class RawStore:
    """The raw store under `root` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def table_folder(self, table: str) -> Path:
        return self.root / table

    def batch_file(self, table: str, batch_id: str) -> Path:
        return self.table_folder(table) / f"{batch_id}.parquet"

    def init(self) -> None:
        """Create the folders and each table's schema file, if missing."""
        (self.root / BATCHES).mkdir(parents=True, exist_ok=True)
        with duckdb.connect() as connection:
            for table, columns in RAW_COLUMNS.items():
                schema = self.table_folder(table) / SCHEMA_FILE
                if schema.exists():
                    continue
                schema.parent.mkdir(exist_ok=True)
                typed = ", ".join(f"cast(null as varchar) as {column}" for column in columns)
                connection.execute(
                    f"copy (select {typed}, cast(null as timestamp with time zone) as "
                    f"{LOADED_AT}, cast(null as varchar) as {BATCH_ID} limit 0) to "
                    f"'{schema}' (format parquet)"
                )

    def committed(self) -> list[Batch]:
        """Every committed batch, oldest first."""
        folder = self.root / BATCHES
        if not folder.is_dir():
            return []
        return [Batch.from_json(path.read_text()) for path in sorted(folder.glob("*.json"))]

    def discard_uncommitted(self) -> list[Path]:
        """Delete the batch files of batches that were never committed (a refresh that failed
        or died); returns them."""
        committed = {batch.batch_id for batch in self.committed()}
        stale = [
            path
            for table in RAW_COLUMNS
            for path in sorted(self.table_folder(table).glob("*.parquet"))
            if path.name != SCHEMA_FILE and path.stem not in committed
        ]
        for path in stale:
            path.unlink()
        return stale

    def find(self, sources: list[dict[str, str]]) -> Batch | None:
        """The committed batch that took in exactly these files, if any (a delivery delivered
        again, e.g. after a refresh that died once it had committed it)."""
        return next((batch for batch in self.committed() if batch.sources == sources), None)

    def take_in(self, files: list[RawFile], batch_id: str, loaded_at: datetime) -> Batch:
        """Convert a checked delivery into this batch's files (uncommitted), one per table."""
        self.init()
        batch = Batch(batch_id, loaded_at, sources=fingerprint(files))
        with duckdb.connect() as connection:
            for table in RAW_COLUMNS:
                parts = [raw for raw in files if raw.table == table and raw.has_rows]
                if not parts:
                    continue
                target = self.batch_file(table, batch_id)
                scratch = target.with_suffix(".parquet.tmp")
                rows = sum(
                    read_as_text(connection, raw, f"part_{number}")
                    for number, raw in enumerate(parts)
                )
                union = " union all ".join(f"select * from part_{n}" for n in range(len(parts)))
                connection.execute(
                    f"copy (select *, cast(? as timestamp with time zone) as {LOADED_AT}, "
                    f"? as {BATCH_ID} from ({union})) to '{scratch}' "
                    "(format parquet, compression zstd)",
                    [loaded_at, batch_id],
                )
                os.replace(scratch, target)
                batch.rows[table] = rows
        return batch

    def commit(self, batch: Batch) -> None:
        """Make a batch part of the raw store: write its mark (atomically). A batch with
        erasure requests first notes that files need scrubbing (`scrub_pending`)."""
        if batch.rows.get(ERASURES):
            (self.root / SCRUB_PENDING).touch()
        mark = self.root / BATCHES / f"{batch.batch_id}.json"
        scratch = mark.with_suffix(".json.tmp")
        scratch.write_text(batch.to_json())
        with scratch.open() as handle:
            os.fsync(handle.fileno())
        os.replace(scratch, mark)

    def discard(self, batch: Batch) -> None:
        """Delete an uncommitted batch's files."""
        for table in batch.rows:
            self.batch_file(table, batch.batch_id).unlink(missing_ok=True)

    def erased_ids(self) -> set[str]:
        """Cleaned ids (trimmed, upper case) of every customer with an erasure request."""
        folder = self.table_folder(ERASURES)
        if not folder.is_dir():
            return set()
        with duckdb.connect() as connection:
            rows = connection.execute(
                "select distinct upper(trim(customer_id)) from read_parquet(?) "
                "where nullif(trim(customer_id), '') is not null",
                [f"{folder}/*.parquet"],
            ).fetchall()
        return {customer_id for (customer_id,) in rows}

    def scrub_pending(self) -> bool:
        """Whether a committed batch brought erasure requests that the files do not reflect yet
        (the refresh that committed it scrubs right after publishing; one that died before
        leaves this for the next refresh)."""
        return (self.root / SCRUB_PENDING).exists()

    def scrub_done(self) -> None:
        (self.root / SCRUB_PENDING).unlink(missing_ok=True)

    def scrub(self, erased: set[str]) -> list[Path]:
        """Blank erased customers' personal data in every file that still holds some, rewriting
        only those files; returns them."""
        if not erased:
            return []
        is_erased = "list_contains(?, upper(trim(customer_id)))"
        rewritten = []
        with duckdb.connect() as connection:
            for table, columns in PERSONAL_COLUMNS.items():
                has_data = " or ".join(f"nullif(trim({c}), '') is not null" for c in columns)
                blanked = ", ".join(
                    f"case when {is_erased} then null else {c} end as {c}" for c in columns
                )
                for path in sorted(self.table_folder(table).glob("*.parquet")):
                    (hits,) = connection.execute(
                        f"select count(*) from read_parquet(?) where {is_erased} and ({has_data})",
                        [str(path), sorted(erased)],
                    ).fetchone()
                    if not hits:
                        continue
                    scratch = path.with_suffix(".parquet.tmp")
                    connection.execute(
                        f"copy (select * replace ({blanked}) from read_parquet(?)) to "
                        f"'{scratch}' (format parquet, compression zstd)",
                        [sorted(erased)] * len(columns) + [str(path)],
                    )
                    os.replace(scratch, path)
                    rewritten.append(path)
        return rewritten
