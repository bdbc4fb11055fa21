"""The Great Expectations suites of the warehouse, as code: one per table, grouped by layer.

Each `SuiteSpec` names the warehouse table it reads and the expectations it holds. A few specs
validate a frame derived from their table in Python (`derive`): a check about the whole spine,
the rollup segment against its segments or the spread over months is a check about a summary
of the table, not about its rows. Their names say so: `<table>.<what the frame holds>`.

- raw (report-only): the seeds, all text. The demo seeds hold documented dirty rows (see the
  docstring of `nps_warehouse.generator`), so these suites report violations, never fail a run.
- staging (strict): typed, cleaned, pseudonymised; keys, types and vocabularies of the contract
  in `shared/spec/METRICS.md`, nothing in the future, no raw personal data.
- marts (strict): what BI reads; columns in contract order, metric ranges, unique spine keys,
  a complete spine per grain and segment, and distributions that a broken join would distort.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Literal

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from nps_warehouse.generator import COUNTRIES, SEGMENTS, STATUSES, TABLE_COLUMNS
from nps_warehouse.rawfiles import LOADED_AT

Layer = Literal["raw", "staging", "marts"]

ROLLUP_SEGMENT = "All"
PERIOD_GRAINS = ("month", "quarter", "year")
RESPONDENT_CATEGORIES = ("promoter", "passive", "detractor")
ADVOCACY_TRENDS = ("climber", "faller", "stable", "new", "never_surveyed")
SPINE_KEY = ("period_grain", "period_start", "segment")

# Thresholds of the distribution checks on the marts.
# No month's responses (segment All) below 10 % of the median month: a broken join collapses a
# month to about nothing, while the first month of the data ramps up to about 20 %.
MIN_MONTH_SHARE_OF_MEDIAN = 0.1
MIN_SEGMENT_SHARE = 0.05  # every segment holds at least 5 % of the customers

# Expected columns, in order. Staging keeps only pseudonymised personal data (`*_hash`) and
# drops the survey comment; marts hold none at all.
COLUMNS: dict[str, tuple[str, ...]] = {
    **{f"raw.{table}": (*columns, LOADED_AT) for table, columns in TABLE_COLUMNS.items()},
    "staging.stg_customers": (
        "customer_id",
        "company_name_hash",
        "contact_email_hash",
        "segment",
        "country",
        "signup_date",
    ),
    "staging.stg_orders": (
        "order_id",
        "customer_id",
        "order_date",
        "status",
        "amount_eur",
        "cost_eur",
    ),
    "staging.stg_survey_responses": (
        "response_id",
        "customer_id",
        "responded_at",
        "score",
        "channel",
        "has_comment",
    ),
    "marts.nps_by_segment_period": (
        "period_grain",
        "period_start",
        "period_end",
        "segment",
        "responses",
        "promoters",
        "passives",
        "detractors",
        "respondents",
        "pct_promoters",
        "pct_passives",
        "pct_detractors",
        "nps",
        "nps_margin_of_error",
        "avg_score",
        "survey_coverage",
    ),
    "marts.retention_by_segment_period": (
        "period_grain",
        "period_start",
        "period_end",
        "segment",
        "customers_start",
        "customers_end",
        "new_customers",
        "acquired_customers",
        "reactivated_customers",
        "retained_customers",
        "churned_customers",
        "retention_rate",
        "churn_rate",
    ),
    "marts.clv_by_segment_period": (
        "period_grain",
        "period_start",
        "period_end",
        "segment",
        "active_customers",
        "orders",
        "revenue",
        "gross_margin",
        "avg_order_value",
        "purchase_frequency",
        "margin_per_customer",
        "retention_rate",
        "discount_rate",
        "expected_lifetime_periods",
        "clv",
    ),
    "marts.customers": (
        "customer_id",
        "segment",
        "country",
        "signup_date",
        "first_order_date",
        "last_order_date",
        "lifetime_orders",
        "lifetime_revenue_eur",
        "lifetime_gross_margin_eur",
        "is_active",
        "latest_data_date",
        "responses",
        "last_responded_at",
        "latest_score",
        "latest_category",
        "previous_category",
        "advocacy_trend",
        "probability_alive",
        "expected_purchases_12m",
        "predicted_clv_12m",
    ),
    "marts.predicted_clv_by_segment": (
        "segment",
        "calibration_end_date",
        "customers",
        "expected_alive_customers",
        "mean_probability_alive",
        "expected_purchases_12m",
        "predicted_clv_12m",
        "mean_predicted_clv_12m",
    ),
    "marts.survey_responses": (
        "response_id",
        "customer_id",
        "segment",
        "country",
        "responded_at",
        "response_date",
        "month_start",
        "quarter_start",
        "year_start",
        "score",
        "respondent_category",
        "channel",
        "has_comment",
    ),
}


@dataclass(frozen=True)
class SuiteSpec:
    """One suite: its name, layer, the table it reads and how to build its expectations."""

    name: str
    layer: Layer
    table: str
    expectations: Callable[[], list[gxe.Expectation]]
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None

    @property
    def strict(self) -> bool:
        """A strict suite fails the run; a report-only one (raw) only reports."""
        return self.layer != "raw"

    def build(self) -> gx.ExpectationSuite:
        return gx.ExpectationSuite(name=self.name, expectations=self.expectations())


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _columns(table: str) -> gxe.Expectation:
    return gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(COLUMNS[table]))


def _not_empty() -> gxe.Expectation:
    return gxe.ExpectTableRowCountToBeBetween(min_value=1)


def _not_null(*columns: str) -> list[gxe.Expectation]:
    return [gxe.ExpectColumnValuesToNotBeNull(column=column) for column in columns]


def _key(*columns: str) -> list[gxe.Expectation]:
    """Primary key: every part not null, the whole unique."""
    unique: gxe.Expectation = (
        gxe.ExpectColumnValuesToBeUnique(column=columns[0])
        if len(columns) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))
    )
    return [*_not_null(*columns), unique]


def _in_set(column: str, values: Sequence[str]) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values))


def _between(
    column: str, min_value: float | None = None, max_value: float | None = None
) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=min_value, max_value=max_value
    )


def _non_negative(*columns: str) -> list[gxe.Expectation]:
    return [_between(column, min_value=0) for column in columns]


def _percentages(*columns: str) -> list[gxe.Expectation]:
    return [_between(column, 0, 100) for column in columns]


def _types(**types: str) -> list[gxe.Expectation]:
    """Column dtypes as pandas reads them from DuckDB (date and timestamp: datetime64)."""
    return [gxe.ExpectColumnTypeToBe(column=column, type_=type_) for column, type_ in types.items()]


def _regex(column: str, pattern: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(column=column, regex=pattern)


def _at_most(column: str, other: str) -> gxe.Expectation:
    """`column` <= `other` on every row."""
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=other, column_B=column, or_equal=True
    )


def _not_after(column: str, day: date) -> gxe.Expectation:
    """Dates or timestamps on `day` or before (strictly before the next midnight)."""
    next_midnight = datetime.combine(day + timedelta(days=1), time())
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, max_value=next_midnight, strict_max=True
    )


def _respondent_category(score: int) -> str:
    """The contract's category of a score (METRICS.md section 1)."""
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


