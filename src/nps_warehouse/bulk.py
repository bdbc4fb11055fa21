"""Bulk raw data at any size as Parquet, and "append the next N days" to existing raw data.

The model is the one of :mod:`nps_warehouse.generator` (same segments, churn, seasonality,
amounts, scores, comments), but the text is never built in Python: numpy draws numbers and
codes month by month (orders) and quarter by quarter (responses), DuckDB stores them in an
in-memory table and formats them with ``printf``/``strftime``/list lookups while writing
Parquet (zstd). The text formats and VARCHAR columns equal the CSV path's; the random draws
differ from it (the CSV path and its committed seeds are left untouched).

``--orders`` / ``--responses`` are targets: the expected totals of the simulation are computed
before the Poisson draws and the order rate / survey contacts are scaled to hit them.

Dirty rows (``include_dirty``): about 0.5 % of the rows get exactly one documented problem of
:data:`nps_warehouse.generator.DIRTY_KINDS` (all kinds except the duplicates, which need extra
rows). Dirty orders and responses use the dirty id range (``ORD-9xxxxxx``, ``RSP-9xxxxx``) like
the CSV path; dirty customers are customers without orders or responses and keep their id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from nps_warehouse.contract import (
    COUNTRIES,
    CUSTOMERS,
    ORDERS,
    RESPONSES,
    SEGMENTS,
    STATUSES,
)
from nps_warehouse.generator import (
    _ACTIVITY_SHAPE,
    _AMOUNT_CUSTOMER_SIGMA,
    _AMOUNT_MEDIAN,
    _AMOUNT_ORDER_SIGMA,
    _CHANNEL_SHARE,
    _CHURN_P,
    _CHURN_SCORE_PENALTY,
    _COMMENT_P,
    _COMMENTS_DETRACTOR,
    _COMMENTS_PASSIVE,
    _COMMENTS_PROMOTER,
    _COST_SHARE,
    _EXTRA_CONTACTS,
    _FIRST_ASCII,
    _FIRST_NAMES,
    _INDUSTRIES,
    _INDUSTRY_SLUGS,
    _LAST_ASCII,
    _LAST_NAMES,
    _LEGAL_VOCAB,
    _MONTH_END_STAMP_P,
    _ORDER_RATE,
    _PHONE_PREFIX,
    _PII_EMAIL_TEXT,
    _PII_P,
    _PII_PHONE_TEXT,
    _REACTIVATE_P,
    _RESPOND_P_ALIVE,
    _RESPOND_P_CHURNED,
    _SCORE_CUSTOMER_SD,
    _SCORE_MEAN,
    _SCORE_RESPONSE_SD,
    _SEASON,
    _SECONDS_PER_DAY,
    _STATUS_SHARE,
    _STEM_SLUGS,
    _STEMS,
    CHANNELS,
    TABLE_COLUMNS,
    _categorical,
    _customer_codes,
    _CustomerCodes,
    _day_number,
    _id_width,
    _month_first_day,
    _month_index,
)

__all__ = ["BulkConfig", "append_days", "generate_parquet"]

Log = Callable[[str], None]

DIRTY_RATE = 0.005
# Dirty kinds per table that are applied in place (code = position + 1; 0 = clean).
_CUSTOMER_DIRTY = (
    "whitespace_case_variant",
    "unknown_segment",
    "unknown_country",
    "missing_id",
    "invalid_signup_date",
    "future_signup_date",
)
_ORDER_DIRTY = (
    "status_variant",
    "customer_id_variant",
    "unknown_customer",
    "negative_amount",
    "invalid_amount",
    "future_order_date",
    "invalid_order_date",
    "unknown_status",
    "missing_id",
    "negative_cost",
)
_RESPONSE_DIRTY = (
    "score_whitespace_variant",
    "customer_id_case_variant",
    "score_too_high",
    "score_negative",
    "score_not_a_number",
    "missing_score",
    "score_not_whole",
    "unknown_customer",
    "future_responded_at",
    "invalid_responded_at",
    "missing_id",
)
_COMMENT_POOLS = (_COMMENTS_DETRACTOR, _COMMENTS_PASSIVE, _COMMENTS_PROMOTER)
_PROGRESS_EVERY = 6  # print a progress line every 6 months / 2 quarters


@dataclass(frozen=True)
class BulkConfig:
    """Parameters of one bulk dataset (dates inclusive; orders/responses are targets)."""

    seed: int = 42
    customers: int = 360
    orders: int | None = None
    responses: int | None = None
    start_date: date = date(2024, 1, 1)
    end_date: date = date(2026, 6, 30)
    include_dirty: bool = True


# --------------------------------------------------------------------------------------------
# SQL formatting (shared by the bulk writer and the appender)
# --------------------------------------------------------------------------------------------


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(values: tuple[str, ...] | list[str]) -> str:
    """A DuckDB list literal; index it 1-based: ``[...][code + 1]``."""
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _code(kinds: tuple[str, ...], kind: str) -> int:
    return kinds.index(kind) + 1


def _case(default: str, changes: dict[int, str]) -> str:
    """``default`` unless the row's dirty code is one of ``changes``."""
    whens = " ".join(f"WHEN {code} THEN {sql}" for code, sql in changes.items())
    return f"CASE dirty {whens} ELSE {default} END"


