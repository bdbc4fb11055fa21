"""Source freshness: the raw tables' load time against the thresholds of raw_sources.yml.

On a copy of the built warehouse, the raw tables' _loaded_at is set to chosen ages and the real
`dbt source freshness` must judge each table as the documented thresholds say: raw_orders warns
after 36 hours and errors after 84; raw_customers and raw_survey_responses warn after 8 days
and error after 15. (A refresh's sources are the raw store, whose rows carry the time each
batch was taken in: pytests/test_refresh.py.)
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from conftest import run_dbt, warehouse_path


def _freshness(tmp_path: Path, ages: dict[str, timedelta]) -> tuple[int, dict[str, str]]:
    """Set each raw table's _loaded_at to now - age on a copy of the warehouse, run dbt source
    freshness on it; its exit code and the status per table."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_path(), copy)
    now = datetime.now(UTC)
    with duckdb.connect(str(copy)) as connection:
        for table, age in ages.items():
            connection.execute(f"update raw.{table} set _loaded_at = ?", [now - age])
    target = tmp_path / "target"
    completed = run_dbt(copy, "source", "freshness", "--target-path", str(target))
    results = json.loads((target / "sources.json").read_text())["results"]
    return completed.returncode, {r["unique_id"].split(".")[-1]: r["status"] for r in results}


def test_fresh_tables_pass(tmp_path: Path) -> None:
    code, status = _freshness(
        tmp_path,
        {
            "raw_orders": timedelta(hours=1),
            "raw_customers": timedelta(days=2),
            "raw_survey_responses": timedelta(days=7, hours=23),
        },
    )
    assert status == {
        "raw_orders": "pass",
        "raw_customers": "pass",
        "raw_survey_responses": "pass",
    }
    assert code == 0


def test_stale_tables_warn_and_error_at_the_documented_thresholds(tmp_path: Path) -> None:
    code, status = _freshness(
        tmp_path,
        {
            "raw_orders": timedelta(hours=40),  # past 36 h, before 84 h
            "raw_customers": timedelta(days=16),  # past 15 days
            "raw_survey_responses": timedelta(days=9),  # past 8 days, before 15
        },
    )
    assert status == {
        "raw_orders": "warn",
        "raw_customers": "error",
        "raw_survey_responses": "warn",
    }
    assert code == 1


@pytest.mark.parametrize("table", ["raw_orders", "raw_customers", "raw_survey_responses"])
def test_every_seeded_row_has_a_load_time(table: str, warehouse: duckdb.DuckDBPyConnection) -> None:
    missing = warehouse.execute(
        f"select count(*) from raw.{table} where _loaded_at is null"
    ).fetchone()[0]
    assert missing == 0
