"""Spot checks: rows of every mart recomputed with pandas from the staging tables.

An independent second implementation of docs/METRICS.md, written from the contract
and not from the SQL: if a model and this file disagree, one of them misreads the contract.
Periods checked: the first, a middle and the last month, a middle quarter and a full year,
for every segment and `All` (NPS also for every country); and a sample of customers covering
every advocacy trend.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

W = 365  # var active_window_days
H = 365  # var advocacy_horizon_days
ANNUAL_DISCOUNT_RATE = 0.10  # var annual_discount_rate
AVG_SCORE_BENCHMARK = 7.2  # var avg_score_benchmark
SEGMENTS = ("Enterprise", "Mid-Market", "SMB", "All")
COUNTRIES = ("DE", "AT", "CH", "All")
MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}


def category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


class Staging:
    """The staging tables, and the contract's definitions over them."""

    def __init__(self, warehouse) -> None:
        read = lambda sql: warehouse.execute(sql).df()  # noqa: E731
        self.customers = read("select * from staging.stg_customers").set_index("customer_id")
        orders = read("select * from staging.stg_orders")
        orders["order_date"] = pd.to_datetime(orders["order_date"]).dt.date
        orders["amount_eur"] = orders["amount_eur"].astype(float)
        orders["cost_eur"] = orders["cost_eur"].astype(float)
        self.orders = orders
        self.completed = orders[orders["status"] == "completed"]
        responses = read("select * from staging.stg_survey_responses")
        responses["response_date"] = pd.to_datetime(responses["responded_at"]).dt.date
        self.responses = responses
        self.latest_date = max(orders["order_date"].max(), responses["response_date"].max())
        self.order_dates = self.completed.groupby("customer_id")["order_date"].apply(sorted)

    def segment_ids(self, segment: str, by: str = "segment") -> set[str]:
        if segment == "All":
            return set(self.customers.index)
        return set(self.customers.index[self.customers[by] == segment])

    def is_active(self, customer_id: str, day: date) -> bool:
        """A completed order dated in (day - W, day]."""
        dates = self.order_dates.get(customer_id, [])
        return any(day - timedelta(days=W) < d <= day for d in dates)

    def revenue(self, customer_id: str, after: date, until: date) -> float:
        """Completed-order revenue dated in (after, until]."""
        orders = self.completed[self.completed["customer_id"] == customer_id]
        dates = orders["order_date"]
        return float(orders.loc[(dates > after) & (dates <= until), "amount_eur"].sum())

    def active_on(self, ids: set[str], day: date) -> set[str]:
        return {customer_id for customer_id in ids if self.is_active(customer_id, day)}


@pytest.fixture(scope="module")
def staging(warehouse) -> Staging:
    return Staging(warehouse)


