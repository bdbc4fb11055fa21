"""Raw files: the structural check a new delivery must pass, and loading into the raw tables.

A delivery is a folder of CSV or Parquet files, each named after the raw table it feeds
(`raw_orders.csv`, `raw_orders_2026-07-01.parquet`, ...). A CSV file is UTF-8, comma-separated,
with a header of exactly the table's columns; a Parquet file has exactly the table's columns
(any types: they are loaded as text, as the seeds are). Rows are not judged here (staging does
that, row by row, with a reason); a file whose structure is wrong is refused as a whole, with a
message that names the file and the column, before anything is built.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from nps_warehouse.generator import TABLE_COLUMNS

ERASURE_TABLE = "raw_erasure_requests"
# Every raw table's load time (UTC): set by the loader, not delivered; source freshness reads it.
LOADED_AT = "_loaded_at"
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    **TABLE_COLUMNS,
    ERASURE_TABLE: ("customer_id", "requested_at"),
}


SUFFIXES = (".csv", ".parquet")


class RawFileError(ValueError):
    """A raw file whose structure is wrong; the message names the file and what to fix."""


@dataclass(frozen=True)
class RawFile:
    table: str
    path: Path


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
        raise RawFileError(f"{path}: not a readable Parquet file ({error})") from error
    return columns, rows > 0


def _csv_header(path: Path) -> tuple[list[str], bool]:
    """A CSV file's header and whether a row follows it."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
            has_rows = next(handle, None) is not None
    except UnicodeDecodeError as error:
        raise RawFileError(f"{path}: not UTF-8 text ({error.reason})") from error
    return [column.strip() for column in header or []], has_rows


def check_file(path: Path) -> RawFile:
    """Check one file's structure: not empty, (CSV) comma-separated, exactly the columns."""
    table = table_of(path)
    if path.suffix.lower() == ".parquet":
        columns, has_rows = _parquet_header(path)
    else:
        columns, has_rows = _csv_header(path)
    _check_columns(path, table, columns, has_rows)
    return RawFile(table, path)


def _check_columns(path: Path, table: str, columns: list[str], has_rows: bool) -> None:
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
    if not has_rows:
        raise RawFileError(f"{path}: the file has a header but no rows")


def check_delivery(folder: Path) -> list[RawFile]:
    """Check every file of a delivery folder; the first structural fault raises RawFileError."""
    if not folder.is_dir():
        raise RawFileError(f"{folder}: no such folder of new raw files")
    return [check_file(path) for path in sorted(folder.iterdir()) if not path.name.startswith(".")]


def file_reader(raw: RawFile) -> str:
    """The table function that reads a raw file, every column as text."""
    if raw.path.suffix.lower() == ".parquet":
        columns = ", ".join(
            f"cast({column} as varchar) as {column}" for column in RAW_COLUMNS[raw.table]
        )
        return f"(select {columns} from read_parquet(?))"
    return "read_csv(?, header = true, delim = ',', quote = '\"', all_varchar = true)"


def stored_files(folder: Path) -> list[Path]:
    """The raw files (CSV and Parquet) kept in a folder such as the raw store, sorted."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in SUFFIXES)


def load(
    connection: duckdb.DuckDBPyConnection,
    files: list[RawFile],
    loaded_at: dict[Path, datetime] | None = None,
) -> dict[str, int]:
    """Append the files' rows to the raw tables (as text, as the seeds are), _loaded_at set to
    the file's time in loaded_at or else now; rows per table."""
    loaded: dict[str, int] = {}
    now = datetime.now(UTC)
    for raw in files:
        before = connection.execute(f"select count(*) from raw.{raw.table}").fetchone()[0]
        connection.execute(
            f"insert into raw.{raw.table} by name select *, "
            f"cast(? as timestamp with time zone) as {LOADED_AT} from {file_reader(raw)}",
            [(loaded_at or {}).get(raw.path, now), str(raw.path)],
        )
        after = connection.execute(f"select count(*) from raw.{raw.table}").fetchone()[0]
        loaded[raw.table] = loaded.get(raw.table, 0) + after - before
    return loaded


