"""The metadata gate bites: dbt-score fails on a manifest that breaks the project's rules.

Works on a copy of target/manifest.json (written by `dbt parse` / `dbt build`), edited the way
a careless change would, and runs the real dbt-score command line on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "target" / "manifest.json"
DBT_SCORE = Path(sys.executable).with_name("dbt-score")


@pytest.fixture
def manifest() -> dict:
    if not MANIFEST.exists():
        pytest.fail(f"{MANIFEST} is missing: run `dbt parse` first")
    return json.loads(MANIFEST.read_text())


def lint(manifest: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return subprocess.run(
        [str(DBT_SCORE), "lint", "--manifest", str(path), "--show", "failing-rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def node(manifest: dict, name: str) -> dict:
    return manifest["nodes"][f"model.nps_warehouse.{name}"]


def test_the_project_meets_its_minimum_score(manifest, tmp_path):
    result = lint(manifest, tmp_path)
    assert result.returncode == 0, result.stdout


def test_an_undocumented_mart_fails(manifest, tmp_path):
    mart = node(manifest, "nps_by_segment_period")
    mart["description"] = ""
    for column in mart["columns"].values():
        column["description"] = ""
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "has_description" in result.stdout
    assert "columns_have_description" in result.stdout


def test_a_model_without_primary_key_test_fails(manifest, tmp_path):
    manifest["nodes"] = {
        key: value
        for key, value in manifest["nodes"].items()
        if not (
            value["resource_type"] == "test"
            and value.get("attached_node") == "model.nps_warehouse.customers"
        )
    }
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "has_primary_key_test" in result.stdout


def test_a_key_that_may_be_null_is_no_primary_key(manifest, tmp_path):
    # customer_id stays unique, but without it in the model's not_null_columns the key rule fails.
    (test,) = [
        value
        for value in manifest["nodes"].values()
        if value["resource_type"] == "test"
        and value.get("attached_node") == "model.nps_warehouse.customers"
        and value["test_metadata"]["name"] == "not_null_columns"
    ]
    test["test_metadata"]["kwargs"]["columns"].remove("customer_id")
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "has_primary_key_test" in result.stdout


def test_a_misnamed_staging_model_and_an_unenforced_mart_fail(manifest, tmp_path):
    node(manifest, "stg_orders")["name"] = "orders_clean"
    node(manifest, "customers")["config"]["contract"]["enforced"] = False
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "name_and_materialisation_match_layer" in result.stdout
    assert "mart_has_enforced_contract" in result.stdout


def test_a_table_that_branches_on_is_incremental_fails_unless_a_refresh_builds_it_so(
    manifest, tmp_path
):
    # int_customer_periods_summarised: a table on the demo, incremental in a refresh (listed in
    # var audited_stamps); the same code in a model a refresh does not build incrementally fails.
    periods = node(manifest, "int_customer_periods_summarised")
    assert "is_incremental()" in periods["raw_code"]
    assert periods["config"]["materialized"] == "table"
    assert lint(manifest, tmp_path).returncode == 0
    spine = node(manifest, "int_segment_periods_aggregated")
    spine["raw_code"] += "\n{% if is_incremental() %}{% endif %}"
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "branches_on_is_incremental_only_when_incremental" in result.stdout


def test_a_fact_mart_view_is_keyed_by_the_one_model_it_reads(manifest, tmp_path):
    # completed_orders: a mart view of stg_orders, whose key tests cover it.
    facts = node(manifest, "completed_orders")
    assert facts["config"]["materialized"] == "view"
    assert facts["depends_on"]["nodes"] == ["model.nps_warehouse.stg_orders"]
    assert lint(manifest, tmp_path).returncode == 0
    # Without stg_orders' key tests, both fail the primary key rule.
    manifest["nodes"] = {
        key: value
        for key, value in manifest["nodes"].items()
        if not (
            value["resource_type"] == "test"
            and value.get("attached_node") == "model.nps_warehouse.stg_orders"
            and value.get("column_name") == "order_id"
        )
    }
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "has_primary_key_test" in result.stdout
    assert "completed_orders" in result.stdout


def test_a_mart_view_of_two_models_fails(manifest, tmp_path):
    facts = node(manifest, "completed_orders")
    facts["depends_on"]["nodes"].append("model.nps_warehouse.stg_customers")
    result = lint(manifest, tmp_path)
    assert result.returncode != 0
    assert "name_and_materialisation_match_layer" in result.stdout


def test_every_relation_name_fits_postgresql(manifest):
    # PostgreSQL cuts identifiers at 63 bytes, and dbt refuses a longer relation name there:
    # tests (store_failures) and unit tests become relations too.
    nodes = [*manifest["nodes"].values(), *manifest.get("unit_tests", {}).values()]
    long = [node["name"] for node in nodes if len(node.get("alias") or node["name"]) > 63]
    assert long == []
