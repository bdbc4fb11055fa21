"""Predictive CLV per customer: the BG/NBD purchase model and the Gamma-Gamma spend model.

BG/NBD (Fader, Hardie and Lee, Marketing Science 24(2), 2005): while alive, a customer buys at
a Poisson rate lambda ~ Gamma(r, alpha) and after each purchase drops out with probability
p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie and Lee, JMR 42(4), 2005; Fader and Hardie's note
"The Gamma-Gamma Model of Monetary Value", 2013): each purchase's value is Gamma(p, nu), nu ~
Gamma(q, gamma) across customers. Both are fitted by maximum likelihood on the per-customer
summary (frequency x, recency t_x, age T, mean repeat value m_x), in log space, over the
logarithms of the parameters so they stay positive; the dbt Python models, the CDNOW test and
the benchmark call the same numpy functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

MIN_REPEAT_CUSTOMERS = 50


@dataclass(frozen=True)
class Fit:
    """A fitted model: parameters by name, the log-likelihood at them, the optimiser's verdict."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    message: str
    customers: int


class TooLittleData(ValueError):
    """Too few customers with repeat purchases to fit the models."""


def _require(used: np.ndarray, what: str, model: str) -> None:
    if used.sum() < MIN_REPEAT_CUSTOMERS:
        raise TooLittleData(
            f"only {used.sum()} customers with {what}; {model} needs at least "
            f"{MIN_REPEAT_CUSTOMERS}"
        )


def _fit(
    model: str,
    names: tuple[str, ...],
    log_likelihood: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    start: list[float],
    customers: int,
) -> Fit:
    """Maximise a summed log-likelihood with its gradient over the log-parameters from `start`:
    L-BFGS-B (about 20 evaluations, which matters at a million customers); where its line
    search stops short, Nelder-Mead from there."""

    def negative(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        values, grad = log_likelihood(log_params)
        return -float(values.sum()), -grad.sum(axis=0)

    result = optimize.minimize(negative, np.log(start), method="L-BFGS-B", jac=True)
    if not result.success:
        result = optimize.minimize(
            lambda log_params: negative(log_params)[0],
            result.x,
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-9},
        )
    params = dict(zip(names, np.exp(result.x), strict=True))
    verdict = (bool(result.success), int(result.nit), str(result.message))
    return Fit(model, params, -float(result.fun), *verdict, customers)


def bgnbd_log_likelihood(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer BG/NBD log-likelihood (FHL 2005, eq. 6) and its gradient in the
    log-parameters (columns r, alpha, a, b): LL = A + log(exp(B) + [x > 0] exp(C)) with
    A = lnG(r + x) - lnG(r) + r ln(alpha), B = lnBeta(a, b + x) - lnBeta(a, b) - (r + x)
    ln(alpha + T) (alive at T), C = lnBeta(a + 1, b + x - 1) - lnBeta(a, b) - (r + x)
    ln(alpha + t_x) (dropped out after the last purchase). Special functions of x alone are
    computed once per distinct x (a few hundred values, not a million), then indexed."""
    r, alpha, a, b = np.exp(log_params)
    values, index = np.unique(x, return_inverse=True)
    repeat_values = np.maximum(values, 1.0)  # x - 1 >= 0 where it is used (x > 0)
    psi = special.digamma
    repeat = x > 0
    beta_ab = special.betaln(a, b)
    common = (special.gammaln(r + values) - special.gammaln(r))[index] + r * np.log(alpha)
    alive = special.betaln(a, b + values)[index] - beta_ab - (r + x) * np.log(alpha + big_t)
    dropped = np.full_like(alive, -np.inf)
    dropped[repeat] = (
        special.betaln(a + 1, b + repeat_values - 1)[index][repeat]
        - beta_ab
        - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    mixed = np.logaddexp(alive, dropped)
    w_alive, w_dropped = np.exp(alive - mixed), np.exp(dropped - mixed)
    psi_abx = psi(a + b + values)
    d_a, d_b = psi(a) - psi(a + b), psi(b) - psi(a + b)
    grad = np.empty((len(x), 4))
    grad[:, 0] = (psi(r + values) - psi(r))[index] + np.log(alpha) - w_alive * np.log(alpha + big_t)
    grad[:, 1] = r / alpha - w_alive * (r + x) / (alpha + big_t)
    grad[:, 2] = w_alive * (psi(a) - psi_abx - d_a)[index]
    grad[:, 3] = w_alive * (psi(b + values) - psi_abx - d_b)[index]
    w = w_dropped[repeat]
    grad[repeat, 0] -= w * np.log(alpha + t_x[repeat])
    grad[repeat, 1] -= w * (r + x[repeat]) / (alpha + t_x[repeat])
    grad[repeat, 2] += w * (psi(a + 1) - psi_abx - d_a)[index][repeat]
    grad[repeat, 3] += w * (psi(b + repeat_values - 1) - psi_abx - d_b)[index][repeat]
    return common + mixed, grad * np.array([r, alpha, a, b])


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> Fit:
    """Maximum-likelihood BG/NBD parameters r, alpha, a, b, one customer per row."""
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (x, t_x, big_t))
    _require(x > 0, "a repeat purchase", "BG/NBD")
    return _fit(
        "bg_nbd",
        ("r", "alpha", "a", "b"),
        lambda log_params: bgnbd_log_likelihood(log_params, x, t_x, big_t),
        [1.0, max(float(big_t.mean()), 1.0), 1.0, 1.0],
        len(x),
    )


def gamma_gamma_log_likelihood(
    log_params: np.ndarray, x: np.ndarray, m_x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend m_x over x purchases and its
    gradient in the log-parameters (columns p, q, gamma): lnG(px + q) - lnG(px) - lnG(q)
    + q ln(gamma) + (px - 1) ln(m_x) + px ln(x) - (px + q) ln(gamma + x m_x)."""
    p, q, gamma = np.exp(log_params)
    px = p * x
    total = np.log(gamma + x * m_x)
    values = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * total
    )
    psi = special.digamma
    psi_pxq = psi(px + q)
    grad = np.empty((len(x), 3))
    grad[:, 0] = x * (psi_pxq - psi(px) + np.log(m_x) + np.log(x) - total)
    grad[:, 1] = psi_pxq - psi(q) + np.log(gamma) - total
    grad[:, 2] = q / gamma - (px + q) / (gamma + x * m_x)
    return values, grad * np.array([p, q, gamma])