def _id_sql(prefix: str, width: int) -> str:
    """Clean ids (id > 0) zero-padded to ``width``, dirty ids (id < 0) in the 9xxx range."""
    dirty_base = 9 * 10 ** (width - 1)
    return (
        f"CASE WHEN id > 0 THEN printf('{prefix}%0{width}d', id) "
        f"ELSE printf('{prefix}%d', {dirty_base} - id) END"
    )


def _date_sql(days: str) -> str:
    return f"strftime(DATE '1970-01-01' + CAST({days} AS INTEGER), '%Y-%m-%d')"


def _money_sql(cents: str) -> str:
    return f"printf('%d.%02d', {cents} // 100, {cents} % 100)"


def _email_sql(first: str, last: str, stem: str, ind: str, num: str, country: str) -> str:
    return (
        f"{_list(_FIRST_ASCII)}[{first} + 1] || '.' || {_list(_LAST_ASCII)}[{last} + 1] || '@' "
        f"|| {_list(_STEM_SLUGS)}[{stem} + 1] || '-' || {_list(_INDUSTRY_SLUGS)}[{ind} + 1] "
        f"|| CASE WHEN {num} > 0 THEN '-' || {num} ELSE '' END || '.' "
        f"|| {_list(tuple(c.lower() for c in COUNTRIES))}[{country} + 1]"
    )


def _customers_sql(source: str, width: int) -> str:
    k = _CUSTOMER_DIRTY.index
    cid = f"printf('CUST-%0{width}d', id)"
    segment = f"{_list(SEGMENTS)}[segment + 1]"
    country = f"{_list(COUNTRIES)}[country + 1]"
    variant = k("whitespace_case_variant") + 1
    customer_id = _case(cid, {variant: f"' ' || lower({cid}) || ' '", k("missing_id") + 1: "''"})
    segment = _case(
        segment,
        {variant: f"'  ' || lower({segment}) || ' '", k("unknown_segment") + 1: "'Startup'"},
    )
    country = _case(
        country, {variant: f"' ' || lower({country})", k("unknown_country") + 1: "'FR'"}
    )
    signup = _case(
        _date_sql("signup"),
        {k("invalid_signup_date") + 1: "'31.02.2024'", k("future_signup_date") + 1: "'2031-01-15'"},
    )
    company = (
        f"{_list(_STEMS)}[stem + 1] || ' ' || {_list(_INDUSTRIES)}[ind + 1] "
        "|| CASE WHEN num > 0 THEN ' ' || num ELSE '' END "
        f"|| ' ' || {_list(_LEGAL_VOCAB)}[legal + 1]"
    )
    email = _email_sql("first", "last", "stem", "ind", "num", "country")
    return f"""
        SELECT
            {customer_id} AS customer_id,
            {company} AS company_name,
            {email} AS contact_email,
            {segment} AS segment,
            {country} AS country,
            {signup} AS signup_date
        FROM {source}
        ORDER BY id
    """


