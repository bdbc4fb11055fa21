"""An incremental run gives the same warehouse as a full rebuild.

On its own DuckDB file: build the demo seeds in full, append a delivery (the generator's next
day of orders and responses, plus the rows an incremental run must not miss: a late order
inside the lookback window, an identical copy of a recent order, the customer record of an
order that was rejected for its unknown customer, and an erasure request for a customer with
history), build incrementally with every test, then rebuild everything with --full-refresh.
Every model's rows must be equal, apart from the columns that stamp the run that computed them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAMP_COLUMNS = {"checked_at", "computed_at"}
COMPARED_SCHEMAS = ("staging", "intermediate", "marts")


def _run(args: list[str], env: dict[str, str]) -> str:
    completed = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def _dbt(args: list[str], env: dict[str, str], tmp: Path) -> str:
    paths = ["--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")]
    return _run([str(BIN / "dbt"), *args, *paths], env)


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every table and view of the compared schemas, rows sorted, stamp columns left out."""
    with duckdb.connect(str(path), read_only=True) as connection:
        relations = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ? order by all",
            [list(COMPARED_SCHEMAS)],
        ).fetchall()
        snapshot = {}
        for schema, table in relations:
            columns = [
                name
                for (name,) in connection.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in STAMP_COLUMNS
            ]
            selected = ", ".join(f'"{name}"' for name in columns)
            rows = connection.execute(f'select {selected} from {schema}."{table}"').fetchall()
            snapshot[f"{schema}.{table}"] = sorted(rows, key=repr)
    return snapshot


def _write_csv(path: Path, header: str, *rows: str) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def _delivery(folder: Path, warehouse: Path, env: dict[str, str]) -> dict[str, str]:
    """The generator's next day plus the hand-made rows; returns what was chosen."""
    work = folder.parent / "raw_all"
    shutil.copytree(REPO / "seeds", work, ignore=shutil.ignore_patterns("*.yml"))
    before = set(work.iterdir())
    _run(
        [
            str(BIN / "nps-warehouse"),
            "generate",
            "--append-days",
            "1",
            "--format",
            "csv",
            "--out",
            str(work),
        ],
        env,
    )
    folder.mkdir()
    for path in set(work.iterdir()) - before:
        shutil.move(path, folder / path.name)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        latest = connection.execute("select max(order_date) from staging.stg_orders").fetchone()[0]
        copied = connection.execute(
            "select order_id, customer_id, order_date, status, amount_eur, cost_eur "
            "from raw.raw_orders where try_cast(order_date as date) >= ? - 6 "
            "order by order_id limit 1",
            [latest],
        ).fetchone()
        unknown = connection.execute(
            "select customer_id from staging.stg_orders_rejected "
            "where reason = 'unknown customer_id' order by customer_id limit 1"
        ).fetchone()[0]
        erased, late_customer = (
            row[0]
            for row in connection.execute(
                "select customer_id from marts.customers where lifetime_orders > 5 "
                "order by customer_id limit 2"
            ).fetchall()
        )
    late_day = latest.toordinal() - 3
    late_date = type(latest).fromordinal(late_day).isoformat()
    _write_csv(
        folder / "raw_orders_late.csv",
        "order_id,customer_id,order_date,status,amount_eur,cost_eur",
        f"ORD-9100001,{late_customer},{late_date},completed,1234.50,700.25",
        ",".join(copied),
    )
    _write_csv(
        folder / "raw_customers_late.csv",
        "customer_id,company_name,contact_email,segment,country,signup_date",
        f"{unknown},Spät GmbH,info@spaet.example,SMB,DE,2023-01-15",
    )
    _write_csv(
        folder / "raw_erasure_requests_late.csv",
        "customer_id,requested_at",
        f"{erased},{latest.isoformat()} 09:00:00",
    )
    return {"erased": erased, "unknown": unknown, "copied": copied[0]}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("incremental")
    warehouse = tmp / "warehouse.duckdb"
    env = {**os.environ, "DUCKDB_PATH": str(warehouse), "DBT_PROFILES_DIR": str(REPO / "profiles")}
    _dbt(["seed"], env, tmp)
    _dbt(["run", "--full-refresh"], env, tmp)
    chosen = _delivery(tmp / "delivery", warehouse, env)
    _run(
        [str(BIN / "nps-warehouse"), "load", str(tmp / "delivery"), "--warehouse", str(warehouse)],
        env,
    )
    incremental_log = _dbt(["build", "--selector", "without_seeds"], env, tmp)
    incremental = _snapshot(warehouse)
    _dbt(["run", "--full-refresh", "--select", "resource_type:model"], env, tmp)
    return {
        "chosen": chosen,
        "log": incremental_log,
        "incremental": incremental,
        "full": _snapshot(warehouse),
    }


def test_incremental_run_equals_full_refresh(builds: dict) -> None:
    incremental, full = builds["incremental"], builds["full"]
    assert incremental.keys() == full.keys()
    different = [name for name in full if incremental[name] != full[name]]
    assert not different, f"incremental and full-refresh builds differ in {different}"


def test_the_incremental_run_was_incremental_and_saw_the_delivery(builds: dict) -> None:
    full = builds["full"]
    assert "incremental model staging.stg_orders_checked" in builds["log"]
    # The delivery's effects, each derived from what was delivered:
    customers = {row[0] for row in full["marts.customers"]}
    chosen = builds["chosen"]
    assert chosen["unknown"] in customers, "the late customer record was not picked up"
    assert chosen["erased"] not in customers, "the erasure request was not applied"
    orders = full["staging.stg_orders_checked"]
    assert sum(1 for row in orders if row[1] == chosen["copied"]) == 2
