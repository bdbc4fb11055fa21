"""Per customer: probability alive, expected purchases and average order value, and the
12-month CLV on gross margin, from the fitted BG/NBD and Gamma-Gamma models.

- probability_alive: P(alive | x, t_x, T) at the end of the calibration window;
- expected_purchases_12m: E[Y(t) | x, t_x, T] for t = 12 months in the summary's time unit;
- expected_order_value_eur: Gamma-Gamma E[M | x, m_x], the population mean for customers
  without a repeat purchase;
- predicted_clv_12m: sum over the next 12 months of the month's expected purchases times
  the expected order value times the customer's gross margin ratio, discounted monthly at
  the summary's monthly_discount_rate (the discount_rate macro at month grain).
All null when the models could not be fitted (int_clv_models_fitted says why).
"""

import numpy as np

from nps_warehouse import predictive_clv

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
HORIZON_MONTHS = 12


def model(dbt, session):
    dbt.config(materialized="table")
    # Sorted: the same rows in the same order give bit-identical fits on every run.
    summary = dbt.ref("int_customer_purchases_summarised").order("customer_id").df()
    fits = dbt.ref("int_clv_models_fitted").df().set_index("model_name")
    frame = summary[["customer_id", "segment"]].copy()
    frame["calibration_end_date"] = summary["calibration_end_date"].dt.date
    columns = [
        "probability_alive",
        "expected_purchases_12m",
        "expected_order_value_eur",
        "predicted_clv_12m",
    ]
    bgnbd, spend = fits.loc["bg_nbd"], fits.loc["gamma_gamma"]
    if summary.empty or bgnbd[["r", "alpha", "a", "b"]].isna().any():
        frame[columns] = np.nan
        return frame
    purchase_params = {name: float(bgnbd[name]) for name in ("r", "alpha", "a", "b")}
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    big_t = summary["customer_age"].to_numpy(dtype=float)
    units_per_month = 365.25 / 12 / DAYS_PER_UNIT[summary["time_unit"].iloc[0]]
    frame["probability_alive"] = predictive_clv.probability_alive(purchase_params, x, t_x, big_t)
    frame["expected_purchases_12m"] = predictive_clv.expected_purchases(
        purchase_params, HORIZON_MONTHS * units_per_month, x, t_x, big_t
    )
    if spend[["p", "q", "gamma"]].isna().any() or float(spend["q"]) <= 1:
        frame[["expected_order_value_eur", "predicted_clv_12m"]] = np.nan
        return frame
    spend_params = {name: float(spend[name]) for name in ("p", "q", "gamma")}
    value = predictive_clv.expected_average_value(
        spend_params, x, summary["mean_repeat_value_eur"].to_numpy(dtype=float)
    )
    frame["expected_order_value_eur"] = value
    frame["predicted_clv_12m"] = predictive_clv.clv(
        purchase_params,
        value,
        summary["gross_margin_ratio"].to_numpy(dtype=float),
        x,
        t_x,
        big_t,
        units_per_month=units_per_month,
        monthly_rate=float(summary["monthly_discount_rate"].iloc[0]),
        months=HORIZON_MONTHS,
    )
    return frame