def create_raw_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and tables (every column text, as dbt seed makes them, and the load
    time _loaded_at) if missing."""
    connection.execute("create schema if not exists raw")
    for table, columns in RAW_COLUMNS.items():
        typed = ", ".join(f"{column} varchar" for column in columns)
        connection.execute(
            f"create table if not exists raw.{table} ({typed}, "
            f"{LOADED_AT} timestamp with time zone default current_timestamp)"
        )


def load_folder(warehouse: Path, folder: Path, replace: bool = False, say=print) -> dict[str, int]:
    """Check a folder of raw files, then load it into the warehouse's raw tables in one
    transaction: appended, or with replace=True instead of the rows the tables held. Returns
    the rows loaded per table."""
    files = check_delivery(folder)
    if not files:
        raise RawFileError(f"{folder}: no raw files (.csv or .parquet) to load")
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("begin transaction")
        create_raw_tables(connection)
        if replace:
            for table in sorted({raw.table for raw in files}):
                connection.execute(f"delete from raw.{table}")
                say(f"emptied raw.{table}")
        loaded: dict[str, int] = {}
        for number, raw in enumerate(files, start=1):
            started = time.perf_counter()
            rows = load(connection, [raw])[raw.table]
            loaded[raw.table] = loaded.get(raw.table, 0) + rows
            say(
                f"[{number}/{len(files)}] {raw.path.name}: {rows:,} rows into raw.{raw.table} "
                f"({time.perf_counter() - started:.1f} s)"
            )
        connection.execute("commit")
    return loaded


# Personal data per raw table, blanked for customers with an erasure request.
PERSONAL_COLUMNS = {
    "raw_customers": ("company_name", "contact_email"),
    "raw_survey_responses": ("comment",),
}


def erased_ids(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """Cleaned ids (trimmed, upper case) of every customer with an erasure request."""
    rows = connection.execute(
        f"select distinct upper(trim(customer_id)) from raw.{ERASURE_TABLE} "
        "where nullif(trim(customer_id), '') is not null"
    ).fetchall()
    return {customer_id for (customer_id,) in rows}


def scrub_tables(connection: duckdb.DuckDBPyConnection, erased: set[str]) -> None:
    """Blank the personal data of erased customers in the raw tables of a build."""
    if not erased:
        return
    for table, columns in PERSONAL_COLUMNS.items():
        assignments = ", ".join(f"{column} = null" for column in columns)
        connection.execute(
            f"update raw.{table} set {assignments} "
            "where list_contains(?, upper(trim(customer_id)))",
            [sorted(erased)],
        )


def scrub_file(raw: RawFile, erased: set[str]) -> bool:
    """Blank erased customers' personal data in a stored raw file; True when it changed."""
    columns = PERSONAL_COLUMNS.get(raw.table)
    if not columns or not erased:
        return False
    if raw.path.suffix.lower() == ".parquet":
        return _scrub_parquet(raw, columns, erased)
    with raw.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    fieldnames = list(rows[0]) if rows else list(RAW_COLUMNS[raw.table])
    changed = False
    for row in rows:
        if (row["customer_id"] or "").strip().upper() in erased:
            for column in columns:
                changed |= bool(row[column])
                row[column] = ""
    if changed:
        with raw.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fieldnames, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return changed


def _scrub_parquet(raw: RawFile, columns: tuple[str, ...], erased: set[str]) -> bool:
    """scrub_file for a Parquet file: rewrite it through DuckDB when an erased row has data."""
    is_erased = "list_contains(?, upper(trim(customer_id)))"
    has_data = " or ".join(f"nullif(trim({column}), '') is not null" for column in columns)
    blanked = ", ".join(
        f"case when {is_erased} then null else {column} end as {column}" for column in columns
    )
    scratch = raw.path.with_suffix(".scrubbed.parquet")
    with duckdb.connect() as connection:
        hits = connection.execute(
            f"select count(*) from read_parquet(?) where {is_erased} and ({has_data})",
            [str(raw.path), sorted(erased)],
        ).fetchone()[0]
        if not hits:
            return False
        connection.execute(
            f"copy (select * replace ({blanked}) from read_parquet(?)) to '{scratch}' "
            "(format parquet, compression zstd)",
            [sorted(erased)] * len(columns) + [str(raw.path)],
        )
    scratch.replace(raw.path)
    return True
