"""Tests of the synthetic raw data generator, derived from its written contract (the CSV files
it writes, read back as text)."""

from __future__ import annotations

import calendar
import csv
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from nps_warehouse import generator
from nps_warehouse.generator import TABLE_COLUMNS, DirtyRow, GeneratorConfig

CUSTOMERS, ORDERS, RESPONSES = "raw_customers", "raw_orders", "raw_survey_responses"
ID_COLUMN = {CUSTOMERS: "customer_id", ORDERS: "order_id", RESPONSES: "response_id"}
SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
COUNTRIES = ("DE", "AT", "CH")
STATUSES = ("completed", "cancelled", "returned")
CHANNELS = ("email", "web", "phone", "in_app")
LEGAL_FORMS = {
    "DE": ("GmbH", "AG", "GmbH & Co. KG", "SE"),
    "AT": ("GmbH", "AG", "OG"),
    "CH": ("AG", "GmbH", "SA", "Sàrl"),
}
DEFAULT = GeneratorConfig()

# The dirty rows the spec asks for: (table, kind) -> (expected fate, number of DirtyRows).
EXPECTED_DIRTY: dict[tuple[str, str], tuple[str, int]] = {
    (CUSTOMERS, "whitespace_case_variant"): ("staged", 1),
    (CUSTOMERS, "exact_duplicate"): ("duplicate customer_id (identical row)", 1),
    (CUSTOMERS, "conflicting_duplicate"): ("conflicting duplicate customer_id", 2),
    (CUSTOMERS, "unknown_segment"): ("unknown segment", 1),
    (CUSTOMERS, "unknown_country"): ("unknown country", 1),
    (CUSTOMERS, "missing_id"): ("missing customer_id", 1),
    (CUSTOMERS, "invalid_signup_date"): ("invalid signup_date", 1),
    (CUSTOMERS, "future_signup_date"): ("signup_date in the future", 1),
    (ORDERS, "status_variant"): ("staged", 1),
    (ORDERS, "customer_id_variant"): ("staged", 1),
    (ORDERS, "exact_duplicate"): ("duplicate order_id (identical row)", 1),
    (ORDERS, "conflicting_duplicate"): ("conflicting duplicate order_id", 2),
    (ORDERS, "unknown_customer"): ("unknown customer_id", 1),
    (ORDERS, "negative_amount"): ("negative amount_eur", 1),
    (ORDERS, "invalid_amount"): ("invalid amount_eur", 1),
    (ORDERS, "future_order_date"): ("order_date in the future", 1),
    (ORDERS, "invalid_order_date"): ("invalid order_date", 1),
    (ORDERS, "unknown_status"): ("unknown status", 1),
    (ORDERS, "missing_id"): ("missing order_id", 1),
    (ORDERS, "negative_cost"): ("negative cost_eur", 1),
    (RESPONSES, "score_whitespace_variant"): ("staged", 1),
    (RESPONSES, "customer_id_case_variant"): ("staged", 1),
    (RESPONSES, "pii_comment"): ("staged", 1),
    (RESPONSES, "score_too_high"): ("score outside 0..10", 1),
    (RESPONSES, "score_negative"): ("score outside 0..10", 1),
    (RESPONSES, "score_not_a_number"): ("score is not a number", 1),
    (RESPONSES, "missing_score"): ("missing score", 1),
    (RESPONSES, "score_not_whole"): ("score is not a whole number", 1),
    (RESPONSES, "exact_duplicate"): ("duplicate response_id (identical row)", 1),
    (RESPONSES, "conflicting_duplicate"): ("conflicting duplicate response_id", 2),
    (RESPONSES, "unknown_customer"): ("unknown customer_id", 1),
    (RESPONSES, "future_responded_at"): ("responded_at in the future", 1),
    (RESPONSES, "invalid_responded_at"): ("invalid responded_at", 1),
    (RESPONSES, "missing_id"): ("missing response_id", 1),
}

EMAIL_RE = re.compile(r"[a-z]+(?:-[a-z]+)*\.[a-z]+@[a-z0-9]+(?:-[a-z0-9]+)*\.(de|at|ch)")
PII_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
GERMAN_MARKERS = (
    r"\b(?:der|die|das|den|dem|und|zu|mit|ist|nicht|aber|wir|uns|sehr|gut|bitte|um|an|für|von"
    r"|ein|eine|kam|war|sein|gerne|so|auch|noch|viel)\b"
)
PII_PHONE_RE = re.compile(r"\+4[139][ \d]{6,}")