# --------------------------------------------------------------------------------------------
# raw (report-only): every column is text
# --------------------------------------------------------------------------------------------

# Ids as the generator writes them (the digits widen with the volume).
CUSTOMER_ID = r"^CUST-\d{5,}$"
ORDER_ID = r"^ORD-\d{7,}$"
RESPONSE_ID = r"^RSP-\d{6,}$"
NON_NEGATIVE_AMOUNT = r"^\d+(?:\.\d+)?$"
WHOLE_SCORE = r"^(?:10|\d)$"
ISO_DATE = "%Y-%m-%d"
ISO_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def _raw_customers() -> list[gxe.Expectation]:
    return [
        _columns("raw.raw_customers"),
        _not_empty(),
        *_key("customer_id"),
        _regex("customer_id", CUSTOMER_ID),
        _in_set("segment", SEGMENTS),
        _in_set("country", COUNTRIES),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(column="signup_date", strftime_format=ISO_DATE),
    ]


def _raw_orders() -> list[gxe.Expectation]:
    return [
        _columns("raw.raw_orders"),
        _not_empty(),
        *_key("order_id"),
        _regex("order_id", ORDER_ID),
        *_not_null("customer_id"),
        _regex("customer_id", CUSTOMER_ID),
        _in_set("status", STATUSES),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(column="order_date", strftime_format=ISO_DATE),
        _regex("amount_eur", NON_NEGATIVE_AMOUNT),
        _regex("cost_eur", NON_NEGATIVE_AMOUNT),
    ]


