"""BG/NBD and Gamma-Gamma, fitted by maximum likelihood on int_customer_purchases_summarised.

One row per model (bg_nbd, gamma_gamma): its parameters, log-likelihood, whether the optimiser
converged, and how many customers it was fitted on. With too little data to fit (fewer than
50 customers with a repeat purchase) the row says so in `message`, its parameters are null,
and so are the predictions that need them. The fitting code is nps_warehouse.predictive_clv.
"""

import pandas as pd

from nps_warehouse import predictive_clv

PARAMETERS = ["r", "alpha", "a", "b", "p", "q", "gamma"]


def _row(name: str, fit) -> dict:
    """The table row of a fit: its own parameters filled, the other model's null."""
    if isinstance(fit, predictive_clv.TooLittleData):
        return {
            "model_name": name,
            **dict.fromkeys(PARAMETERS),
            "log_likelihood": None,
            "converged": False,
            "iterations": 0,
            "customers_fitted": 0,
            "message": f"not fitted: {fit}",
        }
    return {
        "model_name": name,
        **{parameter: fit.params.get(parameter) for parameter in PARAMETERS},
        "log_likelihood": fit.log_likelihood,
        "converged": fit.converged,
        "iterations": fit.iterations,
        "customers_fitted": fit.customers,
        "message": fit.message,
    }


def model(dbt, session):
    dbt.config(materialized="table")
    # Sorted: the same rows in the same order give bit-identical fits on every run.
    summary = dbt.ref("int_customer_purchases_summarised").order("customer_id").df()
    x = summary["frequency"].to_numpy(dtype=float)
    fits = {
        "bg_nbd": lambda: predictive_clv.fit_bgnbd(
            x, summary["recency"].to_numpy(dtype=float), summary["customer_age"].to_numpy(float)
        ),
        "gamma_gamma": lambda: predictive_clv.fit_gamma_gamma(
            x, summary["mean_repeat_value_eur"].to_numpy(dtype=float)
        ),
    }
    rows = []
    for name, fit in fits.items():
        try:
            rows.append(_row(name, fit()))
        except predictive_clv.TooLittleData as error:
            rows.append(_row(name, error))
    frame = pd.DataFrame(rows)
    frame[PARAMETERS + ["log_likelihood"]] = frame[PARAMETERS + ["log_likelihood"]].astype(float)
    return frame
