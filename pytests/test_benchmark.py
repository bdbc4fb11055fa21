"""The benchmark's determinism check: two warehouse files compared table by table.

On copies of the built demo warehouse: a copy is identical to the original; a changed run
stamp is ignored; a changed value, a reordered table (same rows) and a missing row are told
apart correctly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from conftest import warehouse_path
from nps_warehouse.benchmark import compare_builds


def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name / "dev.duckdb"
    target.parent.mkdir()
    shutil.copyfile(warehouse_path(), target)
    return target


def _execute(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute(sql)


def test_identical_copies_compare_equal(tmp_path: Path) -> None:
    first, second = _copy(tmp_path, "first"), _copy(tmp_path, "second")
    compared, differing = compare_builds(first, second)
    assert compared > 40  # every layer's tables and views, not just the marts
    assert differing == []


def test_run_stamps_are_ignored_and_row_order_does_not_matter(tmp_path: Path) -> None:
    first, second = _copy(tmp_path, "first"), _copy(tmp_path, "second")
    _execute(
        second,
        "update intermediate.int_customer_periods_summarised "
        "set computed_at = computed_at + interval 1 day",
    )
    _execute(
        second,
        "create or replace table marts.survey_responses as "
        "select * from marts.survey_responses order by response_id desc",
    )
    assert compare_builds(first, second)[1] == []


def test_a_changed_value_or_a_missing_row_is_reported(tmp_path: Path) -> None:
    first, second = _copy(tmp_path, "first"), _copy(tmp_path, "second")
    _execute(
        second,
        "update marts.nps_by_segment_period set nps = nps + 1e-9 "
        "where period_grain = 'year' and segment = 'All'",
    )
    _execute(
        second,
        "delete from intermediate.int_customers_active_on_boundaries "
        "where (customer_id, as_of_date) in "
        "(select (customer_id, as_of_date) from intermediate.int_customers_active_on_boundaries "
        "order by all limit 1)",
    )
    assert compare_builds(first, second)[1] == [
        "intermediate.int_customers_active_on_boundaries",
        "marts.nps_by_segment_period",
    ]