def _raw_survey_responses() -> list[gxe.Expectation]:
    return [
        _columns("raw.raw_survey_responses"),
        _not_empty(),
        *_key("response_id"),
        _regex("response_id", RESPONSE_ID),
        *_not_null("customer_id", "score"),
        _regex("customer_id", CUSTOMER_ID),
        _regex("score", WHOLE_SCORE),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(
            column="responded_at", strftime_format=ISO_TIMESTAMP
        ),
    ]


def raw_suites() -> list[SuiteSpec]:
    return [
        SuiteSpec("raw.raw_customers", "raw", "raw.raw_customers", _raw_customers),
        SuiteSpec("raw.raw_orders", "raw", "raw.raw_orders", _raw_orders),
        SuiteSpec(
            "raw.raw_survey_responses", "raw", "raw.raw_survey_responses", _raw_survey_responses
        ),
    ]


# --------------------------------------------------------------------------------------------
# staging (strict): typed and clean
# --------------------------------------------------------------------------------------------

SHA256_HEX = r"^[0-9a-f]{64}$"


def staging_suites(today: date) -> list[SuiteSpec]:
    """The staging suites; `today` bounds every date (nothing staged lies in the future)."""

    def customers() -> list[gxe.Expectation]:
        return [
            _columns("staging.stg_customers"),
            _not_empty(),
            *_key("customer_id"),
            *_types(customer_id="str", segment="str", country="str", signup_date="datetime64"),
            _in_set("segment", SEGMENTS),
            _in_set("country", COUNTRIES),
            _regex("company_name_hash", SHA256_HEX),
            _regex("contact_email_hash", SHA256_HEX),
            _not_after("signup_date", today),
        ]

    def orders() -> list[gxe.Expectation]:
        return [
            _columns("staging.stg_orders"),
            _not_empty(),
            *_key("order_id"),
            *_not_null("customer_id", "order_date", "status", "amount_eur", "cost_eur"),
            *_types(
                order_id="str",
                customer_id="str",
                order_date="datetime64",
                status="str",
                amount_eur="float64",
                cost_eur="float64",
            ),
            _in_set("status", STATUSES),
            *_non_negative("amount_eur", "cost_eur"),
            _not_after("order_date", today),
        ]

    def survey_responses() -> list[gxe.Expectation]:
        return [
            _columns("staging.stg_survey_responses"),
            _not_empty(),
            *_key("response_id"),
            *_not_null("customer_id", "responded_at", "score", "channel"),
            *_types(
                response_id="str",
                customer_id="str",
                responded_at="datetime64",
                score="int32",
                has_comment="bool",
            ),
            _between("score", 0, 10),
            _not_after("responded_at", today),
        ]

    return [
        SuiteSpec("staging.stg_customers", "staging", "staging.stg_customers", customers),
        SuiteSpec("staging.stg_orders", "staging", "staging.stg_orders", orders),
        SuiteSpec(
            "staging.stg_survey_responses",
            "staging",
            "staging.stg_survey_responses",
            survey_responses,
        ),
    ]


# --------------------------------------------------------------------------------------------
# marts (strict): what BI reads
# --------------------------------------------------------------------------------------------


def _period_mart_shape(table: str) -> list[gxe.Expectation]:
    """What the three period marts share: columns, spine key, grains and segments."""
    return [
        _columns(table),
        _not_empty(),
        *_key(*SPINE_KEY),
        *_not_null("period_end"),
        _in_set("period_grain", PERIOD_GRAINS),
        _in_set("segment", (*SEGMENTS, ROLLUP_SEGMENT)),
        gxe.ExpectColumnDistinctValuesToEqualSet(
            column="period_grain", value_set=list(PERIOD_GRAINS)
        ),
        gxe.ExpectColumnDistinctValuesToEqualSet(
            column="segment", value_set=[*SEGMENTS, ROLLUP_SEGMENT]
        ),
        _at_most("period_start", "period_end"),
    ]


