"""Raw files: the structural check a new delivery must pass, and loading into the raw tables.

A delivery is a folder of CSV files, each named after the raw table it feeds
(`raw_orders.csv`, `raw_orders_2026-07-01.csv`, ...): UTF-8, comma-separated, a header with
exactly the table's columns. Rows are not judged here (staging does that, row by row, with a
reason); a file whose structure is wrong is refused as a whole, with a message that names the
file and the column, before anything is built.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from nps_warehouse.generator import TABLE_COLUMNS

ERASURE_TABLE = "raw_erasure_requests"
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    **TABLE_COLUMNS,
    ERASURE_TABLE: ("customer_id", "requested_at"),
}


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
    if path.suffix.lower() != ".csv" or not matches:
        raise RawFileError(
            f"{path}: not a raw file; name it <table>[_<suffix>].csv with <table> one of "
            f"{', '.join(RAW_COLUMNS)}"
        )
    return max(matches, key=len)


def check_file(path: Path) -> RawFile:
    """Check one file's structure: not empty, comma-separated, exactly the table's columns."""
    table = table_of(path)
    expected = RAW_COLUMNS[table]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
            has_rows = next(handle, None) is not None
    except UnicodeDecodeError as error:
        raise RawFileError(f"{path}: not UTF-8 text ({error.reason})") from error
    if not header:
        raise RawFileError(f"{path}: the file is empty; expected a header {','.join(expected)}")
    columns = [column.strip() for column in header]
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
    return RawFile(table, path)


def check_delivery(folder: Path) -> list[RawFile]:
    """Check every file of a delivery folder; the first structural fault raises RawFileError."""
    if not folder.is_dir():
        raise RawFileError(f"{folder}: no such folder of new raw files")
    return [check_file(path) for path in sorted(folder.iterdir()) if not path.name.startswith(".")]


def load(connection: duckdb.DuckDBPyConnection, files: list[RawFile]) -> dict[str, int]:
    """Append the files' rows to the raw tables (as text, as the seeds are); rows per table."""
    loaded: dict[str, int] = {}
    for raw in files:
        before = connection.execute(f"select count(*) from raw.{raw.table}").fetchone()[0]
        connection.execute(
            f"insert into raw.{raw.table} by name "
            "select * from read_csv(?, header = true, delim = ',', quote = '\"', "
            "all_varchar = true)",
            [str(raw.path)],
        )
        after = connection.execute(f"select count(*) from raw.{raw.table}").fetchone()[0]
        loaded[raw.table] = loaded.get(raw.table, 0) + after - before
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
