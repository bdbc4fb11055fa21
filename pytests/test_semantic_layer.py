"""The semantic layer (models/semantic/) answers with the marts' numbers.

Runs the real `mf query` (dbt-metricflow) and compares its CSV output with the marts. mf reads
target/semantic_manifest.json, which `dbt parse` and `dbt build` write, and opens the DuckDB
file for writing, which a read-only connection held by another test blocks: it queries a copy
of the built warehouse. Three queries (mf takes seconds to start) cover: NPS, its monthly
change, the CLV inputs and monthly retention by month and segment; without a segment group,
the rollup over all customers (the marts' segment 'All') by quarter, where retention and
distinct customer counts do not add up from months or segments; and NPS and its yearly change
by year and country.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, warehouse_path

MF = Path(sys.executable).parent / "mf"
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
COUNTRIES = ("DE", "AT", "CH")
BY_SEGMENT = {
    "metrics": "nps,responses,revenue,orders,active_customers,retention_rate_monthly,"
    "nps_change_monthly",
    "group_by": "metric_time__month,customer__segment",
}
ALL_CUSTOMERS = {
    "metrics": "nps,retention_rate_quarterly,churn_rate_quarterly,active_customers,"
    "nps_change_quarterly",
    "group_by": "metric_time__quarter",
}
BY_COUNTRY_AND_YEAR = {
    "metrics": "nps,nps_change_yearly",
    "group_by": "metric_time__year,customer__country",
}


def mf_query(query: dict[str, str], warehouse: Path, out: Path) -> pd.DataFrame:
    """Run `mf query` on the warehouse file; its rows keyed by period start (and segment)."""
    env = {
        **os.environ,
        "DUCKDB_PATH": str(warehouse),
        "DBT_PROFILES_DIR": str(REPO / "profiles"),
        "DBT_PROJECT_DIR": str(REPO),
    }
    args = [str(MF), "query", "--metrics", query["metrics"], "--group-by", query["group_by"]]
    done = subprocess.run(
        [*args, "--csv", str(out), "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and out.exists(), done.stdout + done.stderr
    frame = pd.read_csv(out)
    time_column = query["group_by"].split(",")[0]
    frame["period_start"] = pd.to_datetime(frame.pop(time_column)).dt.date
    if "customer__segment" in frame:
        frame["segment"] = frame.pop("customer__segment")
    elif "customer__country" in frame:
        frame["segment"] = frame.pop("customer__country")  # the breakdown member
    else:
        frame["segment"] = "All"
    return frame.set_index(["period_start", "segment"]).sort_index()


@pytest.fixture(scope="module")
def semantic(tmp_path_factory) -> dict[str, pd.DataFrame]:
    if not (REPO / "target" / "semantic_manifest.json").exists():
        pytest.fail("target/semantic_manifest.json is missing: run `dbt parse` first")
    source = warehouse_path()
    if not source.exists():
        pytest.fail(f"{source} does not exist: build the warehouse first (`make build`)")
    work = tmp_path_factory.mktemp("semantic")
    copy = work / source.name  # the same name: DuckDB names the database after the file
    shutil.copyfile(source, copy)
    return {
        "by_segment": mf_query(BY_SEGMENT, copy, work / "by_segment.csv"),
        "all_customers": mf_query(ALL_CUSTOMERS, copy, work / "all_customers.csv"),
        "by_country_and_year": mf_query(BY_COUNTRY_AND_YEAR, copy, work / "by_country.csv"),
    }


def mart_rows(
    warehouse, mart: str, grain: str, segments: tuple[str, ...], by: str = "segment"
) -> pd.DataFrame:
    frame = warehouse.execute(
        f"select *, {by} as segment from marts.{mart} where period_grain = ? "
        f"and list_contains(?, {by})",
        [grain, list(segments)],
    ).df()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    return frame.set_index(["period_start", "segment"]).sort_index()


def assert_equal(
    semantic: pd.DataFrame, metric: str, mart: pd.DataFrame, column: str, rows: pd.Series
) -> int:
    """The metric's non-null values are the mart column on exactly `rows`; returns the count."""
    got = semantic[metric].dropna()
    expected = mart.loc[rows, column]
    assert list(got.index) == list(expected.index), f"{metric}: other (period, segment) rows"
    for key, value in got.items():
        assert math.isclose(value, float(expected[key]), rel_tol=1e-12, abs_tol=1e-9), (
            f"{metric} {key}: {value} != {column} {expected[key]}"
        )
    return len(got)


