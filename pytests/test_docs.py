"""Documentation: everything a reader of dbt's docs site meets is described.

Reads what `dbt docs generate` wrote (target/manifest.json and target/catalog.json, the
catalog from the built warehouse): every model, seed, analysis, source, exposure, project macro,
semantic model and metric has a description; every column the warehouse really holds in a
model or seed is described; each metric's doc block is used where the metric is defined.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "target"


def _load(name: str) -> dict:
    path = TARGET / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `dbt docs generate --static` after `dbt build`")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return _load("manifest.json")


@pytest.fixture(scope="module")
def catalog() -> dict:
    return _load("catalog.json")


def test_every_node_and_macro_is_described(manifest: dict) -> None:
    undescribed = [
        unique_id
        for group in ("nodes", "sources", "exposures", "semantic_models", "metrics", "macros")
        for unique_id, item in manifest[group].items()
        if item.get("package_name") == "nps_warehouse"
        and item.get("resource_type") not in ("test", "operation")
        and not (item.get("description") or "").strip()
    ]
    assert undescribed == []


def test_every_column_in_the_warehouse_is_described(manifest: dict, catalog: dict) -> None:
    assert catalog["nodes"], "the catalog is empty: build the warehouse before the docs"
    undescribed = []
    for unique_id, table in catalog["nodes"].items():
        if not unique_id.startswith(("model.", "seed.")):
            continue  # stored test failures
        documented = manifest["nodes"][unique_id]["columns"]
        for column in table["columns"]:
            entry = documented.get(column) or documented.get(column.lower())
            if not entry or not entry["description"].strip():
                undescribed.append(f"{unique_id}.{column}")
    assert undescribed == []


@pytest.mark.parametrize(
    ("macro", "block"),
    [
        ("nps", "metric_nps"),
        ("nps_margin_of_error", "metric_nps_margin_of_error"),
        ("nps_change", "metric_nps_change"),
        ("nps_change_margin_of_error", "metric_nps_change_margin_of_error"),
        ("is_nps_change_significant", "metric_is_nps_change_significant"),
        ("avg_score_vs_benchmark", "metric_avg_score_vs_benchmark"),
        ("account_nps", "metric_account_nps"),
        ("revenue_weighted_nps", "metric_revenue_weighted_nps"),
        ("retention_rate_12m", "metric_retention_rate_12m"),
        ("retention_rate", "metric_retention_rate"),
        ("churn_rate", "metric_churn_rate"),
        ("clv", "metric_clv"),
        ("respondent_category", "metric_respondent_category"),
    ],
)
def test_metric_macros_use_their_doc_block(manifest: dict, macro: str, block: str) -> None:
    doc = manifest["docs"][f"doc.nps_warehouse.{block}"]["block_contents"].strip()
    description = manifest["macros"][f"macro.nps_warehouse.{macro}"]["description"].strip()
    assert description == doc


@pytest.mark.parametrize(
    ("metric", "block"),
    [
        ("nps", "metric_nps"),
        ("avg_score", "metric_average_score"),
        ("nps_change_quarterly", "metric_nps_change"),
        ("revenue", "metric_revenue"),
        ("retention_rate_monthly", "metric_retention_rate"),
        ("churn_rate_yearly", "metric_churn_rate"),
    ],
)
def test_semantic_metrics_use_their_doc_block(manifest: dict, metric: str, block: str) -> None:
    doc = manifest["docs"][f"doc.nps_warehouse.{block}"]["block_contents"].strip()
    description = manifest["metrics"][f"metric.nps_warehouse.{metric}"]["description"]
    assert description.strip().startswith(doc)