def _nps() -> list[gxe.Expectation]:
    return [
        *_period_mart_shape("marts.nps_by_segment_period"),
        *_non_negative("responses", "promoters", "passives", "detractors", "respondents"),
        _at_most("respondents", "responses"),
        *_percentages("pct_promoters", "pct_passives", "pct_detractors", "survey_coverage"),
        _between("nps", -100, 100),
        _between("nps_margin_of_error", min_value=0),
        _between("avg_score", 0, 10),
    ]


def _retention() -> list[gxe.Expectation]:
    return [
        *_period_mart_shape("marts.retention_by_segment_period"),
        *_non_negative(
            "customers_start",
            "customers_end",
            "new_customers",
            "acquired_customers",
            "reactivated_customers",
            "retained_customers",
            "churned_customers",
        ),
        *_percentages("retention_rate", "churn_rate"),
    ]


def _clv() -> list[gxe.Expectation]:
    return [
        *_period_mart_shape("marts.clv_by_segment_period"),
        *_non_negative("active_customers", "orders", "revenue", "avg_order_value"),
        gxe.ExpectColumnValuesToBeBetween(column="discount_rate", min_value=0, strict_min=True),
        _between("retention_rate", 0, 100),
        _between("purchase_frequency", min_value=1),
        _between("expected_lifetime_periods", min_value=1),
    ]


def _customers() -> list[gxe.Expectation]:
    return [
        _columns("marts.customers"),
        _not_empty(),
        *_key("customer_id"),
        *_not_null("segment", "country", "is_active", "advocacy_trend"),
        _in_set("segment", SEGMENTS),
        _in_set("country", COUNTRIES),
        *_non_negative("lifetime_orders", "lifetime_revenue_eur", "responses"),
        _at_most("first_order_date", "last_order_date"),
        _between("latest_score", 0, 10),
        _in_set("latest_category", RESPONDENT_CATEGORIES),
        _in_set("previous_category", RESPONDENT_CATEGORIES),
        _in_set("advocacy_trend", ADVOCACY_TRENDS),
        _between("probability_alive", 0, 1),
        *_non_negative("expected_purchases_12m"),
    ]


def _predicted_clv() -> list[gxe.Expectation]:
    return [
        _columns("marts.predicted_clv_by_segment"),
        _not_empty(),
        *_key("segment"),
        _in_set("segment", (*SEGMENTS, ROLLUP_SEGMENT)),
        *_not_null("customers"),
        _between("mean_probability_alive", 0, 1),
        *_non_negative("customers", "expected_alive_customers", "expected_purchases_12m"),
    ]


def _survey_responses() -> list[gxe.Expectation]:
    return [
        _columns("marts.survey_responses"),
        _not_empty(),
        *_key("response_id"),
        *_not_null("customer_id", "segment", "month_start", "quarter_start", "year_start"),
        _in_set("segment", SEGMENTS),
        _in_set("country", COUNTRIES),
        _between("score", 0, 10),
        gxe.ExpectColumnPairValuesToBeInSet(
            column_A="score",
            column_B="respondent_category",
            value_pairs_set=[(score, _respondent_category(score)) for score in range(11)],
        ),
    ]


# Derived frames --------------------------------------------------------------------------

_PERIOD_FREQUENCY = {"month": "M", "quarter": "Q", "year": "Y"}


def spine_frame(mart: pd.DataFrame) -> pd.DataFrame:
    """One row per (grain, segment): its rows, and the periods from the grain's first to last."""
    rows = mart.groupby(["period_grain", "segment"]).size().rename("rows").reset_index()
    bounds = mart.groupby("period_grain")["period_start"].agg(["min", "max"])
    expected = {
        grain: len(pd.period_range(first, last, freq=_PERIOD_FREQUENCY[grain]))
        for grain, (first, last) in bounds.iterrows()
        if grain in _PERIOD_FREQUENCY
    }
    return rows.assign(expected_periods=rows["period_grain"].map(expected))


def _spine() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToEqual(value=len(PERIOD_GRAINS) * (len(SEGMENTS) + 1)),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["period_grain", "segment"]),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="rows", column_B="expected_periods"),
    ]