def test_nps_by_month_and_segment_equals_the_mart(semantic, warehouse):
    mart = mart_rows(warehouse, "nps_by_segment_period", "month", SEGMENTS)
    with_responses = mart["responses"] > 0
    compared = assert_equal(semantic["by_segment"], "nps", mart, "nps", with_responses)
    assert compared == with_responses.sum() > 0
    assert_equal(semantic["by_segment"], "responses", mart, "responses", with_responses)


def test_the_nps_change_of_a_month_a_quarter_and_a_year_equals_the_marts(semantic, warehouse):
    # The derived metrics nps_change_<grain> (offset window 1 <grain>) against nps_change.
    for frame, mart, grain, members, by in (
        (semantic["by_segment"], "nps_by_segment_period", "month", SEGMENTS, "segment"),
        (semantic["all_customers"], "nps_by_segment_period", "quarter", ("All",), "segment"),
        (semantic["by_country_and_year"], "nps_by_country_period", "year", COUNTRIES, "country"),
    ):
        rows = mart_rows(warehouse, mart, grain, members, by)
        label = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}[grain]
        compared = assert_equal(
            frame, f"nps_change_{label}", rows, "nps_change", rows["nps_change"].notna()
        )
        assert compared > 0, f"{mart} {grain}: no change to compare"


def test_clv_inputs_and_monthly_retention_by_segment_equal_the_marts(semantic, warehouse):
    by_segment = semantic["by_segment"]
    clv = mart_rows(warehouse, "clv_by_segment_period", "month", SEGMENTS)
    ordered = by_segment[by_segment["active_customers"] > 0]
    for column in ("revenue", "orders", "active_customers"):
        assert assert_equal(ordered, column, clv, column, clv["active_customers"] > 0)
    retention = mart_rows(warehouse, "retention_by_segment_period", "month", SEGMENTS)
    assert assert_equal(
        by_segment,
        "retention_rate_monthly",
        retention,
        "retention_rate",
        retention["retention_rate"].notna(),
    )


def test_without_a_segment_group_metrics_are_the_all_rollup_by_quarter(semantic, warehouse):
    all_customers = semantic["all_customers"]
    nps = mart_rows(warehouse, "nps_by_segment_period", "quarter", ("All",))
    assert assert_equal(all_customers, "nps", nps, "nps", nps["responses"] > 0)
    retention = mart_rows(warehouse, "retention_by_segment_period", "quarter", ("All",))
    measured = retention["retention_rate"].notna()
    for column in ("retention_rate", "churn_rate"):
        metric = f"{column}_quarterly"
        assert assert_equal(all_customers, metric, retention, column, measured)
    clv = mart_rows(warehouse, "clv_by_segment_period", "quarter", ("All",))
    ordering = clv["active_customers"] > 0
    assert assert_equal(all_customers, "active_customers", clv, "active_customers", ordering)


def test_every_semantic_model_reads_a_mart():
    # BI reads marts only (contracted, no personal data); the semantic layer is BI.
    manifest = json.loads((REPO / "target" / "manifest.json").read_text())
    for name, semantic_model in manifest["semantic_models"].items():
        for parent in semantic_model["depends_on"]["nodes"]:
            path = manifest["nodes"][parent]["original_file_path"]
            assert path.startswith("models/marts/"), f"{name} reads {path}"
