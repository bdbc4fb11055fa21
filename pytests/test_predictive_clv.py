"""Predictive CLV: the BG/NBD and Gamma-Gamma code against the published CDNOW results and
against values computed by hand, and the warehouse's behaviour with too little data.

CDNOW (pytests/data/cdnow/, with its source): the raw transactions go through the same summary
SQL as the warehouse (the macro purchase_summary, compiled by dbt) and the same fitting code; the
parameters must match the published estimates within 1% (Fader, Hardie and Lee 2005; Fader and
Hardie 2013), the log-likelihood within 0.1.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run_dbt, warehouse_path
from nps_warehouse import predictive_clv

CDNOW = REPO / "pytests" / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The CDNOW transactions in DuckDB, summarised by the warehouse's own macro."""
    if not CDNOW.exists():
        pytest.fail(f"{CDNOW} is missing: the CDNOW test data set belongs in the repository")
    raw = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "purchase_date", "cds", "amount"],
        dtype={"master_id": str, "customer_id": str, "purchase_date": str},
    )
    raw["purchase_date"] = pd.to_datetime(raw["purchase_date"], format="%Y%m%d").dt.date
    scratch = tmp_path_factory.mktemp("cdnow")
    compiled = run_dbt(
        scratch / "unused.duckdb",
        "compile",
        "--quiet",
        "--target-path",
        str(scratch / "target"),
        "--inline",
        "{{ purchase_summary('cdnow_purchases', \"date '"
        + CALIBRATION_END.isoformat()
        + "'\", 'week') }}",
    )
    assert compiled.returncode == 0, compiled.stdout[-2000:] + compiled.stderr[-2000:]
    connection = duckdb.connect()
    connection.register("cdnow_raw", raw)
    connection.execute(
        "create table cdnow_purchases as select customer_id, purchase_date, amount from cdnow_raw"
    )
    summary = connection.execute(compiled.stdout).df()
    return {"connection": connection, "summary": summary}


@pytest.fixture(scope="module")
def cdnow_fits(cdnow: dict) -> tuple[predictive_clv.Fit, predictive_clv.Fit]:
    summary = cdnow["summary"]
    bgnbd = predictive_clv.fit_bgnbd(
        summary["frequency"], summary["recency"], summary["customer_age"]
    )
    spend = predictive_clv.fit_gamma_gamma(summary["frequency"], summary["mean_repeat_value"])
    return bgnbd, spend


def test_cdnow_summary_matches_the_literature(cdnow: dict) -> None:
    summary = cdnow["summary"]
    # The sample's 2,357 customers all bought first in Q1 1997; 946 bought again by the end of
    # September (the Gamma-Gamma note's 946 customers).
    assert len(summary) == 2357
    assert (summary["frequency"] > 0).sum() == 946
    assert summary["customer_age"].max() == pytest.approx(
        (CALIBRATION_END - date(1997, 1, 1)).days / 7
    )


def test_cdnow_bgnbd_parameters_match_the_published_estimates(cdnow_fits) -> None:
    bgnbd, _ = cdnow_fits
    assert bgnbd.converged, bgnbd.message
    for name, published in PUBLISHED_BGNBD.items():
        assert bgnbd.params[name] == pytest.approx(published, rel=0.01), name
    assert bgnbd.log_likelihood == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.1)


def test_cdnow_gamma_gamma_parameters_match_the_published_estimates(cdnow_fits) -> None:
    _, spend = cdnow_fits
    assert spend.converged, spend.message
    assert spend.customers == 946
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert spend.params[name] == pytest.approx(published, rel=0.01), name