def fit_gamma_gamma(x: np.ndarray, m_x: np.ndarray) -> Fit:
    """Maximum-likelihood Gamma-Gamma parameters p, q, gamma (customers with a repeat purchase
    and a positive mean spend)."""
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    used = (x > 0) & (m_x > 0)
    _require(used, "a repeat purchase of positive value", "Gamma-Gamma")
    x, m_x = x[used], m_x[used]
    return _fit(
        "gamma_gamma",
        ("p", "q", "gamma"),
        lambda log_params: gamma_gamma_log_likelihood(log_params, x, m_x),
        [1.0, 1.0, max(float(m_x.mean()), 1.0)],
        len(x),
    )


def probability_alive(params: dict[str, float], x, t_x, big_t) -> np.ndarray:
    """FHL 2005, eq. 13: P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1)
    ((alpha + T) / (alpha + t_x))^(r + x))."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (x, t_x, big_t))
    log_odds = np.full_like(x, -np.inf)
    repeat = x > 0
    log_odds[repeat] = (
        np.log(a)
        - np.log(b + x[repeat] - 1)
        + (r + x[repeat]) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return 1.0 / (1.0 + np.exp(log_odds))


def expected_purchases(params: dict[str, float], t: float, x, t_x, big_t) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t time units (FHL 2005, eq. 10):
    (a + b + x - 1) / (a - 1) * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
    * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))] * P(alive)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (x, t_x, big_t))
    ratio = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))
    hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    return (
        (a + b + x - 1) / (a - 1) * (1 - ratio * hyper) * probability_alive(params, x, t_x, big_t)
    )


def expected_average_value(params: dict[str, float], x, m_x) -> np.ndarray:
    """E[M | x, m_x]: the population mean gamma p / (q - 1) (that alone when x = 0) shrunk to the
    customer's mean, (q - 1) / (p x + q - 1) * gamma p / (q - 1) + p x / (p x + q - 1) * m_x."""
    p, q, gamma = params["p"], params["q"], params["gamma"]
    x = np.asarray(x, dtype=float)
    m_x = np.nan_to_num(np.asarray(m_x, dtype=float))
    return (gamma + x * m_x) * p / (p * x + q - 1)


def expected_cumulative_purchases(params: dict[str, float], t) -> np.ndarray:
    """E[X(t)] of a customer just acquired, for the holdout comparison (FHL 2005, eq. 9)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    t = np.asarray(t, dtype=float)
    hyper = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - np.exp(r * (np.log(alpha) - np.log(alpha + t))) * hyper)


def clv(
    bgnbd: dict[str, float],
    average_value: np.ndarray,
    margin_ratio: np.ndarray,
    x,
    t_x,
    big_t,
    units_per_month: float,
    monthly_rate: float,
    months: int = 12,
) -> np.ndarray:
    """Discounted gross-margin value of the next `months` months: each month's expected
    purchases times the expected value per purchase times the margin ratio, discounted at
    monthly_rate (the warehouse passes the discount_rate macro's)."""
    total, before = np.zeros(np.shape(x), dtype=float), 0.0
    for month in range(1, months + 1):
        cumulative = expected_purchases(bgnbd, month * units_per_month, x, t_x, big_t)
        total += (cumulative - before) / (1 + monthly_rate) ** month
        before = cumulative
    return total * average_value * margin_ratio


@dataclass(frozen=True)
class Simulated:
    """Customers drawn from the two models: the summary the fits need."""

    frequency: np.ndarray
    recency: np.ndarray
    customer_age: np.ndarray
    mean_repeat_value: np.ndarray


def simulate(
    bgnbd: dict[str, float],
    spend: dict[str, float],
    customers: int,
    max_age: float,
    rng: np.random.Generator,
) -> Simulated:
    """Draw customers from BG/NBD and Gamma-Gamma (benchmark, parameter recovery): age T
    uniform on (0, max_age]; x the smaller of the Poisson count in (0, T] and a geometric
    number of purchases till dropout; t_x the x-th of the count's uniform arrival times."""
    big_t = rng.uniform(0, max_age, customers) + 1e-9
    rate = rng.gamma(bgnbd["r"], 1 / bgnbd["alpha"], customers)
    dropout = rng.beta(bgnbd["a"], bgnbd["b"], customers)
    arrivals = rng.poisson(rate * big_t)
    x = np.minimum(arrivals, rng.geometric(dropout))
    repeat = x > 0
    t_x = np.zeros(customers)
    t_x[repeat] = big_t[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    nu = rng.gamma(spend["q"], 1 / spend["gamma"], customers)
    m_x = np.full(customers, np.nan)
    m_x[repeat] = rng.gamma(spend["p"] * x[repeat], 1 / nu[repeat]) / x[repeat]
    return Simulated(x.astype(float), t_x, big_t, m_x)
