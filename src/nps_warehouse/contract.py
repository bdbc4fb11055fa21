"""The raw tables' contract (docs/METRICS.md, "Raw tables"), in one place: their names and
columns, the vocabularies staging accepts, the columns a load adds, the personal data. The
generator, the intake, the Great Expectations suites and the engines' loaders all read it.
"""

from __future__ import annotations

CUSTOMERS = "raw_customers"
ORDERS = "raw_orders"
RESPONSES = "raw_survey_responses"
ERASURES = "raw_erasure_requests"

# Every raw table's delivered columns, in order; every one is text until staging casts it.
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS: (
        "customer_id",
        "company_name",
        "contact_email",
        "segment",
        "country",
        "signup_date",
    ),
    ORDERS: ("order_id", "customer_id", "order_date", "status", "amount_eur", "cost_eur"),
    RESPONSES: ("response_id", "customer_id", "responded_at", "score", "channel", "comment"),
    ERASURES: ("customer_id", "requested_at"),
}

SEGMENTS: tuple[str, ...] = ("Enterprise", "Mid-Market", "SMB")
COUNTRIES: tuple[str, ...] = ("DE", "AT", "CH")
STATUSES: tuple[str, ...] = ("completed", "cancelled", "returned")

# When a row entered the warehouse (UTC), and the batch it came with: set at intake, not
# delivered. Source freshness reads _loaded_at, and incremental staging finds new rows by it.
LOADED_AT = "_loaded_at"
BATCH_ID = "_batch_id"

# Personal data per raw table, blanked for customers with an erasure request.
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    CUSTOMERS: ("company_name", "contact_email"),
    RESPONSES: ("comment",),
}


def raw_table_ddl(text: str, timestamp: str, suffix: str = "") -> list[str]:
    """The raw tables of an engine that loads them itself (PostgreSQL, Spark): every column of
    type `text`, then _loaded_at of type `timestamp`, then `suffix` (e.g. `using parquet`)."""
    return [
        f"create table if not exists raw.{table} ("
        + ", ".join(f"{column} {text}" for column in columns)
        + f", {LOADED_AT} {timestamp}){suffix}"
        for table, columns in RAW_COLUMNS.items()
    ]