def test_cdnow_holdout_cumulative_repeat_purchases(cdnow: dict, cdnow_fits) -> None:
    """The model's expected cumulative repeat purchases of the cohort against the actual ones,
    week by week through the 39-week holdout (as in Fader, Hardie and Lee 2005, figure 2):
    customer i, first purchase s_i weeks after 1997-01-01, is expected to make E[X(w - s_i)]
    repeat purchases by week w. Printed; the total at the end of the holdout must be within 5%
    of the actual one."""
    bgnbd, _ = cdnow_fits
    connection = cdnow["connection"]
    first = connection.execute(
        "select datediff('day', date '1997-01-01', min(purchase_date)) / 7.0 "
        "from cdnow_purchases group by customer_id"
    ).fetchnumpy()
    starts = next(iter(first.values()))
    print("\nweek  actual cumulative repeat purchases  expected")
    compared = {}
    for week in (39, 52, 65, 78):
        actual = connection.execute(
            "select count(*) from (select purchase_date, row_number() over "
            "(partition by customer_id order by purchase_date) as purchase_number from "
            "(select distinct customer_id, purchase_date from cdnow_purchases)) "
            f"where purchase_number > 1 and purchase_date < date '1997-01-01' + {7 * week}"
        ).fetchone()[0]
        expected = predictive_clv.expected_cumulative_purchases(
            bgnbd.params, np.maximum(week - starts, 0.0)
        ).sum()
        compared[week] = (actual, expected)
        print(f"{week:>4}  {actual:>34,}  {expected:>8,.0f}")
    (actual_39, expected_39), (actual_78, expected_78) = compared[39], compared[78]
    print(
        f"holdout (weeks 40-78): actual {actual_78 - actual_39:,}, expected "
        f"{expected_78 - expected_39:,.0f}"
    )
    assert expected_78 == pytest.approx(actual_78, rel=0.05)


# Hand-computed values. Parameters r = 0.25, alpha = 4, a = 0.8, b = 2.5.
HAND = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


def test_probability_alive_by_hand() -> None:
    # No repeat purchase: BG/NBD lets a customer drop out only after a repeat purchase, so 1.
    # x = 2, t_x = 20, T = 30: odds of having dropped out = a / (b + x - 1) * ((alpha + T) /
    # (alpha + t_x))^(r + x) = 0.8 / 3.5 * (34 / 24)^2.25 = 0.228571 * 2.189537 = 0.500466,
    # so P(alive) = 1 / 1.500466 = 0.666460.
    alive = predictive_clv.probability_alive(HAND, [0, 2], [0.0, 20.0], [30.0, 30.0])
    assert alive[0] == 1.0
    assert alive[1] == pytest.approx(0.666460, abs=1e-6)


def test_conditional_expected_purchases_by_hand() -> None:
    # x = 2, t_x = 20, T = 30, next t = 2 weeks: (a + b + x - 1) / (a - 1) = 4.3 / -0.2 = -21.5;
    # ((alpha + T) / (alpha + T + t))^(r + x) = (34 / 36)^2.25 = 0.879548;
    # 2F1(2.25, 4.5; 4.3; z = 2 / 36) by its series: 1 + 0.130814 + 0.012255 + 0.000995
    # + 0.000075 + 0.000005 = 1.144145; so E = -21.5 * (1 - 0.879548 * 1.144145) * P(alive)
    # = -21.5 * -0.006331 * 0.666460 = 0.086965.
    # x = 0, T = 30, t = 2: (a + b - 1) / (a - 1) = -11.5; (34 / 36)^0.25 = 0.985808;
    # 2F1(0.25, 2.5; 2.3; 2 / 36) = 1.015678; E = -11.5 * (1 - 0.985808 * 1.015678) = 0.014577.
    expected = predictive_clv.expected_purchases(HAND, 2.0, [2, 0], [20.0, 0.0], [30.0, 30.0])
    assert expected[0] == pytest.approx(0.086965, abs=2e-6)
    assert expected[1] == pytest.approx(0.014577, abs=2e-6)


def test_expected_purchases_start_at_the_posterior_rate_of_an_alive_customer() -> None:
    # For a short horizon t, E[Y(t)] ~ P(alive) * t * (r + x) / (alpha + T): an alive customer
    # buys at its posterior mean rate (first-order term of the closed form).
    t = 1e-4
    x, t_x, big_t = np.array([0, 2, 7]), np.array([0.0, 20.0, 25.0]), np.array([30.0, 30.0, 40.0])
    alive = predictive_clv.probability_alive(HAND, x, t_x, big_t)
    expected = predictive_clv.expected_purchases(HAND, t, x, t_x, big_t)
    assert expected == pytest.approx(
        alive * t * (HAND["r"] + x) / (HAND["alpha"] + big_t), rel=1e-3
    )


