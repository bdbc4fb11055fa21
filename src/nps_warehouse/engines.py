"""Compare every mart built on another engine (PostgreSQL, Spark) with DuckDB's.

The same dbt project, built on the same seeds, must give the same marts on every engine: the
same columns, the same rows, and numbers equal within 1e-9 relative. Rows are matched on their
non-floating-point columns (each mart's grain is among them).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

REL_TOL = 1e-9
SCHEMA = "marts"

FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple]
    floats: set[str] = field(default_factory=set)  # floating-point columns (DuckDB's types)


Reader = Callable[[str], Table]


def duckdb_marts(warehouse: Path) -> list[str]:
    """The marts dbt built on DuckDB: the tables of schema marts."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables "
            "where table_schema = ? order by table_name",
            [SCHEMA],
        ).fetchall()
    return [name for (name,) in rows]


def read_duckdb(warehouse: Path) -> Reader:
    def read(table: str) -> Table:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            cursor = connection.execute(f'select * from "{SCHEMA}"."{table}"')
            floats = {d[0] for d in cursor.description if str(d[1]) in FLOAT_TYPES}
            return Table([d[0] for d in cursor.description], cursor.fetchall(), floats)

    return read


def read_postgres() -> Reader:
    """Reads from the `postgres` target's database, with the profile's environment variables."""
    import psycopg2

    def read(table: str) -> Table:
        connection = psycopg2.connect(
            host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
            port=int(os.environ.get("POSTGRES_PORT", "54329")),
            user=os.environ.get("POSTGRES_USER", "nps"),
            password=os.environ.get("POSTGRES_PASSWORD", "nps-local-only"),
            dbname=os.environ.get("POSTGRES_DB", "nps_warehouse"),
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'select * from "{SCHEMA}"."{table}"')
                return Table([d[0] for d in cursor.description], cursor.fetchall())
        finally:
            connection.close()

    return read


def read_spark() -> Reader:
    """Reads the Parquet files the `spark` target wrote (SPARK_DIR/warehouse/<schema>.db/<table>),
    with DuckDB: no second Spark session needed."""
    warehouse = Path(os.environ.get("SPARK_DIR", "warehouse/spark")) / "warehouse"

    def read(table: str) -> Table:
        folder = warehouse / f"{SCHEMA}.db" / table
        if not folder.is_dir():
            raise FileNotFoundError(f"no Spark table folder {folder}")
        with duckdb.connect() as connection:
            cursor = connection.execute("select * from read_parquet(?)", [f"{folder}/*.parquet"])
            return Table([d[0] for d in cursor.description], cursor.fetchall())

    return read


def _normalise(value: object) -> object:
    """One representation per value across drivers: numbers as float, dates as ISO text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def compare(table: str, expected: Table, actual: Table, limit: int = 5) -> list[str]:
    """Differences between DuckDB's rows (expected) and another engine's (actual); rows are
    matched on the columns that are not floating point."""
    columns = expected.columns
    if columns != actual.columns:
        return [f"{table}: columns differ: {columns} vs {actual.columns}"]
    if len(expected.rows) != len(actual.rows):
        return [
            f"{table}: {len(expected.rows):,} rows on DuckDB, "
            f"{len(actual.rows):,} on the other engine"
        ]
    rows = [tuple(_normalise(v) for v in row) for row in expected.rows]
    other_rows = [tuple(_normalise(v) for v in row) for row in actual.rows]
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


READERS: dict[str, Callable[[], Reader]] = {"postgres": read_postgres, "spark": read_spark}


def compare_engines(warehouse: Path, engines: list[str]) -> int:
    duck = read_duckdb(warehouse)
    marts = duckdb_marts(warehouse)
    if not marts:
        print(f"error: no tables in schema {SCHEMA} of {warehouse}; run `dbt build` first.")
        return 2
    failed = False
    for engine in engines:
        read = READERS[engine]()
        for table in marts:
            expected = duck(table)
            try:
                actual = read(table)
            except Exception as error:  # any driver's "no such table", with its message
                print(f"{engine}: {table}: cannot read ({str(error).strip().splitlines()[0]})")
                failed = True
                continue
            problems = compare(table, expected, actual)
            failed = failed or bool(problems)
            verdict = "differs" if problems else "equal"
            print(f"{engine}: {table}: {len(expected.rows):,} rows, {verdict}")
            for problem in problems:
                print(f"  {problem}")
    print("every mart equal on every engine" if not failed else "marts differ between engines")
    return 1 if failed else 0
