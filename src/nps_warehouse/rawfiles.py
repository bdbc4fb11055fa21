"""Deliveries and the raw store, the warehouse's system of record.

A delivery is a folder of CSV or Parquet files named after the raw table they feed
(`raw_orders.csv`, `raw_orders_2026-07-01.parquet`), each with exactly the table's columns in
any order (CSV: UTF-8, a byte-order mark is fine, comma-separated, CRLF or LF, a header).
Rows are judged by staging; a file whose structure is wrong, or a CSV line that cannot be read,
refuses the whole delivery before anything is built, in one sentence naming the file, the line
and what to fix.

Intake converts a delivery once into the raw store, append-only Parquet that staging reads
directly: `<root>/<table>/_schema.parquet` (no rows, so the folder always scans),
`<root>/<table>/<batch id>.parquet` (the delivered text, _loaded_at and _batch_id) and the
commit mark `<root>/_batches/<batch id>.json`, written only when the refresh publishes; the next
refresh deletes files without one. GDPR erasure blanks personal data in place (`scrub`).
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

from nps_warehouse.contract import BATCH_ID, ERASURES, LOADED_AT, PERSONAL_COLUMNS, RAW_COLUMNS

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
            schema = connection.execute(
                "select name from parquet_schema(?) where num_children is null", [str(path)]
            ).fetchall()
            (rows,) = connection.execute(
                "select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [str(path)]
            ).fetchone()
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        raise RawFileError(f"{path}: not a readable Parquet file ({reason})") from error
    return [name for (name,) in schema], rows > 0


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
    read = _parquet_header if path.suffix.lower() == ".parquet" else _csv_header
    columns, has_rows = read(path)
    expected = ",".join(RAW_COLUMNS[table])
    if not columns:
        raise RawFileError(f"{path}: the file is empty; expected a header {expected}")
    if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
        raise RawFileError(
            f"{path}: the header {columns[0]!r} is not comma-separated (wrong delimiter?); "
            f"expected {expected}"
        )
    missing = [column for column in RAW_COLUMNS[table] if column not in columns]
    unexpected = [column for column in columns if column not in RAW_COLUMNS[table]]
    if missing or unexpected:
        fault = "is missing" if missing else f"is not a column of {table}"
        wrong = (missing or unexpected)[0]
        raise RawFileError(f"{path}: column {wrong!r} {fault}; expected {expected}")
    return RawFile(table, path, has_rows)


def check_delivery(folder: Path) -> list[RawFile]:
    """Check every CSV and Parquet file of a delivery (not other files, e.g. the seeds' YAML);
    the first structural fault raises RawFileError."""
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
    """Make the temporary view `name` a checked file's rows, every column as text in the
    table's order; the number of rows. Parquet is read in place (a table of it cost 11 s and
    8.5 GB more at 100M orders); CSV goes into a table first, since a line it cannot read
    (DuckDB's rejects table) refuses the file and is known only once it is read."""
    source = "read_parquet('{}')".format(str(raw.path).replace("'", "''"))
    if raw.path.suffix.lower() == ".csv":
        types = ", ".join(f"'{column}': 'varchar'" for column in _csv_header(raw.path)[0])
        source = f"{name}_csv"
        connection.execute(
            f"create or replace temporary table {source} as select * from read_csv(?, "
            "header = true, delim = ',', quote = '\"', escape = '\"', auto_detect = false, "
            f"columns = {{{types}}}, strict_mode = true, store_rejects = true, "
            "rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')",
            [str(raw.path)],
        )
        rejected = connection.execute(
            "select line, error_type, count(*) over () from csv_rejects order by line limit 1"
        ).fetchone()
        if rejected:
            line, kind, count = rejected
            fix = CSV_LINE_FIXES.get(kind, f"it cannot be read ({kind.lower()})")
            more = f" ({count - 1} more such line{'s' * (count > 2)})" if count > 1 else ""
            raise RawFileError(f"{raw.path} line {line}: {fix}{more}")
    columns = ", ".join(f"cast({c} as varchar) as {c}" for c in RAW_COLUMNS[raw.table])
    connection.execute(f"create or replace temporary view {name} as select {columns} from {source}")
    return connection.execute(f"select count(*) from {name}").fetchone()[0]


@dataclass
class Batch:
    """One delivery taken into the raw store: its id, intake time, rows per table, files (see
    `fingerprint`) and rows per covered day of the tables with a day column (set by validation)."""

    batch_id: str
    loaded_at: datetime
    rows: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, str]] = field(default_factory=list)
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


def _write_parquet(connection: duckdb.DuckDBPyConnection, query: str, args: list, to: Path) -> None:
    """Write a query's rows to a Parquet file atomically (a scratch file renamed into place)."""
    scratch = to.with_suffix(".parquet.tmp")
    connection.execute(f"copy ({query}) to '{scratch}' (format parquet, compression zstd)", args)
    os.replace(scratch, to)


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
        marks = sorted((self.root / BATCHES).glob("*.json"))
        return [Batch.from_json(path.read_text()) for path in marks]

    def discard_uncommitted(self) -> list[Path]:
        """Delete and return the files of batches never committed (a refresh failed or died)."""
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
        """The committed batch that took in exactly these files (a delivery sent again), if any."""
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
                batch.rows[table] = sum(
                    read_as_text(connection, raw, f"part_{n}") for n, raw in enumerate(parts)
                )
                union = " union all ".join(f"select * from part_{n}" for n in range(len(parts)))
                _write_parquet(
                    connection,
                    f"select *, cast(? as timestamp with time zone) as {LOADED_AT}, "
                    f"? as {BATCH_ID} from ({union})",
                    [loaded_at, batch_id],
                    self.batch_file(table, batch_id),
                )
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
        """Whether committed erasure requests are not yet scrubbed (the refresh died before)."""
        return (self.root / SCRUB_PENDING).exists()

    def scrub_done(self) -> None:
        (self.root / SCRUB_PENDING).unlink(missing_ok=True)

    def scrub(self, erased: set[str]) -> list[Path]:
        """Blank erased customers' personal data in the files holding some; returns them."""
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
                    if hits:
                        _write_parquet(
                            connection,
                            f"select * replace ({blanked}) from read_parquet(?)",
                            [sorted(erased)] * len(columns) + [str(path)],
                            path,
                        )
                        rewritten.append(path)
        return rewritten