def period_end(grain: str, start: date) -> date:
    months = start.month - 1 + MONTHS_IN[grain]
    return date(start.year + months // 12, months % 12 + 1, 1) - timedelta(days=1)


def checked_periods(staging: Staging) -> list[tuple[str, date]]:
    first = min(staging.orders["order_date"].min(), staging.responses["response_date"].min())
    last = staging.latest_date
    middle = first + (last - first) / 2
    return [
        ("month", first.replace(day=1)),
        ("month", middle.replace(day=1)),
        ("month", last.replace(day=1)),
        ("quarter", date(middle.year, 3 * ((middle.month - 1) // 3) + 1, 1)),
        ("year", date(middle.year, 1, 1)),
    ]


def previous_start(grain: str, start: date) -> date:
    months = start.year * 12 + start.month - 1 - MONTHS_IN[grain]
    return date(months // 12, months % 12 + 1, 1)


def mart_row(
    warehouse, mart: str, grain: str, start: date, segment: str, by: str = "segment"
) -> dict:
    frame = warehouse.execute(
        f"select * from marts.{mart} where period_grain = ? and period_start = ? and {by} = ?",
        [grain, start, segment],
    ).df()
    assert len(frame) == 1, f"{mart} has {len(frame)} rows for {grain} {start} {segment}"
    return frame.iloc[0].to_dict()


def assert_matches(actual: dict, expected: dict, where: str) -> None:
    for column, value in expected.items():
        got = actual[column]
        if value is None:
            assert got is None or pd.isna(got), f"{where} {column}: {got} != null"
        else:
            assert not pd.isna(got), f"{where} {column}: null != {value}"
            assert float(got) == pytest.approx(value, rel=1e-9, abs=1e-9), f"{where} {column}"


def share(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def nps_sample(staging: Staging, grain: str, start: date, ids: set[str]) -> pd.DataFrame:
    """The period's responses of these customers, with their categories."""
    end = period_end(grain, start)
    r = staging.responses
    r = r[(r["response_date"] >= start) & (r["response_date"] <= end) & r["customer_id"].isin(ids)]
    return r.assign(category=r["score"].map(category))


def nps_and_variance(r: pd.DataFrame) -> tuple[float, float] | tuple[None, None]:
    """NPS and the sampling variance of the share difference, (p + d - (p - d)^2) / n."""
    n = len(r)
    if not n:
        return None, None
    ps, ds = (r["category"] == "promoter").mean(), (r["category"] == "detractor").mean()
    return 100 * (ps - ds), (ps + ds - (ps - ds) ** 2) / n


def expected_nps(
    staging: Staging, grain: str, start: date, segment: str, by: str = "segment"
) -> dict:
    end = period_end(grain, start)
    ids = staging.segment_ids(segment, by)
    r = nps_sample(staging, grain, start, ids)
    n = len(r)
    p, pa, d = (int((r["category"] == c).sum()) for c in ("promoter", "passive", "detractor"))
    active_end = staging.active_on(ids, end)
    respondents = set(r["customer_id"])
    nps, variance = nps_and_variance(r)
    first = min(staging.orders["order_date"].min(), staging.responses["response_date"].min())
    change = change_moe = significant = None
    if previous_start(grain, start) >= period_start_of(grain, first):
        previous, previous_variance = nps_and_variance(
            nps_sample(staging, grain, previous_start(grain, start), ids)
        )
        if nps is not None and previous is not None:
            change = nps - previous
            change_moe = 100 * 1.96 * math.sqrt(variance + previous_variance)
            significant = float(abs(change) > change_moe)
    # Accounts: each respondent once, by the category of its mean score; weighted by its
    # completed-order revenue of the 365 days up to period_end.
    accounts = r.groupby("customer_id")["score"].mean().map(category)
    account_nps = revenue_weighted = None
    if len(accounts):
        account_nps = 100 * ((accounts == "promoter").sum() - (accounts == "detractor").sum())
        account_nps /= len(accounts)
        revenue = pd.Series(
            {c: staging.revenue(c, end - timedelta(days=H), end) for c in accounts.index}
        )
        if revenue.sum() > 0:
            weighted = (
                revenue[accounts == "promoter"].sum() - revenue[accounts == "detractor"].sum()
            )
            revenue_weighted = 100 * weighted / revenue.sum()
    expected = {
        "responses": n,
        "promoters": p,
        "passives": pa,
        "detractors": d,
        "respondents": len(respondents),
        "pct_promoters": share(p, n),
        "pct_passives": share(pa, n),
        "pct_detractors": share(d, n),
        "nps": nps,
        "nps_margin_of_error": 100 * 1.96 * math.sqrt(variance) if n else None,
        "nps_change": change,
        "nps_change_margin_of_error": change_moe,
        "avg_score": r["score"].mean() if n else None,
        "avg_score_vs_benchmark": r["score"].mean() - AVG_SCORE_BENCHMARK if n else None,
        "account_nps": account_nps,
        "revenue_weighted_nps": revenue_weighted,
        "survey_coverage": share(len(respondents & active_end), len(active_end)),
    }
    expected["is_nps_change_significant"] = significant
    return expected


def period_start_of(grain: str, day: date) -> date:
    return date(day.year, (day.month - 1) // MONTHS_IN[grain] * MONTHS_IN[grain] + 1, 1)


def expected_retention(staging: Staging, grain: str, start: date, segment: str) -> dict:
    end = period_end(grain, start)
    ids = staging.segment_ids(segment)
    at_start = staging.active_on(ids, start - timedelta(days=1))
    at_end = staging.active_on(ids, end)
    new = at_end - at_start
    first_orders = staging.completed.groupby("customer_id")["order_date"].min()
    acquired = {c for c in new if start <= first_orders[c] <= end}
    retained = at_start & at_end
    rate = share(len(retained), len(at_start))
    return {
        "customers_start": len(at_start),
        "customers_end": len(at_end),
        "new_customers": len(new),
        "acquired_customers": len(acquired),
        "reactivated_customers": len(new) - len(acquired),
        "retained_customers": len(retained),
        "churned_customers": len(at_start) - len(retained),
        "retention_rate": rate,
        "churn_rate": 100 - rate if rate is not None else None,
    }


def expected_clv(staging: Staging, grain: str, start: date, segment: str) -> dict:
    end = period_end(grain, start)
    ids = staging.segment_ids(segment)
    o = staging.completed
    o = o[(o["order_date"] >= start) & (o["order_date"] <= end) & o["customer_id"].isin(ids)]
    active = o["customer_id"].nunique()
    revenue = o["amount_eur"].sum()
    margin = (o["amount_eur"] - o["cost_eur"]).sum()
    m = margin / active if active else None
    rate = expected_retention(staging, grain, start, segment)["retention_rate"]
    r = rate / 100 if rate is not None else None
    d = (1 + ANNUAL_DISCOUNT_RATE) ** (MONTHS_IN[grain] / 12) - 1
    return {
        "active_customers": active,
        "orders": len(o),
        "revenue": revenue,
        "gross_margin": margin,
        "avg_order_value": revenue / len(o) if len(o) else None,
        "purchase_frequency": len(o) / active if active else None,
        "margin_per_customer": m,
        "retention_rate": rate,
        "discount_rate": d,
        "expected_lifetime_periods": 1 / (1 - r) if r is not None and r < 1 else None,
        "clv": m * r / (1 + d - r) if m is not None and r is not None else None,
    }


EXPECTED = {
    "nps_by_segment_period": expected_nps,
    "retention_by_segment_period": expected_retention,
    "clv_by_segment_period": expected_clv,
}


@pytest.mark.parametrize("mart", list(EXPECTED))
def test_period_mart_rows_match_the_contract(warehouse, staging, mart):
    for grain, start in checked_periods(staging):
        for segment in SEGMENTS:
            expected = EXPECTED[mart](staging, grain, start, segment)
            actual = mart_row(warehouse, mart, grain, start, segment)
            assert actual["period_end"].date() == period_end(grain, start)
            assert_matches(actual, expected, f"{mart} {grain} {start} {segment}")


def test_country_nps_rows_match_the_contract(warehouse, staging):
    for grain, start in checked_periods(staging):
        for country in COUNTRIES:
            expected = expected_nps(staging, grain, start, country, by="country")
            actual = mart_row(warehouse, "nps_by_country_period", grain, start, country, "country")
            assert_matches(actual, expected, f"nps_by_country_period {grain} {start} {country}")


def test_retention_by_respondent_category_rows_match_the_contract(warehouse, staging):
    for grain, start in checked_periods(staging):
        end = period_end(grain, start)
        horizon = end + timedelta(days=H)
        observed = horizon <= staging.latest_date
        for segment in SEGMENTS:
            r = nps_sample(staging, grain, start, staging.segment_ids(segment))
            last = r.sort_values(["responded_at", "response_id"]).groupby("customer_id").last()
            for respondent_category in ("promoter", "passive", "detractor"):
                ids = set(last.index[last["category"] == respondent_category])
                retained = len(staging.active_on(ids, horizon))
                after = sum(staging.revenue(c, end, horizon) for c in ids)
                expected = {
                    "accounts": len(ids),
                    "retained_accounts": retained if observed else None,
                    "retention_rate_12m": share(retained, len(ids)) if observed else None,
                    "revenue_prior_12m_eur": sum(
                        staging.revenue(c, end - timedelta(days=H), end) for c in ids
                    ),
                    "revenue_next_12m_eur": after if observed else None,
                }
                frame = warehouse.execute(
                    "select * from marts.retention_by_respondent_category where period_grain = ? "
                    "and period_start = ? and segment = ? and respondent_category = ?",
                    [grain, start, segment, respondent_category],
                ).df()
                assert len(frame) == 1
                where = f"{grain} {start} {segment} {respondent_category}"
                assert_matches(frame.iloc[0].to_dict(), expected, where)


def test_month_spine_spans_the_data(warehouse, staging):
    months = warehouse.execute(
        "select min(period_start), max(period_start), count(*) from marts.nps_by_segment_period "
        "where period_grain = 'month' and segment = 'All'"
    ).fetchone()
    first = min(staging.orders["order_date"].min(), staging.responses["response_date"].min())
    last = staging.latest_date
    assert months[0] == first.replace(day=1)
    assert months[1] == last.replace(day=1)
    assert months[2] == (last.year - first.year) * 12 + last.month - first.month + 1


def test_customer_rows_match_the_contract(warehouse, staging):
    mart = warehouse.execute("select * from marts.customers").df().set_index("customer_id")
    sample = pd.concat(
        group.head(3) for _, group in mart.groupby(["advocacy_trend", "is_active"])
    ).index
    rank = {"promoter": 3, "passive": 2, "detractor": 1}
    for customer_id in sample:
        orders = staging.completed[staging.completed["customer_id"] == customer_id]
        answers = staging.responses[staging.responses["customer_id"] == customer_id]
        answers = answers.sort_values(["responded_at", "response_id"], ascending=False)
        categories = [category(score) for score in answers["score"]]
        if not categories:
            trend = "never_surveyed"
        elif len(categories) == 1:
            trend = "new"
        else:
            change = rank[categories[0]] - rank[categories[1]]
            trend = "climber" if change > 0 else "faller" if change < 0 else "stable"
        row = mart.loc[customer_id]
        assert row["segment"] == staging.customers.loc[customer_id, "segment"]
        assert row["lifetime_orders"] == len(orders)
        assert float(row["lifetime_revenue_eur"]) == pytest.approx(orders["amount_eur"].sum())
        margin = (orders["amount_eur"] - orders["cost_eur"]).sum()
        assert float(row["lifetime_gross_margin_eur"]) == pytest.approx(margin)
        assert bool(row["is_active"]) == staging.is_active(customer_id, staging.latest_date)
        assert row["advocacy_trend"] == trend, customer_id
        assert row["responses"] == len(categories)
        if categories:
            assert row["latest_category"] == categories[0]
            assert row["latest_score"] == answers["score"].iloc[0]
