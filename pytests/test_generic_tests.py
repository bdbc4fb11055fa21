"""The project's model-level generic tests bite, and name what they found.

On a copy of the built warehouse, a few values of the mart nps_by_segment_period are set out of
their documented ranges (or to null, or exactly onto a bound), and the real `dbt test` of the
mart's accepted_ranges and not_null_columns tests must fail on exactly those rows, each naming
its column.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from conftest import run_dbt, warehouse_path

MART = "marts.nps_by_segment_period"


def test_ranges_and_required_columns_fail_on_exactly_the_broken_rows(tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_path(), copy)
    with duckdb.connect(str(copy)) as connection:
        keys = connection.execute(
            f"select period_grain, period_start, segment from {MART} where responses > 0 "
            "order by period_grain, period_start, segment limit 4"
        ).fetchall()
        changes = {
            "nps = 100.5": keys[0],  # above the bound 100
            "avg_score = -0.5, survey_coverage = 101": keys[1],  # two columns out of range
            "nps = 100, avg_score = 0": keys[2],  # exactly on the bounds: inclusive, passes
        }
        for assignment, key in changes.items():
            connection.execute(
                f"update {MART} set {assignment} "
                "where period_grain = ? and period_start = ? and segment = ?",
                list(key),
            )
        connection.execute(
            f"update {MART} set respondents = null "
            "where period_grain = ? and period_start = ? and segment = ?",
            list(keys[3]),
        )
    completed = run_dbt(
        copy,
        "test",
        "--select",
        "nps_by_segment_period_ranges nps_by_segment_period_not_null",
        "--store-failures",
        "--target-path",
        str(tmp_path / "target"),
    )
    assert completed.returncode == 1, completed.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as connection:
        out_of_range = connection.execute(
            "select period_grain, period_start, segment, out_of_range_columns "
            "from test_failures.nps_by_segment_period_ranges order by out_of_range_columns"
        ).fetchall()
        null = connection.execute(
            "select period_grain, period_start, segment, null_columns "
            "from test_failures.nps_by_segment_period_not_null"
        ).fetchall()
    assert out_of_range == [(*keys[1], "avg_score, survey_coverage"), (*keys[0], "nps")]
    assert null == [(*keys[3], "respondents")]