def _orders_sql(source: str, width: int, customer_width: int) -> str:
    k = _ORDER_DIRTY.index
    cid = f"printf('CUST-%0{customer_width}d', cust)"
    amount, cost = _money_sql("amount"), _money_sql("cost")
    order_id = _case(_id_sql("ORD-", width), {k("missing_id") + 1: "''"})
    customer_id = _case(
        cid,
        {
            k("customer_id_variant") + 1: f"' ' || lower({cid})",
            k("unknown_customer") + 1: _lit("CUST-" + "9" * customer_width),
        },
    )
    order_date = _case(
        _date_sql("day"),
        {k("future_order_date") + 1: "'2031-06-01'", k("invalid_order_date") + 1: "'2025-13-01'"},
    )
    status = _case(
        f"{_list(STATUSES)}[status + 1]",
        {k("status_variant") + 1: "' Completed '", k("unknown_status") + 1: "'pending'"},
    )
    amount_eur = _case(
        amount, {k("negative_amount") + 1: f"'-' || {amount}", k("invalid_amount") + 1: "'n/a'"}
    )
    cost_eur = _case(cost, {k("negative_cost") + 1: f"'-' || {cost}"})
    return f"""
        SELECT
            {order_id} AS order_id,
            {customer_id} AS customer_id,
            {order_date} AS order_date,
            {status} AS status,
            {amount_eur} AS amount_eur,
            {cost_eur} AS cost_eur
        FROM {source}
    """


def _responses_sql(source: str, width: int, customer_width: int) -> str:
    k = _RESPONSE_DIRTY.index
    cid = f"printf('CUST-%0{customer_width}d', cust)"
    score = "CAST(score AS VARCHAR)"
    response_id = _case(_id_sql("RSP-", width), {k("missing_id") + 1: "''"})
    customer_id = _case(
        cid,
        {
            k("customer_id_case_variant") + 1: f"lower({cid})",
            k("unknown_customer") + 1: _lit("CUST-" + "9" * customer_width),
        },
    )
    responded_at = _case(
        "strftime(make_timestamp(t * 1000000), '%Y-%m-%d %H:%M:%S')",
        {
            k("future_responded_at") + 1: "'2031-03-01 10:00:00'",
            k("invalid_responded_at") + 1: "'not a date'",
        },
    )
    score = _case(
        score,
        {
            k("score_whitespace_variant") + 1: f"' ' || {score} || ' '",
            k("score_too_high") + 1: "'11'",
            k("score_negative") + 1: "'-1'",
            k("score_not_a_number") + 1: "'ten'",
            k("missing_score") + 1: "''",
            k("score_not_whole") + 1: "'7.5'",
        },
    )
    pools = [_list(pool) for pool in _COMMENT_POOLS]
    phone = (
        f"{_lit(_PII_PHONE_TEXT)} || {_list(_FIRST_NAMES)}[nf + 1] || ' ' "
        f"|| {_list(_LAST_NAMES)}[nl + 1] || ', Tel. ' "
        f"|| {_list(_PHONE_PREFIX)}[country + 1] || phone"
    )
    mail = f"{_lit(_PII_EMAIL_TEXT)} || {_email_sql('nf', 'nl', 'stem', 'ind', 'num', 'country')}"
    return f"""
        SELECT
            {response_id} AS response_id,
            {customer_id} AS customer_id,
            {responded_at} AS responded_at,
            {score} AS score,
            {_list(CHANNELS)}[channel + 1] AS channel,
            CASE ckind
                WHEN 1 THEN {pools[0]}[cidx + 1]
                WHEN 2 THEN {pools[1]}[cidx + 1]
                WHEN 3 THEN {pools[2]}[cidx + 1]
                WHEN 4 THEN {phone}
                WHEN 5 THEN {mail}
                ELSE ''
            END AS comment
        FROM {source}
    """


_ORDERS_DDL = (
    "id BIGINT, cust INTEGER, day INTEGER, status TINYINT, amount BIGINT, cost BIGINT, "
    "dirty TINYINT"
)
_RESPONSES_DDL = (
    "id BIGINT, cust INTEGER, t BIGINT, score TINYINT, channel TINYINT, ckind TINYINT, "
    "cidx SMALLINT, nf SMALLINT, nl SMALLINT, stem INTEGER, ind SMALLINT, num INTEGER, "
    "country TINYINT, phone INTEGER, dirty TINYINT"
)


def _copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, fmt: str) -> None:
    """Write ``select`` to ``path`` as Parquet (zstd) or as CSV like ``write_csv``."""
    if fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    else:  # header, minimal quoting, an empty field for an empty comment
        if "AS comment" in select:
            select = f"SELECT * REPLACE (nullif(comment, '') AS comment) FROM ({select})"
        options = "FORMAT csv, HEADER true, DELIMITER ','"
    con.execute(f"COPY ({select}) TO {_lit(str(path))} ({options})")


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, np.ndarray]) -> None:
    frame = pd.DataFrame(columns, copy=False)
    con.register("chunk", frame)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM chunk")
    con.unregister("chunk")


