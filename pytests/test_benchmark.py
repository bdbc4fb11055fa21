"""The benchmark's determinism check: two warehouse files compared table by table.

On copies of the built demo warehouse: a copy is identical to the original; a changed run
stamp is ignored; a changed value, a reordered table (same rows) and a missing row are told
apart correctly. The models' critical path, on a hand-made run. And the settings per size.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from conftest import warehouse_path
from nps_warehouse.benchmark import (
    LARGE_ORDERS,
    LARGE_SETTINGS,
    compare_builds,
    duckdb_settings,
    models_critical_path,
    size_environment,
)


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


def test_the_models_critical_path_is_the_longest_chain_of_models(tmp_path: Path) -> None:
    # a (3 s) -> b (4 s) -> d (1 s) is 8 s; c (6 s) -> d is 7 s; the test's 50 s is not a model's
    seconds = {"a": 3.0, "b": 4.0, "c": 6.0, "d": 1.0}
    parents = {"a": [], "b": ["a"], "c": ["source.p.raw.x"], "d": ["b", "c"]}
    nodes = {
        f"model.p.{m}": {"depends_on": {"nodes": [p if "." in p else f"model.p.{p}" for p in ps]}}
        for m, ps in parents.items()
    }
    nodes["test.p.t"] = {"depends_on": {"nodes": ["model.p.d"]}}
    results = {
        "results": [{"unique_id": f"model.p.{m}", "execution_time": s} for m, s in seconds.items()]
        + [{"unique_id": "test.p.t", "execution_time": 50.0}]
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    assert models_critical_path(results, manifest) == (8.0, ["model.p.a", "model.p.b", "model.p.d"])


def test_large_sizes_run_with_the_large_settings_unless_the_caller_set_them() -> None:
    plain = {"DBT_PROFILES_DIR": str(Path(__file__).resolve().parents[1] / "profiles")}
    small = duckdb_settings(size_environment(LARGE_ORDERS - 1, plain))
    assert small == duckdb_settings(plain)  # the profile's defaults
    large = duckdb_settings(size_environment(LARGE_ORDERS, plain))
    assert large["memory_limit"] == LARGE_SETTINGS["DUCKDB_MEMORY_LIMIT"]
    assert large["dbt threads"] == LARGE_SETTINGS["DBT_THREADS"]
    assert large["memory_limit"] != small["memory_limit"]
    chosen = {**plain, "DUCKDB_MEMORY_LIMIT": "18GB"}
    assert duckdb_settings(size_environment(LARGE_ORDERS, chosen))["memory_limit"] == "18GB"
