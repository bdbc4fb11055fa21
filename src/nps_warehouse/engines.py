"""The other engines (PostgreSQL, Spark): load raw files into them, compare their marts.

`nps-warehouse load --engine postgres|spark` checks a delivery as for DuckDB, lets DuckDB write
each file's rows as text, then appends them to the engine's raw tables: PostgreSQL by COPY in
one transaction; Spark by the macro load_raw_parquet through `dbt run-operation` (no
transactions there: a failed load can leave earlier files loaded). The same project, built on
the same raw rows, must give the same marts on every engine: the same columns and rows, numbers
equal within 1e-9 relative, rows matched on their non-floating-point columns (the grain).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from nps_warehouse.contract import RAW_COLUMNS, raw_table_ddl
from nps_warehouse.rawfiles import RawFile, read_as_text

REL_TOL = 1e-9
SCHEMA = "marts"

FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}
# Computed by dbt Python models, which only dbt-duckdb runs (dbt-postgres and dbt-spark's
# session method cannot): the mart exists on DuckDB only, the columns are null elsewhere.
DUCKDB_ONLY_MARTS = {"predicted_clv_by_segment"}
DUCKDB_ONLY_COLUMNS = {
    "customers": ("probability_alive", "expected_purchases_12m", "predicted_clv_12m")
}


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple]
    floats: set[str] = field(default_factory=set)  # floating-point columns (DuckDB's types)


def _table(cursor: Any) -> Table:
    """A query's result (DuckDB or DB-API); float columns by DuckDB's type names only."""
    floats = {d[0] for d in cursor.description if str(d[1]) in FLOAT_TYPES}
    return Table([d[0] for d in cursor.description], cursor.fetchall(), floats)


def read_duckdb(warehouse: Path, table: str) -> Table:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return _table(connection.execute(f'select * from "{SCHEMA}"."{table}"'))


def postgres_connection():
    """A connection to the `postgres` target's database (the profile's variables, defaults)."""
    import psycopg2

    return psycopg2.connect(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=int(os.environ.get("POSTGRES_PORT", "54329")),
        user=os.environ.get("POSTGRES_USER", "nps"),
        password=os.environ.get("POSTGRES_PASSWORD", "nps-local-only"),
        dbname=os.environ.get("POSTGRES_DB", "nps_warehouse"),
    )


def spark_dir() -> Path:
    """The `spark` target's folder (env SPARK_DIR, relative to where dbt runs)."""
    return Path(os.environ.get("SPARK_DIR", "warehouse/spark"))


