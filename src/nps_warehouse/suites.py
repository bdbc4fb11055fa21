"""The Great Expectations suites, as code: only what dbt's tests (keys, types, vocabularies,
ranges, the period spine, rollups) do not already check, each on a small frame.

- intake (`INTAKE_SUITES`, a delivery before anything is built): the shapes of the delivered
  text on a sample of each file, with a tolerance (`mostly`): a few bad rows are the
  quarantine's business, a column mostly in another format (German dates, decimal commas)
  means a wrong export and refuses the delivery; and its rows per day against earlier ones.
- marts (`MART_SUITES`, the candidate before it is published): distributions a broken join or
  a lost delivery would distort: month-over-month responses, every segment's share.
"""

from __future__ import annotations

from collections.abc import Callable

import great_expectations.expectations as gxe

from nps_warehouse.contract import COUNTRIES, SEGMENTS, STATUSES

# A sample this large tells a column's format within about a percent.
SHAPE_SAMPLE_ROWS = 100_000
MIN_ROWS_FOR_SHAPES = 100
# The share of a sample's values that must have the expected shape.
MOSTLY = 0.9
# A delivery's rows per covered day may be at most this many times the previous deliveries'
# median: more means a file duplicated into itself, or history resent as new rows.
MAX_DAILY_RATE_RATIO = 10.0
# Interior months (not the first or the newest, which may be partial) keep at least this share
# of the previous month's responses: seasonality and quarterly surveys move a month by about
# half at most (demo 0.53, 1M orders 0.71), a broken join or a lost delivery to nearly nothing.
MIN_MONTH_OVER_MONTH = 0.25
MIN_SEGMENT_SHARE = 0.05  # every segment holds at least 5 % of the customers

ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"
ISO_TIMESTAMP = (
    r"^\s*\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
DECIMAL_POINT = r"^\s*[+-]?\d+(?:\.\d+)?\s*$"
WHOLE_NUMBER = r"^\s*[+-]?\d+\s*$"

# The raw tables that have a day column, for the size check: table -> column.
DAY_COLUMNS = {"raw_orders": "order_date", "raw_survey_responses": "responded_at"}

# What each shape means, for the sentence that refuses a delivery.
MEANING = {
    ISO_DATE: "an ISO date (YYYY-MM-DD)",
    ISO_TIMESTAMP: "an ISO timestamp (YYYY-MM-DD HH:MM:SS, optionally with an offset)",
    DECIMAL_POINT: "a number with a decimal point (not a decimal comma)",
    WHOLE_NUMBER: "a whole number",
}


def _shape(column: str, pattern: str, means: str | None = None) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=pattern, mostly=MOSTLY, meta={"means": means or MEANING[pattern]}
    )


def _one_of(column: str, values: tuple[str, ...]) -> gxe.Expectation:
    """Case and surrounding whitespace aside (staging normalises both)."""
    choices = "|".join(value.replace("-", r"\-") for value in values)
    return _shape(column, rf"(?i)^\s*(?:{choices})\s*$", f"one of {', '.join(values)}")


def _present(*columns: str) -> list[gxe.Expectation]:
    return [gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=MOSTLY) for column in columns]


# Each suite: its name -> a function building its expectations (fresh ones for every run). The
# name's last part names the frame the suite validates: a raw table's sample, or a summary.
Suites = dict[str, Callable[[], list[gxe.Expectation]]]

# Per raw table, the shapes of its delivered text; then the delivery's daily rates.
INTAKE_SUITES: Suites = {
    "intake.raw_customers": lambda: [
        *_present("customer_id", "segment", "country", "signup_date"),
        _one_of("segment", SEGMENTS),
        _one_of("country", COUNTRIES),
        _shape("signup_date", ISO_DATE),
    ],
    "intake.raw_orders": lambda: [
        *_present("order_id", "customer_id", "order_date", "status", "amount_eur", "cost_eur"),
        _shape("order_date", ISO_DATE),
        _one_of("status", STATUSES),
        _shape("amount_eur", DECIMAL_POINT),
        _shape("cost_eur", DECIMAL_POINT),
    ],
    "intake.raw_survey_responses": lambda: [
        *_present("response_id", "customer_id", "responded_at", "score"),
        _shape("responded_at", ISO_TIMESTAMP),
        _shape("score", WHOLE_NUMBER),
    ],
    "intake.raw_erasure_requests": lambda: [
        *_present("customer_id"),
        _shape("requested_at", ISO_TIMESTAMP),
    ],
    "intake.daily_rates": lambda: [
        gxe.ExpectColumnValuesToBeBetween(
            column="ratio_to_previous", min_value=0, max_value=MAX_DAILY_RATE_RATIO
        )
    ],
}

MART_SUITES: Suites = {
    "marts.nps_by_segment_period.monthly_responses": lambda: [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToBeBetween(
            column="ratio_to_previous_month", min_value=MIN_MONTH_OVER_MONTH
        ),
    ],
    "marts.customers.segment_shares": lambda: [
        gxe.ExpectColumnDistinctValuesToEqualSet(column="segment", value_set=list(SEGMENTS)),
        gxe.ExpectColumnValuesToBeBetween(column="share", min_value=MIN_SEGMENT_SHARE),
    ],
}