def test_gamma_gamma_expected_order_value_by_hand() -> None:
    # p = 6, q = 4, gamma = 15: E[M | x, m_x] = (gamma + x m_x) p / (p x + q - 1).
    # x = 2, m_x = 20: (15 + 40) * 6 / (12 + 3) = 22; x = 0: the population mean
    # gamma p / (q - 1) = 90 / 3 = 30.
    value = predictive_clv.expected_average_value(
        {"p": 6.0, "q": 4.0, "gamma": 15.0}, [2, 0], [20.0, np.nan]
    )
    assert value == pytest.approx([22.0, 30.0])


def test_too_little_data_is_a_clear_message() -> None:
    with pytest.raises(predictive_clv.TooLittleData, match="at least 50"):
        predictive_clv.fit_bgnbd([1, 0, 2], [1.0, 0.0, 3.0], [5.0, 5.0, 5.0])


def test_the_warehouse_with_too_little_data_builds_null_predictions(tmp_path: Path) -> None:
    """A calibration window ending 2024-02-15, a few weeks into the demo data, leaves fewer than
    50 repeat customers: the build must pass, say why in int_clv_models_fitted, and leave every
    prediction null (the convergence check only warns)."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_path(), copy)
    completed = run_dbt(
        copy,
        "build",
        "--select",
        "int_customer_purchases_summarised+",
        "--vars",
        "{clv_calibration_end: '2024-02-15'}",
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as connection:
        fits = connection.execute(
            "select model_name, message, r, p from intermediate.int_clv_models_fitted"
        ).fetchall()
        predictions = connection.execute(
            "select count(*), count(probability_alive), count(predicted_clv_12m) "
            "from intermediate.int_customers_clv_predicted"
        ).fetchone()
    assert all(message.startswith("not fitted:") for _, message, _, _ in fits), fits
    assert all(r is None and p is None for _, _, r, p in fits)
    assert predictions[0] > 0 and predictions[1:] == (0, 0)
    assert "clv_models_fitted_and_converged" in completed.stdout


@pytest.mark.parametrize("which", ["bg_nbd", "gamma_gamma"])
def test_analytic_gradients_equal_finite_differences(which: str) -> None:
    """The optimiser trusts the hand-derived gradients: they must equal central differences of
    the log-likelihood, summed over some simulated customers, at a point away from the optimum."""
    drawn = predictive_clv.simulate(
        {"r": 0.5, "alpha": 6.0, "a": 1.2, "b": 3.0},
        {"p": 4.0, "q": 3.0, "gamma": 20.0},
        500,
        60.0,
        np.random.default_rng(1),
    )
    if which == "bg_nbd":
        point = np.log([0.4, 5.0, 0.9, 2.5])

        def total(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            values, grad = predictive_clv.bgnbd_log_likelihood(
                log_params, drawn.frequency, drawn.recency, drawn.customer_age
            )
            return values.sum(), grad.sum(axis=0)
    else:
        point = np.log([5.0, 2.5, 12.0])
        repeat = drawn.frequency > 0

        def total(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            values, grad = predictive_clv.gamma_gamma_log_likelihood(
                log_params, drawn.frequency[repeat], drawn.mean_repeat_value[repeat]
            )
            return values.sum(), grad.sum(axis=0)

    _, analytic = total(point)
    step = 1e-6
    numeric = [
        (total(point + step * unit)[0] - total(point - step * unit)[0]) / (2 * step)
        for unit in np.eye(len(point))
    ]
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-4)


def test_fits_recover_the_parameters_customers_were_drawn_from() -> None:
    """50,000 customers drawn from known parameters (the CDNOW estimates): the fits must find
    them again within 10% (the sampling error at this size is a few percent)."""
    truth_purchases = dict(PUBLISHED_BGNBD)
    truth_spend = dict(PUBLISHED_GAMMA_GAMMA)
    drawn = predictive_clv.simulate(
        truth_purchases, truth_spend, 50_000, 78.0, np.random.default_rng(2026)
    )
    bgnbd = predictive_clv.fit_bgnbd(drawn.frequency, drawn.recency, drawn.customer_age)
    spend = predictive_clv.fit_gamma_gamma(drawn.frequency, drawn.mean_repeat_value)
    for fit, truth in ((bgnbd, truth_purchases), (spend, truth_spend)):
        assert fit.converged, fit.message
        for name, value in truth.items():
            assert fit.params[name] == pytest.approx(value, rel=0.10), name