def read_postgres(table: str) -> Table:
    with closing(postgres_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(f'select * from "{SCHEMA}"."{table}"')
        return _table(cursor)


def read_spark(table: str) -> Table:
    """The Parquet files the `spark` target wrote, read by DuckDB (no second Spark session)."""
    folder = spark_dir() / "warehouse" / f"{SCHEMA}.db" / table
    if not folder.is_dir():
        raise FileNotFoundError(f"no Spark table folder {folder}")
    with duckdb.connect() as connection:
        return _table(connection.execute("select * from read_parquet(?)", [f"{folder}/*.parquet"]))


def _load_each(
    files: list[RawFile],
    folder: Path,
    kind: str,
    load: Callable[[RawFile, Path], None],
    done: str,
    say: Callable[[str], None],
) -> dict[str, int]:
    """Write each file's rows as text into folder as csv (with a header) or parquet, hand that
    to load, and say so ("<rows> rows <done> raw.<table>"); rows per table."""
    options = "format csv, header" if kind == "csv" else "format parquet"
    loaded: dict[str, int] = {}
    with duckdb.connect() as connection:
        for number, raw in enumerate(files, start=1):
            text = folder / f"{number:04d}_{raw.path.stem}.{kind}"
            rows = read_as_text(connection, raw, "delivered")
            connection.execute(f"copy (select * from delivered) to '{text}' ({options})")
            load(raw, text)
            loaded[raw.table] = loaded.get(raw.table, 0) + rows
            say(f"[{number}/{len(files)}] {raw.path.name}: {rows:,} rows {done} raw.{raw.table}")
    return loaded


def load_postgres(files: list[RawFile], replace: bool, say=print) -> dict[str, int]:
    """Append the files' rows to the `postgres` target's raw tables by COPY, in one
    transaction; missing tables are created (text columns, _loaded_at defaulting to the load
    time), and with replace the tables the files feed are emptied first. Rows per table."""
    with (
        closing(postgres_connection()) as connection,
        connection,
        connection.cursor() as cursor,
        tempfile.TemporaryDirectory() as scratch,
    ):
        cursor.execute("create schema if not exists raw")
        for statement in raw_table_ddl(
            "varchar", "timestamp with time zone default current_timestamp"
        ):
            cursor.execute(statement)
        if replace:
            for table in sorted({raw.table for raw in files}):
                cursor.execute(f"truncate raw.{table}")
                say(f"emptied raw.{table}")

        def copy(raw: RawFile, text: Path) -> None:
            with text.open() as handle:
                cursor.copy_expert(
                    f"copy raw.{raw.table} ({', '.join(RAW_COLUMNS[raw.table])}) "
                    "from stdin with (format csv, header true)",
                    handle,
                )

        return _load_each(files, Path(scratch), "csv", copy, "into", say)


def load_spark(files: list[RawFile], replace: bool, say=print) -> dict[str, int]:
    """Append the files' rows to the `spark` target's raw tables: text Parquet under
    SPARK_DIR/incoming, inserted by `dbt run-operation load_raw_parquet` (with replace, into
    emptied tables). Rows per table."""
    incoming = (spark_dir() / "incoming").resolve()
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    entries: list[dict[str, str]] = []

    def note(raw: RawFile, text: Path) -> None:
        entries.append({"table": raw.table, "path": str(text)})

    loaded = _load_each(files, incoming, "parquet", note, "prepared for", say)
    tables = {table: list(columns) for table, columns in RAW_COLUMNS.items()}
    ddl = raw_table_ddl("string", "timestamp", " using parquet")
    arguments = json.dumps({"tables": tables, "ddl": ddl, "files": entries, "replace": replace})
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), "run-operation", "load_raw_parquet", "--target", "spark"]
    done = subprocess.run([*command, "--args", arguments], check=False)
    shutil.rmtree(incoming, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(
            "dbt run-operation load_raw_parquet failed on the spark target (its log is above)"
        )
    return loaded


LOADERS: dict[str, Callable[..., dict[str, int]]] = {"postgres": load_postgres, "spark": load_spark}


def _normalise(value: object) -> object:
    """One representation per value across drivers: numbers as float, dates as ISO text."""
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return float(value)
    return value.isoformat() if isinstance(value, dt.date) else value


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def without(table: Table, columns: tuple[str, ...]) -> Table:
    kept = [i for i, column in enumerate(table.columns) if column not in columns]
    return Table(
        [table.columns[i] for i in kept],
        [tuple(row[i] for i in kept) for row in table.rows],
        table.floats - set(columns),
    )


def compare(table: str, expected: Table, actual: Table, limit: int = 5) -> list[str]:
    """Differences between DuckDB's rows (expected) and another engine's (actual)."""
    columns = expected.columns
    if columns != actual.columns:
        return [f"{table}: columns differ: {columns} vs {actual.columns}"]
    if len(expected.rows) != len(actual.rows):
        return [
            f"{table}: {len(expected.rows):,} rows on DuckDB, "
            f"{len(actual.rows):,} on the other engine"
        ]
    rows, other_rows = ([tuple(map(_normalise, row)) for row in t.rows] for t in (expected, actual))
    keys = [i for i, column in enumerate(columns) if column not in expected.floats]

    def key(row: tuple) -> tuple:
        return tuple((row[i] is None, str(row[i])) for i in keys)

    problems = []
    for row, other in zip(sorted(rows, key=key), sorted(other_rows, key=key), strict=True):
        for i, column in enumerate(columns):
            if not _same(row[i], other[i]):
                grain = {columns[k]: row[k] for k in keys[:4]}
                problems.append(f"{table}.{column} at {grain}: {row[i]!r} vs {other[i]!r}")
                break
        if len(problems) >= limit:
            problems.append(f"{table}: more differences left out")
            break
    return problems


READERS: dict[str, Callable[[str], Table]] = {"postgres": read_postgres, "spark": read_spark}


def compare_engines(warehouse: Path, engines: list[str]) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        built = connection.execute(
            "select table_name from information_schema.tables "
            "where table_schema = ? order by table_name",
            [SCHEMA],
        ).fetchall()
    marts = [mart for (mart,) in built if mart not in DUCKDB_ONLY_MARTS]
    if not marts:
        print(f"error: no tables in schema {SCHEMA} of {warehouse}; run `dbt build` first.")
        return 2
    failed = False
    for engine in engines:
        for table in marts:
            expected = read_duckdb(warehouse, table)
            try:
                actual = READERS[engine](table)
            except Exception as error:  # any driver's "no such table", with its message
                print(f"{engine}: {table}: cannot read ({str(error).strip().splitlines()[0]})")
                failed = True
                continue
            skipped = DUCKDB_ONLY_COLUMNS.get(table, ())
            problems = compare(table, without(expected, skipped), without(actual, skipped))
            failed = failed or bool(problems)
            verdict = "differs" if problems else "equal"
            print(f"{engine}: {table}: {len(expected.rows):,} rows, {verdict}")
            for problem in problems:
                print(f"  {problem}")
    print("every mart equal on every engine" if not failed else "marts differ between engines")
    return 1 if failed else 0