def _number_rows(dirty: np.ndarray, clean_done: int, dirty_done: int) -> np.ndarray:
    """Ids: clean rows 1, 2, ... (after ``clean_done``), dirty rows -1, -2, ... (negative)."""
    clean = dirty == 0
    return np.where(
        clean,
        clean_done + np.cumsum(clean),
        -(dirty_done + np.cumsum(~clean)),
    ).astype(np.int64)


def _dirty_codes(rng: np.random.Generator, size: int, kinds: int, on: bool) -> np.ndarray:
    if not on:
        return np.zeros(size, dtype=np.int8)
    dirty = rng.random(size) < DIRTY_RATE
    return np.where(dirty, rng.integers(1, kinds + 1, size=size), 0).astype(np.int8)


# --------------------------------------------------------------------------------------------
# Bulk generation
# --------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, log: Log, table: str, target: float) -> None:
        self.log, self.table, self.target = log, table, target
        self.started = time.perf_counter()

    def __call__(self, rows: int, note: str = "") -> None:
        seconds = time.perf_counter() - self.started
        self.log(f"  {self.table}: {rows:,} / ~{round(self.target):,} rows ({seconds:.1f} s){note}")


def generate_parquet(config: BulkConfig, out_dir: Path, log: Log = print) -> dict[str, int]:
    """Write raw_customers/raw_orders/raw_survey_responses.parquet; returns rows per table."""
    if config.customers < 1:
        raise ValueError("customers must be >= 1")
    if config.start_date > config.end_date:
        raise ValueError("start_date must not be after end_date")
    for name, target in (("orders", config.orders), ("responses", config.responses)):
        if target is not None and target < 1:
            raise ValueError(f"{name} must be >= 1")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    n = config.customers
    cust = _customer_codes(config.customers, config.start_date, config.end_date, rng)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    active = np.zeros(n, dtype=bool)  # customers with orders or responses
    log(f"generating {n:,} customers, seed {config.seed} -> {out}")

    # ---- orders: pass 1 simulates who is alive per month, pass 2 draws the orders ----
    start, end = _day_number(config.start_date), _day_number(config.end_date)
    signup_month = _month_index(cust.signup)
    first_month = int(signup_month.min())
    last_month = int(_month_index(np.array([end]))[0])
    months = np.arange(first_month, last_month + 1)
    alive_hist = np.zeros((months.size, n), dtype=bool)
    alive = np.ones(n, dtype=bool)
    activity = rng.gamma(_ACTIVITY_SHAPE, 1.0 / _ACTIVITY_SHAPE, size=n)
    base_rate = _ORDER_RATE[cust.segment] * activity
    for j, month in enumerate(months):  # pass 1
        u = rng.random(n)
        existing = signup_month < month
        stays = np.where(alive, u >= _CHURN_P[cust.segment], u < _REACTIVATE_P[cust.segment])
        alive = np.where(existing, stays, True)
        alive_hist[j] = alive & (cust.signup <= int(_month_first_day(month + 1)) - 1)

    def month_rate(j: int, month: int) -> tuple[np.ndarray, np.ndarray, int]:
        month_lo = int(_month_first_day(month))
        month_hi = int(_month_first_day(month + 1)) - 1
        lo = np.maximum(np.maximum(cust.signup, month_lo), start)
        hi = min(month_hi, end)
        if month_hi < start or month_lo > end:
            return np.zeros(n), lo, hi
        share = np.clip(hi - lo + 1, 0, None) / (month_hi - month_lo + 1)
        lam = np.where(alive_hist[j] & (lo <= hi), base_rate * _SEASON[month % 12] * share, 0.0)
        return lam, lo, hi

    expected = sum(float(month_rate(j, m)[0].sum()) for j, m in enumerate(months))
    scale = config.orders / expected if config.orders and expected > 0 else 1.0
    customer_size = rng.lognormal(0.0, _AMOUNT_CUSTOMER_SIGMA, size=n)
    con.execute(f"CREATE TABLE orders ({_ORDERS_DDL})")
    progress = _Progress(log, ORDERS, expected * scale)
    clean_done = dirty_done = 0
    for j, month in enumerate(months):
        lam, lo, hi = month_rate(j, month)
        who = np.repeat(np.arange(n), rng.poisson(lam * scale))
        m = who.size
        if m:
            active[who] = True
            day = lo[who] + np.floor(rng.random(m) * (hi - lo[who] + 1)).astype(np.int64)
            amount = (
                _AMOUNT_MEDIAN[cust.segment[who]]
                * customer_size[who]
                * rng.lognormal(0.0, _AMOUNT_ORDER_SIGMA, size=m)
            )
            amount_cents = np.maximum(np.rint(amount * 100).astype(np.int64), 100)
            cost_cents = np.rint(amount_cents * rng.uniform(*_COST_SHARE, size=m))
            order = np.argsort(day, kind="stable")  # by day, then customer
            dirty = _dirty_codes(rng, m, len(_ORDER_DIRTY), config.include_dirty)
            ids = _number_rows(dirty, clean_done, dirty_done)
            clean_done += int((dirty == 0).sum())
            dirty_done += int((dirty != 0).sum())
            _insert(
                con,
                "orders",
                {
                    "id": ids,
                    "cust": (who[order] + 1).astype(np.int32),
                    "day": day[order].astype(np.int32),
                    "status": _categorical(rng, _STATUS_SHARE, m).astype(np.int8),
                    "amount": amount_cents[order],
                    "cost": cost_cents[order].astype(np.int64),
                    "dirty": dirty,
                },
            )
        if (j % _PROGRESS_EVERY == _PROGRESS_EVERY - 1 and clean_done) or j == months.size - 1:
            progress(clean_done + dirty_done, " simulated")
    order_width = _id_width(clean_done, 7)

    # ---- responses: pass 1 draws the contact day per quarter, pass 2 the responses ----
    start_month = int(_month_index(np.array([start]))[0])
    quarters = list(range(start_month - start_month % 3, last_month + 1, 3))
    latent = _SCORE_MEAN[cust.segment] + rng.normal(0.0, _SCORE_CUSTOMER_SD, size=n)
    plans = []
    expected = 0.0
    for q_month in quarters:
        q_lo = max(int(_month_first_day(q_month)), start)
        q_hi = min(int(_month_first_day(q_month + 3)) - 1, end)
        lo = np.maximum(cust.signup + 1, q_lo)
        span = np.clip(q_hi - lo + 1, 0, None) * _SECONDS_PER_DAY
        eligible = span > 0
        t0 = lo * _SECONDS_PER_DAY + np.floor(rng.random(n) * span).astype(np.int64)
        row = np.clip(_month_index(t0 // _SECONDS_PER_DAY) - first_month, 0, months.size - 1)
        p = np.where(eligible, np.where(alive_hist[row, np.arange(n)], _RESPOND_P_ALIVE,
                                        _RESPOND_P_CHURNED), 0.0)  # fmt: skip
        expected += float((p * (1 + _EXTRA_CONTACTS[cust.segment])).sum())
        plans.append((lo, span, p.astype(np.float32)))
    factor = config.responses / expected if config.responses and expected > 0 else 1.0
    # Below the natural level fewer accounts answer; above it more contacts per account.
    extra = np.maximum(factor * (1 + _EXTRA_CONTACTS[cust.segment]) - 1, 0.0)
    if factor < 1:
        extra = _EXTRA_CONTACTS[cust.segment]
    con.execute(f"CREATE TABLE responses ({_RESPONSES_DDL})")
    progress = _Progress(log, RESPONSES, expected * factor)
    clean_done = dirty_done = 0
    for q, (lo, span, p) in enumerate(plans):
        respond = rng.random(n) < p * min(factor, 1.0)
        contacts = np.where(respond, 1 + rng.poisson(extra), 0)
        who = np.repeat(np.arange(n), contacts)
        m = who.size
        if m:
            active[who] = True
            t = lo[who] * _SECONDS_PER_DAY + np.floor(rng.random(m) * span[who]).astype(np.int64)
            last_day = _month_first_day(_month_index(t // _SECONDS_PER_DAY) + 1) - 1
            stamp = (rng.random(m) < _MONTH_END_STAMP_P) & (last_day <= end)
            t = np.where(stamp, (last_day + 1) * _SECONDS_PER_DAY - 1, t)
            row = np.clip(_month_index(t // _SECONDS_PER_DAY) - first_month, 0, months.size - 1)
            churned = ~alive_hist[row, who]
            raw = latent[who] + rng.normal(0.0, _SCORE_RESPONSE_SD, size=m)
            score = np.clip(np.rint(raw - _CHURN_SCORE_PENALTY * churned), 0, 10)
            order = np.lexsort((who, t))
            columns = _response_codes(rng, cust, who, score.astype(np.int8))
            columns = {c: v[order] for c, v in columns.items()}
            dirty = _dirty_codes(rng, m, len(_RESPONSE_DIRTY), config.include_dirty)
            ids = _number_rows(dirty, clean_done, dirty_done)
            clean_done += int((dirty == 0).sum())
            dirty_done += int((dirty != 0).sum())
            columns = {"id": ids, "cust": (who[order] + 1).astype(np.int32), "t": t[order],
                       **columns, "dirty": dirty}  # fmt: skip
            _insert(con, "responses", columns)
        if q % 2 == 1 or q == len(plans) - 1:
            progress(clean_done + dirty_done, " simulated")
    response_width = _id_width(clean_done, 6)

    # ---- customers: dirty kinds only on customers without orders or responses ----
    dirty = np.zeros(n, dtype=np.int8)
    if config.include_dirty:
        idle = np.flatnonzero(~active)
        k = min(idle.size, max(len(_CUSTOMER_DIRTY), round(n * DIRTY_RATE)))
        chosen = rng.choice(idle, size=k, replace=False) if k else idle
        dirty[chosen] = np.arange(k) % len(_CUSTOMER_DIRTY) + 1
    customers = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "segment": cust.segment,
            "country": cust.country,
            "signup": cust.signup.astype(np.int32),
            "stem": cust.stem,
            "ind": cust.ind,
            "num": cust.num,
            "legal": cust.legal,
            "first": cust.first,
            "last": cust.last,
            "dirty": dirty,
        }
    )
    con.register("customers", customers)
    customer_width = _id_width(n, 5)

    # ---- write: DuckDB formats the text and writes Parquet ----
    rows: dict[str, int] = {}
    for table, select in (
        (CUSTOMERS, _customers_sql("customers", customer_width)),
        (ORDERS, _orders_sql("orders", order_width, customer_width)),
        (RESPONSES, _responses_sql("responses", response_width, customer_width)),
    ):
        t0 = time.perf_counter()
        path = out / f"{table}.parquet"
        _copy(con, select, path, "parquet")
        rows[table] = con.execute(f"SELECT count(*) FROM {_lit(str(path))}").fetchone()[0]
        log(f"  {table}: {rows[table]:,} rows written to {path} ({time.perf_counter() - t0:.1f} s)")
    con.close()
    seconds = time.perf_counter() - started
    summary = ", ".join(f"{t} {r:,}" for t, r in rows.items())
    log(f"done in {seconds:.1f} s: {summary} rows -> {out}")
    return rows


def _response_codes(
    rng: np.random.Generator, cust: _CustomerCodes, who: np.ndarray, score: np.ndarray
) -> dict[str, np.ndarray]:
    """Score, channel and comment codes of responses by customers ``who``."""
    m = who.size
    has_comment = rng.random(m) < _COMMENT_P
    band = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
    sizes = np.array([len(pool) for pool in _COMMENT_POOLS])
    cidx = np.floor(rng.random(m) * sizes[band]).astype(np.int16)
    ckind = np.where(has_comment, band + 1, 0)
    pii = has_comment & (rng.random(m) < _PII_P)
    phone = pii & (rng.random(m) < 0.5)
    ckind = np.where(pii, np.where(phone, 4, 5), ckind).astype(np.int8)
    nf = np.where(phone, rng.integers(0, len(_FIRST_NAMES), size=m), cust.first[who])
    nl = np.where(phone, rng.integers(0, len(_LAST_NAMES), size=m), cust.last[who])
    return {
        "score": score,
        "channel": _categorical(rng, _CHANNEL_SHARE, m).astype(np.int8),
        "ckind": ckind,
        "cidx": cidx,
        "nf": nf.astype(np.int16),
        "nl": nl.astype(np.int16),
        "stem": cust.stem[who].astype(np.int32),
        "ind": cust.ind[who].astype(np.int16),
        "num": cust.num[who].astype(np.int32),
        "country": cust.country[who].astype(np.int8),
        "phone": rng.integers(1_000_000, 10_000_000, size=m).astype(np.int32),
    }


# --------------------------------------------------------------------------------------------
# Append the next N days
# --------------------------------------------------------------------------------------------

_ID_PATTERN = {CUSTOMERS: "CUST-", ORDERS: "ORD-", RESPONSES: "RSP-"}


def _scan(out: Path, table: str) -> str:
    """SQL source of every raw file of ``table`` in ``out`` (Parquet and CSV), all text."""
    columns = ", ".join(TABLE_COLUMNS[table])
    parts = []
    parquet = sorted(str(p) for p in out.glob(f"{table}*.parquet"))
    csv = sorted(str(p) for p in out.glob(f"{table}*.csv"))
    if parquet:
        parts.append(f"SELECT {columns} FROM read_parquet({_list(parquet)}, union_by_name = true)")
    if csv:
        parts.append(
            f"SELECT {columns} FROM read_csv({_list(csv)}, all_varchar = true, header = true, "
            "delim = ',', quote = '\"', union_by_name = true)"
        )
    if not parts:
        raise FileNotFoundError(f"no {table}*.parquet or {table}*.csv in {out}")
    return "(" + " UNION ALL ".join(parts) + ")"


def _history(
    con: duckdb.DuckDBPyConnection, source: str, table: str, when: str, default_width: int
) -> tuple[int, int, int, int | None, int, int | None, int | None]:
    """Aggregates of the existing ids and dates; clean ids are below the 9xxx dirty range."""
    id_column = TABLE_COLUMNS[table][0]
    sql = f"""
        WITH parsed AS (
            SELECT
                regexp_extract({id_column}, '^{_ID_PATTERN[table]}([0-9]+)$', 1) AS digits,
                CAST(try_cast({when} AS TIMESTAMP) AS DATE) AS day
            FROM {source}
        ),
        ids AS (
            SELECT
                length(digits) AS width,
                CAST(digits AS BIGINT) AS n,
                CAST(digits AS BIGINT) >= 9 * 10 ** (length(digits) - 1) AS in_dirty_range,
                day
            FROM parsed
            WHERE digits <> ''
        )
        SELECT
            max(width) FILTER (NOT in_dirty_range),
            max(n) FILTER (NOT in_dirty_range),
            max(n),
            min(n) FILTER (in_dirty_range),
            count(*) FILTER (NOT in_dirty_range AND day IS NOT NULL),
            min(day) FILTER (NOT in_dirty_range),
            max(day) FILTER (NOT in_dirty_range)
        FROM ids
    """
    width, max_clean, max_all, min_dirty, rows, first, last = con.execute(sql).fetchone()
    first_day = None if first is None else _day_number(first)
    last_day = None if last is None else _day_number(last)
    return (
        width or default_width,
        max_clean or 0,
        max_all or 0,
        min_dirty,
        rows,
        first_day,
        last_day,
    )


def append_days(
    out_dir: Path, days: int, seed: int = 42, fmt: str = "parquet", log: Log = print
) -> dict[str, Path]:
    """Write the next ``days`` days of orders and responses as new files in ``out_dir``.

    Reads only aggregates of the existing raw files (``raw_*.parquet`` / ``raw_*.csv``): the
    valid customers, the largest ids and the last date. New rows belong to valid customers
    (well-formed unique id, known segment and country, signup before the new days), ids
    continue after the largest clean id (below the 9xxx dirty range unless that would collide)
    with the same width, and daily volumes follow the history's average. No dirty rows.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    started = time.perf_counter()
    out = Path(out_dir)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    stats = {
        ORDERS: _history(con, _scan(out, ORDERS), ORDERS, "order_date", 7),
        RESPONSES: _history(con, _scan(out, RESPONSES), RESPONSES, "responded_at", 6),
    }
    last_days = [s[6] for s in stats.values() if s[6] is not None]
    if not last_days:
        raise ValueError(f"no dated orders or responses in {out}")
    first_new = max(last_days) + 1
    new_days = np.arange(first_new, first_new + days)
    first_date = date(1970, 1, 1) + timedelta(days=int(first_new))
    last_date = first_date + timedelta(days=days - 1)
    customers = con.execute(
        f"""
        WITH raw AS (
            SELECT *, count(*) OVER (PARTITION BY customer_id) AS copies
            FROM {_scan(out, CUSTOMERS)}
        )
        SELECT
            length(regexp_extract(customer_id, '^CUST-([0-9]+)$', 1)) AS width,
            CAST(regexp_extract(customer_id, '^CUST-([0-9]+)$', 1) AS BIGINT) AS n,
            list_position({_list(SEGMENTS)}, segment) - 1 AS segment
        FROM raw
        WHERE copies = 1
            AND regexp_full_match(customer_id, 'CUST-[0-9]+')
            AND segment IN {tuple(SEGMENTS)}
            AND country IN {tuple(COUNTRIES)}
            AND try_cast(signup_date AS DATE) < DATE '{first_date.isoformat()}'
            AND CAST(regexp_extract(customer_id, '^CUST-([0-9]+)$', 1) AS BIGINT)
                < 9 * 10 ** (length(customer_id) - 6)
        ORDER BY n
        """
    ).df()
    if customers.empty:
        raise ValueError(f"no valid customers in {out}")
    cust = customers["n"].to_numpy(np.int64)
    segment = customers["segment"].to_numpy(np.int64)
    customer_width = int(customers["width"].max())
    rng = np.random.default_rng(seed)
    suffix = f"append_{first_date:%Y%m%d}_{last_date:%Y%m%d}"
    season = _SEASON[_month_index(new_days) % 12] / _SEASON.mean()
    paths: dict[str, Path] = {}
    for table in (ORDERS, RESPONSES):
        width, max_clean, max_all, min_dirty, rows, first, last = stats[table]
        rate = rows / (last - first + 1) if rows else 0.0
        per_day = rng.poisson(rate * season)
        m = int(per_day.sum())
        next_id = max_clean + 1
        if min_dirty is not None and next_id + m - 1 >= min_dirty:
            next_id = max_all + 1
        if table == ORDERS:
            weights = _ORDER_RATE[segment]
            who = rng.choice(cust.size, size=m, p=weights / weights.sum())
        else:
            who = rng.integers(0, cust.size, size=m)
        day = np.repeat(new_days, per_day)
        seconds = day * _SECONDS_PER_DAY + rng.integers(0, _SECONDS_PER_DAY, size=m)
        order = np.lexsort((cust[who], seconds if table == RESPONSES else day))
        who, day, seconds = who[order], day[order].astype(np.int32), seconds[order]
        seg = segment[who]
        if table == ORDERS:
            sigma = np.hypot(_AMOUNT_CUSTOMER_SIGMA, _AMOUNT_ORDER_SIGMA)
            amount = _AMOUNT_MEDIAN[seg] * rng.lognormal(0.0, sigma, size=m)
            amount_cents = np.maximum(np.rint(amount * 100).astype(np.int64), 100)
            columns = {
                "id": next_id + np.arange(m, dtype=np.int64),
                "cust": cust[who],
                "day": day,
                "status": _categorical(rng, _STATUS_SHARE, m).astype(np.int8),
                "amount": amount_cents,
                "cost": np.rint(amount_cents * rng.uniform(*_COST_SHARE, size=m)).astype(np.int64),
                "dirty": np.zeros(m, dtype=np.int8),
            }
            select = _orders_sql("chunk", width, customer_width)
        else:
            sd = np.hypot(_SCORE_CUSTOMER_SD, _SCORE_RESPONSE_SD)
            score = np.clip(np.rint(_SCORE_MEAN[seg] + rng.normal(0.0, sd, size=m)), 0, 10)
            band = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
            sizes = np.array([len(pool) for pool in _COMMENT_POOLS])
            zeros = np.zeros(m, dtype=np.int32)
            columns = {
                "id": next_id + np.arange(m, dtype=np.int64),
                "cust": cust[who],
                "t": seconds,
                "score": score.astype(np.int8),
                "channel": _categorical(rng, _CHANNEL_SHARE, m).astype(np.int8),
                "ckind": np.where(rng.random(m) < _COMMENT_P, band + 1, 0).astype(np.int8),
                "cidx": np.floor(rng.random(m) * sizes[band]).astype(np.int16),
                **{c: zeros for c in ("nf", "nl", "stem", "ind", "num", "country", "phone")},
                "dirty": np.zeros(m, dtype=np.int8),
            }
            select = _responses_sql("chunk", width, customer_width)
        path = out / f"{table}_{suffix}.{fmt}"
        if path.exists():
            raise FileExistsError(f"{path} exists already")
        con.register("chunk", pd.DataFrame(columns, copy=False))
        _copy(con, select, path, fmt)
        con.unregister("chunk")
        paths[table] = path
        log(f"  {table}: {m:,} rows, ids from {next_id:,} -> {path}")
    con.close()
    seconds = time.perf_counter() - started
    log(f"appended {first_date} .. {last_date} ({days} days) in {seconds:.1f} s -> {out}")
    return paths