# --------------------------------------------------------------------------------------------
# fixtures / helpers
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """The three tables as read back from the CSV files (all text, empty stays empty)."""

    customers: pd.DataFrame
    orders: pd.DataFrame
    responses: pd.DataFrame
    dirty: list[DirtyRow]
    paths: dict[str, Path]


def generate(config: GeneratorConfig, out: Path, fmt: str = "csv") -> Dataset:
    written = generator.generate(config, out, fmt=fmt, log=lambda _: None)
    frames = {
        table: pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        for table, path in written.paths.items()
        if fmt == "csv"
    }
    return Dataset(
        frames.get(CUSTOMERS, pd.DataFrame()),
        frames.get(ORDERS, pd.DataFrame()),
        frames.get(RESPONSES, pd.DataFrame()),
        written.dirty,
        written.paths,
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return generate(DEFAULT, tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def clean_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return generate(replace(DEFAULT, include_dirty=False), tmp_path_factory.mktemp("clean"))


def frames(ds: Dataset) -> dict[str, pd.DataFrame]:
    return {CUSTOMERS: ds.customers, ORDERS: ds.orders, RESPONSES: ds.responses}


def dirty_ids(ds: Dataset, table: str) -> set[str]:
    return {d.row_id for d in ds.dirty if d.table == table}


def clean_rows(ds: Dataset, table: str) -> pd.DataFrame:
    frame = frames(ds)[table]
    return frame[~frame[ID_COLUMN[table]].isin(dirty_ids(ds, table))]


def norm(value: str) -> str:
    return value.strip().upper()


def signup_by_customer(ds: Dataset) -> dict[str, date]:
    """Signup date of every clean customer, keyed by normalised id."""
    out: dict[str, date] = {}
    for cid, signup in zip(ds.customers["customer_id"], ds.customers["signup_date"], strict=True):
        key = norm(cid)
        if re.fullmatch(r"CUST-\d{5}", key) and int(key[5:]) <= DEFAULT.customers:
            out[key] = date.fromisoformat(signup)
    return out


def months_between(first: date, last: date) -> list[tuple[int, int]]:
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# --------------------------------------------------------------------------------------------
# A small re-implementation of the staging rules of the spec (used to check every row's fate)
# --------------------------------------------------------------------------------------------


def parse_date(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_timestamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def canonical(value: str, vocabulary: tuple[str, ...]) -> str | None:
    matches = [v for v in vocabulary if v.lower() == value.strip().lower()]
    return matches[0] if matches else None


def money_problem(value: str, column: str) -> str | None:
    try:
        number = float(value.strip())
    except ValueError:
        return f"invalid {column}"
    if not np.isfinite(number):
        return f"invalid {column}"
    return f"negative {column}" if number < 0 else None


def score_problem(value: str) -> str | None:
    text = value.strip()
    if text == "":
        return "missing score"
    try:
        number = float(text)
    except ValueError:
        return "score is not a number"
    if number != int(number):
        return "score is not a whole number"
    return "score outside 0..10" if not 0 <= number <= 10 else None


def stage_table(
    frame: pd.DataFrame, key: str, row_problems: list[list[str]], cleaned: list[tuple[str, ...]]
) -> list[str]:
    """Add the duplicate rules to the per-row problems and return each row's fate."""
    keys = [norm(v) for v in frame[key]]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        if k:
            groups[k].append(i)
    for rows in groups.values():
        if len(rows) < 2:
            continue
        if len({cleaned[i] for i in rows}) == 1:
            for i in rows[1:]:
                row_problems[i].append(f"duplicate {key} (identical row)")
        else:
            for i in rows:
                row_problems[i].append(f"conflicting duplicate {key}")
    return ["; ".join(p) if p else "staged" for p in row_problems]


def stage(ds: Dataset) -> dict[str, list[str]]:
    today = date.today()
    c = ds.customers
    problems: list[list[str]] = []
    cleaned: list[tuple[str, ...]] = []
    for row in c.itertuples(index=False):
        p = []
        if norm(row.customer_id) == "":
            p.append("missing customer_id")
        segment, country = canonical(row.segment, SEGMENTS), canonical(row.country, COUNTRIES)
        if segment is None:
            p.append("unknown segment")
        if country is None:
            p.append("unknown country")
        signup = parse_date(row.signup_date)
        if signup is None:
            p.append("invalid signup_date")
        elif signup > today:
            p.append("signup_date in the future")
        problems.append(p)
        cleaned.append(
            (norm(row.customer_id), row.company_name.strip(), row.contact_email.strip())
            + (str(segment), str(country), row.signup_date.strip())
        )
    customer_fate = stage_table(c, "customer_id", problems, cleaned)
    staged_customers = {
        norm(cid)
        for cid, fate in zip(c["customer_id"], customer_fate, strict=True)
        if fate == "staged"
    }

    o = ds.orders
    problems, cleaned = [], []
    for row in o.itertuples(index=False):
        p = []
        if norm(row.order_id) == "":
            p.append("missing order_id")
        if norm(row.customer_id) not in staged_customers:
            p.append("unknown customer_id")
        day = parse_date(row.order_date)
        if day is None:
            p.append("invalid order_date")
        elif day > today:
            p.append("order_date in the future")
        status = canonical(row.status, STATUSES)
        if status is None:
            p.append("unknown status")
        p += [
            x
            for x in (
                money_problem(row.amount_eur, "amount_eur"),
                money_problem(row.cost_eur, "cost_eur"),
            )
            if x
        ]
        problems.append(p)
        cleaned.append(
            (norm(row.order_id), norm(row.customer_id), row.order_date.strip(), str(status))
            + (row.amount_eur.strip(), row.cost_eur.strip())
        )
    order_fate = stage_table(o, "order_id", problems, cleaned)

    r = ds.responses
    problems, cleaned = [], []
    for row in r.itertuples(index=False):
        p = []
        if norm(row.response_id) == "":
            p.append("missing response_id")
        if norm(row.customer_id) not in staged_customers:
            p.append("unknown customer_id")
        stamp = parse_timestamp(row.responded_at)
        if stamp is None:
            p.append("invalid responded_at")
        elif stamp.date() > today:
            p.append("responded_at in the future")
        problem = score_problem(row.score)
        if problem:
            p.append(problem)
        problems.append(p)
        cleaned.append(
            (norm(row.response_id), norm(row.customer_id), row.responded_at.strip())
            + (row.score.strip(), row.channel.strip(), row.comment)
        )
    response_fate = stage_table(r, "response_id", problems, cleaned)
    return {CUSTOMERS: customer_fate, ORDERS: order_fate, RESPONSES: response_fate}


# --------------------------------------------------------------------------------------------
# determinism, shape, output format
# --------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_csv_bytes(tmp_path: Path) -> None:
    first = generate(GeneratorConfig(seed=7), tmp_path / "a").paths
    second = generate(GeneratorConfig(seed=7), tmp_path / "b").paths
    assert set(first) == set(second) == set(TABLE_COLUMNS)
    for table in TABLE_COLUMNS:
        assert first[table].read_bytes() == second[table].read_bytes()


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    first = generate(GeneratorConfig(seed=1), tmp_path / "a").paths
    second = generate(GeneratorConfig(seed=2), tmp_path / "b").paths
    for table in TABLE_COLUMNS:
        assert first[table].read_bytes() != second[table].read_bytes()


def test_csv_format(dataset: Dataset) -> None:
    paths = dataset.paths
    assert {t: p.name for t, p in paths.items()} == {t: f"{t}.csv" for t in TABLE_COLUMNS}
    assert sorted(p.name for p in paths[CUSTOMERS].parent.iterdir()) == sorted(
        p.name for p in paths.values()
    ), "no scratch files are left behind"
    for table, path in paths.items():
        raw = path.read_bytes()
        assert b"\r" not in raw
        text = raw.decode("utf-8")
        assert text.endswith("\n")
        assert text.splitlines()[0] == ",".join(TABLE_COLUMNS[table])
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert len(rows) - 1 == len(frames(dataset)[table])
        assert all(len(row) == len(TABLE_COLUMNS[table]) for row in rows)
        # Padded values keep their blanks; empty values are empty fields, never "".
        assert '""' not in text
    assert "Sàrl" in paths[CUSTOMERS].read_text(encoding="utf-8") or not (
        dataset.customers["company_name"].str.endswith("Sàrl").any()
    )


def test_csv_and_parquet_hold_the_same_text(dataset: Dataset, tmp_path: Path) -> None:
    parquet = generate(DEFAULT, tmp_path, fmt="parquet")
    assert parquet.dirty == dataset.dirty
    for table, path in parquet.paths.items():
        assert path.name == f"{table}.parquet"
        frame = duckdb.sql(f"SELECT * FROM '{path}'").df()
        assert list(frame.columns) == list(TABLE_COLUMNS[table])
        pd.testing.assert_frame_equal(
            frame.fillna("").astype(object), frames(dataset)[table].astype(object)
        )


def test_rows_in_id_order_dirty_rows_beside_their_source(dataset: Dataset) -> None:
    dirty_range = {CUSTOMERS: "CUST-9", ORDERS: "ORD-9", RESPONSES: "RSP-9"}
    for table, frame in frames(dataset).items():
        keys = frame[ID_COLUMN[table]].map(norm)
        added = ((keys == "") | keys.str.startswith(dirty_range[table])).to_numpy()
        assert keys[~added].is_monotonic_increasing, table
        # An added dirty row follows its source row (and the other row of its pair), from
        # which it differs in its id and at most one other column.
        values = frame.to_numpy()
        source = None
        for row, is_added in zip(values, added, strict=True):
            if not is_added:
                source = row
                continue
            assert source is not None, table
            assert (row != source).sum() <= 2, (table, row, source)


# --------------------------------------------------------------------------------------------
# sizes and clean-row contract
# --------------------------------------------------------------------------------------------


def test_default_sizes_meet_minimums(dataset: Dataset) -> None:
    customers = clean_rows(dataset, CUSTOMERS)
    orders = clean_rows(dataset, ORDERS)
    responses = clean_rows(dataset, RESPONSES)
    assert len(customers) >= 300
    combos = set(zip(customers["segment"], customers["country"], strict=True))
    assert combos == {(s, c) for s in SEGMENTS for c in COUNTRIES}
    assert len(orders) >= 5_000
    assert orders["order_date"].str[:7].nunique() >= 24
    assert len(responses) >= 1_500


def test_clean_customers_contract(dataset: Dataset) -> None:
    c = clean_rows(dataset, CUSTOMERS)
    assert c["customer_id"].str.fullmatch(r"CUST-\d{5}").all()
    assert c["customer_id"].is_unique
    assert c["segment"].isin(SEGMENTS).all()
    assert c["country"].isin(COUNTRIES).all()
    assert c["signup_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    signup = pd.to_datetime(c["signup_date"], format="%Y-%m-%d")
    assert signup.min() >= pd.Timestamp("2023-06-15")  # ~6 months before start_date
    assert signup.max() <= pd.Timestamp("2026-01-15")  # ~6 months before end_date
    assert signup.max() >= pd.Timestamp("2025-10-01")  # the spread reaches that far


def test_clean_customer_names_and_emails(dataset: Dataset) -> None:
    keys = dataset.customers["customer_id"].map(norm)
    c = dataset.customers[keys.isin(signup_by_customer(dataset).keys())]  # clean + variants
    c = c.drop_duplicates()  # the exact duplicate copy
    assert len(c) == DEFAULT.customers
    assert c["company_name"].is_unique
    assert c["contact_email"].is_unique
    for name, email, country in zip(
        c["company_name"], c["contact_email"], c["country"], strict=True
    ):
        country = country.strip().upper()
        assert any(name.endswith(" " + form) for form in LEGAL_FORMS[country]), (name, country)
        assert len(name.split()) >= 3
        assert email.isascii() and EMAIL_RE.fullmatch(email), email
        assert email.endswith("." + country.lower())
    assert c["company_name"].str.contains("[äöüÄÖÜß]").any()  # umlauts are used
    assert c["contact_email"].str.contains("ae|oe|ue|ss").any()  # and transliterated


def test_segment_and_country_shares(dataset: Dataset) -> None:
    c = clean_rows(dataset, CUSTOMERS)
    segment = c["segment"].value_counts(normalize=True)
    country = c["country"].value_counts(normalize=True)
    for value, share in (("Enterprise", 0.20), ("Mid-Market", 0.35), ("SMB", 0.45)):
        assert abs(segment[value] - share) < 0.08, (value, segment[value])
    for value, share in (("DE", 0.60), ("AT", 0.20), ("CH", 0.20)):
        assert abs(country[value] - share) < 0.08, (value, country[value])


def test_clean_orders_contract(dataset: Dataset) -> None:
    o = clean_rows(dataset, ORDERS)
    signups = signup_by_customer(dataset)
    assert o["order_id"].str.fullmatch(r"ORD-\d{7}").all()
    assert o["order_id"].is_unique
    assert o["customer_id"].str.fullmatch(r"CUST-\d{5}").all()
    assert o["customer_id"].isin(signups.keys()).all()
    assert o["status"].isin(STATUSES).all()
    for column in ("amount_eur", "cost_eur"):
        assert o[column].str.fullmatch(r"\d+\.\d{2}").all(), column
    amount, cost = o["amount_eur"].astype(float), o["cost_eur"].astype(float)
    assert (amount > 0).all() and (cost >= 0).all()
    assert (cost <= amount).all()
    ratio = cost / amount
    assert ratio.min() >= 0.54 and ratio.max() <= 0.81
    assert o["order_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    days = pd.to_datetime(o["order_date"], format="%Y-%m-%d").dt.date
    assert days.min() >= DEFAULT.start_date and days.max() <= DEFAULT.end_date
    signup = o["customer_id"].map(signups)
    assert (days >= signup).all()


def test_order_status_and_amount_distribution(dataset: Dataset) -> None:
    o = clean_rows(dataset, ORDERS)
    status = o["status"].value_counts(normalize=True)
    assert 0.86 <= status["completed"] <= 0.94
    assert 0.03 <= status["cancelled"] <= 0.09
    assert 0.02 <= status["returned"] <= 0.07
    segment = dict(zip(dataset.customers["customer_id"], dataset.customers["segment"], strict=True))
    median = o["amount_eur"].astype(float).groupby(o["customer_id"].map(segment)).median()
    for value, target in (("Enterprise", 9_000), ("Mid-Market", 2_500), ("SMB", 700)):
        assert target / 1.5 <= median[value] <= target * 1.5, (value, median[value])


def test_clean_responses_contract(dataset: Dataset) -> None:
    r = clean_rows(dataset, RESPONSES)
    signups = signup_by_customer(dataset)
    assert r["response_id"].str.fullmatch(r"RSP-\d{6}").all()
    assert r["response_id"].is_unique
    assert r["customer_id"].str.fullmatch(r"CUST-\d{5}").all()
    assert r["customer_id"].isin(signups.keys()).all()
    assert r["score"].str.fullmatch(r"\d{1,2}").all()
    assert r["score"].astype(int).between(0, 10).all()
    assert r["channel"].isin(CHANNELS).all()
    assert r["responded_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
    stamps = pd.to_datetime(r["responded_at"], format="%Y-%m-%d %H:%M:%S")
    assert stamps.min() >= pd.Timestamp(DEFAULT.start_date)
    assert stamps.max() < pd.Timestamp(DEFAULT.end_date) + pd.Timedelta(days=1)
    assert (stamps.dt.date > r["customer_id"].map(signups)).all()  # only after signup


def test_month_end_stamps(dataset: Dataset) -> None:
    stamps = clean_rows(dataset, RESPONSES)["responded_at"]
    month_end = [
        s
        for s in stamps
        if s.endswith(" 23:59:59")
        and int(s[8:10]) == calendar.monthrange(int(s[:4]), int(s[5:7]))[1]
    ]
    assert len(month_end) >= 5


def test_comments_german_and_some_pii(dataset: Dataset) -> None:
    comments = clean_rows(dataset, RESPONSES)["comment"]
    filled = comments[comments != ""]
    assert 0.1 <= len(filled) / len(comments) <= 0.5  # mostly empty
    assert filled.str.contains("[äöüß]").any()
    german = filled.str.contains(GERMAN_MARKERS, case=False) | filled.str.contains("[äöüß]")
    assert german.mean() >= 0.75
    with_email = filled[filled.str.contains(PII_EMAIL_RE)]
    with_phone = filled[filled.str.contains(PII_PHONE_RE)]
    assert len(with_email) >= 1 and len(with_phone) >= 1
    assert len(with_email) + len(with_phone) <= 0.1 * len(filled)  # "a few"
    assert not comments.str.contains("\n").any()


# --------------------------------------------------------------------------------------------
# realism of the dynamics
# --------------------------------------------------------------------------------------------


def test_enterprise_scores_higher_than_smb(dataset: Dataset) -> None:
    r = clean_rows(dataset, RESPONSES)
    segment = {
        norm(k): v
        for k, v in zip(dataset.customers["customer_id"], dataset.customers["segment"], strict=True)
    }
    means = r["score"].astype(int).groupby(r["customer_id"].map(segment)).mean()
    assert means["Enterprise"] > means["Mid-Market"] > means["SMB"]
    assert means["Enterprise"] - means["SMB"] >= 0.5


def test_churned_then_reactivated_customers_exist(dataset: Dataset) -> None:
    o = clean_rows(dataset, ORDERS)
    o = o[o["status"] == "completed"]
    days = pd.to_datetime(o["order_date"], format="%Y-%m-%d")
    reactivated = []
    for customer, group in days.groupby(o["customer_id"]):
        ordered = group.sort_values().reset_index(drop=True)
        gaps = ordered.diff().dt.days
        for position in np.flatnonzero(gaps.to_numpy() > 365):
            if position < len(ordered) - 1:  # the customer kept ordering after coming back
                reactivated.append(customer)
    assert len(set(reactivated)) >= 2


def test_churned_customers_score_lower(dataset: Dataset) -> None:
    """Responses of customers without a completed order in the prior 6 months score lower."""
    o = clean_rows(dataset, ORDERS)
    o = o[o["status"] == "completed"]
    r = clean_rows(dataset, RESPONSES)
    order_days = pd.to_datetime(o["order_date"]).groupby(o["customer_id"]).apply(list).to_dict()
    quiet, active = [], []
    for cid, stamp, score in zip(
        r["customer_id"], pd.to_datetime(r["responded_at"]), r["score"].astype(int), strict=True
    ):
        if stamp < pd.Timestamp(DEFAULT.start_date) + pd.Timedelta(days=183):
            continue
        recent = any(stamp - pd.Timedelta(days=183) <= d <= stamp for d in order_days.get(cid, []))
        (active if recent else quiet).append(score)
    assert len(quiet) >= 30
    # "Quiet" is only a proxy for churned (low-rate customers can be quiet too), hence the margin.
    assert np.mean(quiet) < np.mean(active) - 0.2


def test_seasonality(dataset: Dataset) -> None:
    o = clean_rows(dataset, ORDERS)
    c = clean_rows(dataset, CUSTOMERS)
    signup = pd.to_datetime(c["signup_date"])
    per_month = o["order_date"].str[:7].value_counts()
    orders_by_calendar_month: Counter[int] = Counter()
    customers_by_calendar_month: Counter[int] = Counter()
    for year, month in months_between(DEFAULT.start_date, DEFAULT.end_date):
        key = f"{year:04d}-{month:02d}"
        orders_by_calendar_month[month] += int(per_month.get(key, 0))
        customers_by_calendar_month[month] += int((signup <= pd.Timestamp(year, month, 1)).sum())
    rate = {m: orders_by_calendar_month[m] / customers_by_calendar_month[m] for m in range(1, 13)}
    assert rate[8] < 0.85 * rate[3]
    assert rate[8] < 0.85 * rate[11]
    assert rate[12] < rate[11]


# --------------------------------------------------------------------------------------------
# dirty rows
# --------------------------------------------------------------------------------------------


def test_dirty_rows_match_the_spec(dataset: Dataset) -> None:
    assert all(isinstance(d, DirtyRow) for d in dataset.dirty)
    counts = Counter((d.table, d.kind) for d in dataset.dirty)
    assert dict(counts) == {key: n for key, (_, n) in EXPECTED_DIRTY.items()}
    for d in dataset.dirty:
        assert d.expected == EXPECTED_DIRTY[(d.table, d.kind)][0], d
    assert len(set(dataset.dirty)) == len(dataset.dirty) - 3  # the conflicting pairs repeat
    with pytest.raises(AttributeError):
        dataset.dirty[0].kind = "other"  # type: ignore[misc]


def test_dirty_kinds_are_documented() -> None:
    doc = generator.__doc__ or ""
    assert {(t, k): v for t, kinds in generator.DIRTY_KINDS.items() for k, v in kinds.items()} == {
        key: fate for key, (fate, _) in EXPECTED_DIRTY.items()
    }
    for (_, kind), (fate, _) in EXPECTED_DIRTY.items():
        assert re.search(rf"^{kind}\s.*\s{re.escape(fate)}$", doc, re.MULTILINE), kind


def rows_of(ds: Dataset, d: DirtyRow) -> pd.DataFrame:
    frame = frames(ds)[d.table]
    return frame[frame[ID_COLUMN[d.table]] == d.row_id]


def test_dirty_rows_content(dataset: Dataset, clean_dataset: Dataset) -> None:
    clean = clean_dataset
    clean_ids = {t: set(f[ID_COLUMN[t]]) for t, f in frames(clean).items()}
    customer_ids = clean_ids[CUSTOMERS]
    for d in dataset.dirty:
        rows = rows_of(dataset, d)
        assert len(rows) >= 1, d
        row = rows.iloc[-1]
        if d.kind in ("exact_duplicate", "conflicting_duplicate"):
            assert len(rows) == 2, d
            first, second = rows.iloc[0], rows.iloc[1]
            differing = [c for c in rows.columns if first[c] != second[c]]
            if d.kind == "exact_duplicate":
                assert differing == [] and d.row_id in clean_ids[d.table]
            else:
                assert (
                    differing
                    == {
                        CUSTOMERS: ["segment"],
                        ORDERS: ["amount_eur"],
                        RESPONSES: ["score"],
                    }[d.table]
                )
                assert d.row_id not in clean_ids[d.table]
                if d.table == RESPONSES:
                    assert rows["score"].astype(int).between(0, 10).all()
            continue
        assert len(rows) == 1, d
        if d.kind == "missing_id":
            assert d.row_id == ""
        elif "variant" in d.kind:
            assert norm(d.row_id) in clean_ids[d.table]
        else:  # appended rows live in their own id range, never a clean id
            assert d.row_id not in clean_ids[d.table]
            prefix = {CUSTOMERS: "CUST-9", ORDERS: "ORD-9", RESPONSES: "RSP-9"}[d.table]
            assert d.row_id.startswith(prefix), d
        check = {
            (CUSTOMERS, "unknown_segment"): row.get("segment") == "Startup",
            (CUSTOMERS, "unknown_country"): row.get("country") == "FR",
            (CUSTOMERS, "invalid_signup_date"): row.get("signup_date") == "31.02.2024",
            (CUSTOMERS, "future_signup_date"): row.get("signup_date") == "2031-01-15",
            (ORDERS, "status_variant"): row.get("status")
            == f" {str(row.get('status')).strip().capitalize()} ",
            (ORDERS, "unknown_customer"): row.get("customer_id") == "CUST-99999",
            (ORDERS, "negative_amount"): bool(
                re.fullmatch(r"-\d+\.\d{2}", str(row.get("amount_eur")))
            ),
            (ORDERS, "invalid_amount"): row.get("amount_eur") == "n/a",
            (ORDERS, "future_order_date"): row.get("order_date") == "2031-06-01",
            (ORDERS, "invalid_order_date"): row.get("order_date") == "2025-13-01",
            (ORDERS, "unknown_status"): row.get("status") == "pending",
            (ORDERS, "negative_cost"): str(row.get("cost_eur")).startswith("-"),
            (RESPONSES, "score_whitespace_variant"): bool(
                re.fullmatch(r" (\d|10) ", str(row.get("score")))
            ),
            (RESPONSES, "score_too_high"): row.get("score") == "11",
            (RESPONSES, "score_negative"): row.get("score") == "-1",
            (RESPONSES, "score_not_a_number"): row.get("score") == "ten",
            (RESPONSES, "missing_score"): row.get("score") == "",
            (RESPONSES, "score_not_whole"): row.get("score") == "7.5",
            (RESPONSES, "unknown_customer"): row.get("customer_id") == "CUST-99999",
            (RESPONSES, "future_responded_at"): row.get("responded_at") == "2031-03-01 10:00:00",
            (RESPONSES, "invalid_responded_at"): row.get("responded_at") == "not a date",
            (RESPONSES, "pii_comment"): bool(PII_EMAIL_RE.search(str(row.get("comment")))),
        }.get((d.table, d.kind), True)
        assert check, (d, row.to_dict())
        if d.kind == "whitespace_case_variant":
            assert re.fullmatch(r" cust-\d{5} ", d.row_id)
            assert row["segment"] != row["segment"].strip()
            assert row["segment"].strip() == row["segment"].strip().lower()
            assert canonical(row["segment"], SEGMENTS) is not None
            assert row["country"] != row["country"].strip()
            assert canonical(row["country"], COUNTRIES) is not None
            original = clean.customers[clean.customers["customer_id"] == norm(d.row_id)].iloc[0]
            assert canonical(row["segment"], SEGMENTS) == original["segment"]
            assert canonical(row["country"], COUNTRIES) == original["country"]
        if d.kind in ("customer_id_variant", "customer_id_case_variant"):
            assert row["customer_id"] != norm(row["customer_id"])
            assert norm(row["customer_id"]) in customer_ids
        if d.kind == "customer_id_variant":
            assert row["customer_id"] == " " + norm(row["customer_id"]).lower()  # " cust-00003"
        if d.kind == "customer_id_case_variant":
            assert row["customer_id"] == row["customer_id"].lower()


def test_every_row_gets_its_documented_fate(dataset: Dataset) -> None:
    """Applying the staging rules of the spec stages clean rows and rejects dirty rows as listed."""
    fates = stage(dataset)
    for table, frame in frames(dataset).items():
        actual: dict[str, Counter[str]] = defaultdict(Counter)
        for raw_id, fate in zip(frame[ID_COLUMN[table]], fates[table], strict=True):
            actual[raw_id][fate] += 1
        expected: dict[str, Counter[str]] = defaultdict(Counter)
        for d in dataset.dirty:
            if d.table == table:
                expected[d.row_id][d.expected] += 1
        for raw_id, counter in actual.items():
            missing = sum(counter.values()) - sum(expected[raw_id].values())
            assert missing >= 0, raw_id
            if missing:
                expected[raw_id]["staged"] += missing
        assert {k: v for k, v in actual.items()} == {k: v for k, v in expected.items() if v}, table


def test_dirty_customers_have_no_orders_or_responses(dataset: Dataset) -> None:
    rejected = {
        norm(d.row_id)
        for d in dataset.dirty
        if d.table == CUSTOMERS and d.expected != "staged" and d.kind != "exact_duplicate"
    }
    for frame in (dataset.orders, dataset.responses):
        assert not frame["customer_id"].map(norm).isin(rejected - {""}).any()


def test_without_dirty_rows_everything_is_clean(dataset: Dataset, clean_dataset: Dataset) -> None:
    assert clean_dataset.dirty == []
    patterns = {CUSTOMERS: r"CUST-\d{5}", ORDERS: r"ORD-\d{7}", RESPONSES: r"RSP-\d{6}"}
    for table, frame in frames(clean_dataset).items():
        ids = frame[ID_COLUMN[table]]
        assert ids.str.fullmatch(patterns[table]).all() and ids.is_unique
        assert not ids.str.startswith(("CUST-9", "ORD-9", "RSP-9")).any()
        assert not (ids.isin(dirty_ids(dataset, table) - set(ids))).any()
    for fates in stage(clean_dataset).values():
        assert set(fates) == {"staged"}
    # The dirty dataset is the clean one plus the documented changes only.
    for table, frame in frames(clean_dataset).items():
        dirty_frame = frames(dataset)[table]
        untouched = dirty_frame[~dirty_frame[ID_COLUMN[table]].isin(dirty_ids(dataset, table))]
        base = frame[frame[ID_COLUMN[table]].isin(set(untouched[ID_COLUMN[table]]))]
        pd.testing.assert_frame_equal(untouched.reset_index(drop=True), base.reset_index(drop=True))
        # Missing from the untouched rows: the variants and the originals of exact duplicates.
        touched = [
            d
            for d in dataset.dirty
            if d.table == table and d.kind.endswith(("variant", "duplicate"))
        ]
        assert len(frame) - len(base) == len(
            [d for d in touched if d.kind != "conflicting_duplicate"]
        )


# --------------------------------------------------------------------------------------------
# scale
# --------------------------------------------------------------------------------------------


def test_bigger_config_scales_proportionally(dataset: Dataset, tmp_path: Path) -> None:
    started = time.perf_counter()
    big = generate(GeneratorConfig(customers=20_000, seed=3), tmp_path)
    elapsed = time.perf_counter() - started
    assert elapsed < 20  # a few seconds normally; generous for slow, shared CI machines
    factor = 20_000 / DEFAULT.customers
    for table in TABLE_COLUMNS:
        small_n = len(clean_rows(dataset, table))
        big_n = len(clean_rows(big, table))
        assert 0.75 * factor <= big_n / small_n <= 1.33 * factor, (table, big_n, small_n)
    big_clean = clean_rows(big, CUSTOMERS)
    assert big_clean["company_name"].is_unique
    assert big_clean["contact_email"].is_unique
    assert clean_rows(big, CUSTOMERS)["customer_id"].str.fullmatch(r"CUST-\d{5}").all()


def test_id_width_grows_and_stays_below_the_dirty_range() -> None:
    width = generator._id_width
    assert width(360, 5) == 5
    assert width(89_999, 5) == 5
    assert width(90_000, 5) == 6  # CUST-090000 .. never reaches CUST-900001
    assert width(1_000_000, 5) == 7
    assert width(9_999_999, 7) == 8
