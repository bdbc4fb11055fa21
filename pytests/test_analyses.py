"""The analyst queries in analyses/ run on the built warehouse and say what they claim.

`make test` compiles them (`dbt compile --select resource_type:analysis`) before pytest.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "target" / "compiled" / "nps_warehouse" / "analyses"
ANALYSES = sorted(path.stem for path in (REPO / "analyses").glob("*.sql"))


def run(warehouse, name: str) -> pd.DataFrame:
    path = COMPILED / f"{name}.sql"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `dbt compile --select resource_type:analysis`")
    return warehouse.execute(path.read_text()).df()


def test_there_are_at_least_four_analyses_each_with_a_header_comment():
    assert len(ANALYSES) >= 4
    for name in ANALYSES:
        first_line = (REPO / "analyses" / f"{name}.sql").read_text().splitlines()[0]
        assert first_line.startswith("-- "), f"{name}.sql lacks a header comment"


@pytest.mark.parametrize("name", ANALYSES)
def test_analysis_returns_rows(warehouse, name):
    assert len(run(warehouse, name)) > 0


def test_monetisation_shares_add_up_to_all_revenue(warehouse):
    result = run(warehouse, "nps_monetisation")
    assert result["pct_of_revenue"].sum() == pytest.approx(100.0, abs=1e-9)
    (customers,) = warehouse.execute("select count(*) from marts.customers").fetchone()
    assert result["account_count"].sum() == customers


def test_revenue_at_risk_lists_only_active_detractors(warehouse):
    result = run(warehouse, "revenue_at_risk_from_detractors")
    detractors = warehouse.execute(
        "select customer_id from marts.customers where is_active and latest_category = 'detractor'"
    ).df()
    assert set(result["customer_id"]) == set(detractors["customer_id"])
    total = float(result["revenue_last_12_months_eur"].sum())
    assert float(result["total_revenue_at_risk_eur"].iloc[0]) == pytest.approx(total)


def test_blind_spots_are_top_quintile_accounts_without_a_recent_answer(warehouse):
    result = run(warehouse, "blind_spots")
    customers = warehouse.execute(
        "select customer_id, lifetime_revenue_eur from marts.customers where lifetime_orders > 0"
    ).df()
    threshold = customers["lifetime_revenue_eur"].astype(float).quantile(0.8)
    assert (result["lifetime_revenue_eur"].astype(float) >= threshold * 0.999).all()


def test_revenue_concentration_top_fifth_holds_at_least_a_fifth(warehouse):
    result = run(warehouse, "revenue_concentration")
    assert set(result["scope"]) == {"All", "Enterprise", "Mid-Market", "SMB"}
    assert result["pct_revenue_from_top_20_pct"].between(20, 100).all()