def rollup_frame(mart: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """One row per period: `<column>_all` of segment All and `<column>_segments`, their sum."""
    is_rollup = mart["segment"] == ROLLUP_SEGMENT
    keys = ["period_grain", "period_start"]
    rollup = mart[is_rollup].set_index(keys)[list(columns)].add_suffix("_all")
    segments = mart[~is_rollup].groupby(keys)[list(columns)].sum().add_suffix("_segments")
    return rollup.join(segments, how="outer").reset_index()


def _rollup(equal: Sequence[str], at_most: Sequence[str]) -> Callable[[], list[gxe.Expectation]]:
    """Counts that partition by segment add up exactly; distinct customers never exceed."""

    def expectations() -> list[gxe.Expectation]:
        return [
            _not_empty(),
            *[
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A=f"{column}_all", column_B=f"{column}_segments"
                )
                for column in equal
            ],
            *[_at_most(f"{column}_all", f"{column}_segments") for column in at_most],
        ]

    return expectations


def monthly_responses_frame(nps: pd.DataFrame) -> pd.DataFrame:
    """Segment All by month: responses and their ratio to the median month."""
    months = nps[(nps["segment"] == ROLLUP_SEGMENT) & (nps["period_grain"] == "month")]
    months = months[["period_start", "responses"]].sort_values("period_start")
    return months.assign(share_of_median=months["responses"] / months["responses"].median())


def _monthly_responses() -> list[gxe.Expectation]:
    return [_not_empty(), _between("share_of_median", min_value=MIN_MONTH_SHARE_OF_MEDIAN)]


def segment_shares_frame(customers: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: its customers and their share of all customers."""
    counts = customers.groupby("segment").size().rename("customers").reset_index()
    return counts.assign(share=counts["customers"] / counts["customers"].sum())


def _segment_shares() -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnDistinctValuesToEqualSet(column="segment", value_set=list(SEGMENTS)),
        _between("share", min_value=MIN_SEGMENT_SHARE),
    ]


def _period_mart(
    table: str,
    expectations: Callable[[], list[gxe.Expectation]],
    rollup_equal: Sequence[str],
    rollup_at_most: Sequence[str],
) -> list[SuiteSpec]:
    """A period mart's own suite, then its spine and its rollup (segment All vs segments)."""
    return [
        SuiteSpec(table, "marts", table, expectations),
        SuiteSpec(f"{table}.spine", "marts", table, _spine, spine_frame),
        SuiteSpec(
            f"{table}.rollup",
            "marts",
            table,
            _rollup(rollup_equal, rollup_at_most),
            partial(rollup_frame, columns=(*rollup_equal, *rollup_at_most)),
        ),
    ]


def mart_suites() -> list[SuiteSpec]:
    nps = "marts.nps_by_segment_period"
    return [
        *_period_mart(
            nps,
            _nps,
            rollup_equal=("responses", "promoters", "passives", "detractors"),
            rollup_at_most=("respondents",),
        ),
        SuiteSpec(
            f"{nps}.monthly_responses", "marts", nps, _monthly_responses, monthly_responses_frame
        ),
        *_period_mart(
            "marts.retention_by_segment_period",
            _retention,
            rollup_equal=(),
            rollup_at_most=("customers_start", "customers_end"),
        ),
        *_period_mart(
            "marts.clv_by_segment_period",
            _clv,
            rollup_equal=("orders",),
            rollup_at_most=("active_customers",),
        ),
        SuiteSpec("marts.customers", "marts", "marts.customers", _customers),
        SuiteSpec(
            "marts.customers.segment_shares",
            "marts",
            "marts.customers",
            _segment_shares,
            segment_shares_frame,
        ),
        SuiteSpec("marts.survey_responses", "marts", "marts.survey_responses", _survey_responses),
        SuiteSpec(
            "marts.predicted_clv_by_segment",
            "marts",
            "marts.predicted_clv_by_segment",
            _predicted_clv,
        ),
    ]


def all_suites(today: date) -> list[SuiteSpec]:
    """Every suite, raw first; `today` bounds the staged dates."""
    return [*raw_suites(), *staging_suites(today), *mart_suites()]
