"""Deterministic, vectorised generator for the raw NPS warehouse data.

The generator simulates a B2B company selling to customers in Germany, Austria and Switzerland
and writes three raw tables whose columns are all text (missing value = empty string):

* ``raw_customers``: customer_id, company_name, contact_email, segment, country, signup_date
* ``raw_orders``: order_id, customer_id, order_date, status, amount_eur, cost_eur
* ``raw_survey_responses``: response_id, customer_id, responded_at, score, channel, comment

Model (all draws from one ``numpy.random.default_rng(seed)``, vectorised over customers, with
loops only over months/quarters):

* Customers: segment Enterprise/Mid-Market/SMB ~ 20/35/45 %, country DE/AT/CH ~ 60/20/20 %,
  signup uniform from ~6 months before ``start_date`` to ~6 months before ``end_date``.
  Customer ids are assigned in signup order. Company names are a surname or an invented word,
  an industry word and a legal form of the country; e-mails are
  ``firstname.lastname@<company-slug>.<tld>`` (ASCII, umlauts transliterated).
* Orders: every customer lives month by month from its signup month; alive customers churn
  with a monthly probability by segment (Enterprise lowest, SMB highest) and churned customers
  reactivate with a monthly probability. Orders per alive month ~ Poisson(segment rate x
  customer activity x seasonality), where August and December are weak and March and November
  strong. The order day is uniform within the (partial) month. Status completed/cancelled/
  returned ~ 90/6/4 %, amount lognormal by segment (medians ~9,000 / 2,500 / 700 EUR),
  cost = amount x uniform(0.55, 0.8). Order ids are assigned in date order.
* Survey responses: each quarter an alive customer responds with probability 0.5 and a churned
  one with probability 0.1; a responding account answers with 1 + Poisson(contacts by segment)
  contacts (B2B: several people per account). Score = latent customer satisfaction (segment
  mean, Enterprise happiest) + per-response noise - churn penalty, rounded and clipped to 0..10.
  About 2 % of the responses are stamped at 23:59:59 on the last day of their month. About 30 %
  carry a German comment; about 2 % of the comments contain personal data (an e-mail address,
  or a person's name and phone number). Response ids are assigned in time order.

Dirty rows (only with ``include_dirty=True``) are listed per dataset in ``Dataset.dirty`` as
``DirtyRow(table, row_id, kind, expected)``. ``row_id`` is the raw id as written ("" when the
id is missing); ``expected`` is ``"staged"`` or the rejection reason the staging models emit.
Appended dirty rows use a separate id range (``CUST-9xxxx``, ``ORD-9xxxxxx``, ``RSP-9xxxxx``)
that clean ids never reach (``CUST-99999``, all nines, is never assigned and serves as the
unknown customer); "variant" rows are clean rows modified in place and keep their clean id.

``raw_customers``:

========================  ===================================  =====================================
kind                      example                              expected fate
========================  ===================================  =====================================
whitespace_case_variant   id " cust-00007 ", segment           staged
                          "  enterprise ", country " de"
                          (in place)
exact_duplicate           identical copy of a clean row        duplicate customer_id (identical row)
conflicting_duplicate     two rows CUST-90001, segment SMB     conflicting duplicate customer_id
                          vs Mid-Market (two DirtyRows)
unknown_segment           segment "Startup"                    unknown segment
unknown_country           country "FR"                         unknown country
missing_id                customer_id ""                       missing customer_id
invalid_signup_date       signup_date "31.02.2024"             invalid signup_date
future_signup_date        signup_date "2031-01-15"             signup_date in the future
========================  ===================================  =====================================

``raw_orders``:

========================  ===================================  =====================================
kind                      example                              expected fate
========================  ===================================  =====================================
status_variant            status " Completed " (in place)      staged
customer_id_variant       customer_id " cust-00003"            staged
                          (in place)
exact_duplicate           identical copy of a clean row        duplicate order_id (identical row)
conflicting_duplicate     two rows ORD-9000001, amount         conflicting duplicate order_id
                          1200.00 vs 1350.00 (two DirtyRows)
unknown_customer          customer_id "CUST-99999"             unknown customer_id
negative_amount           amount_eur "-250.00"                 negative amount_eur
invalid_amount            amount_eur "n/a"                     invalid amount_eur
future_order_date         order_date "2031-06-01"              order_date in the future
invalid_order_date        order_date "2025-13-01"              invalid order_date
unknown_status            status "pending"                     unknown status
missing_id                order_id ""                          missing order_id
negative_cost             cost_eur "-10.00"                    negative cost_eur
========================  ===================================  =====================================

``raw_survey_responses``:

========================  ===================================  =====================================
kind                      example                              expected fate
========================  ===================================  =====================================
score_whitespace_variant  score " 9 " (in place)               staged
customer_id_case_variant  customer_id "cust-00004"             staged
                          (in place)
pii_comment               valid row, comment holds an          staged
                          e-mail address
score_too_high            score "11"                           score outside 0..10
score_negative            score "-1"                           score outside 0..10
score_not_a_number        score "ten"                          score is not a number
missing_score             score ""                             missing score
score_not_whole           score "7.5"                          score is not a whole number
exact_duplicate           identical copy of a clean row        duplicate response_id (identical row)
conflicting_duplicate     two rows RSP-900007, score 3 vs      conflicting duplicate response_id
                          9 (two DirtyRows)
unknown_customer          customer_id "CUST-99999"             unknown customer_id
future_responded_at       responded_at "2031-03-01 10:00:00"   responded_at in the future
invalid_responded_at      responded_at "not a date"            invalid responded_at
missing_id                response_id ""                       missing response_id
========================  ===================================  =====================================

Each dirty row has exactly one problem. For an exact duplicate only the appended copy is listed
(the original clean row keeps its fate "staged"). Dirty customers have no orders or responses;
appended dirty orders and responses belong to the first clean customer.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from nps_warehouse.contract import (
    COUNTRIES,
    CUSTOMERS,
    ORDERS,
    RAW_COLUMNS,
    RESPONSES,
    SEGMENTS,
    STATUSES,
)

__all__ = [
    "DIRTY_KINDS",
    "TABLE_COLUMNS",
    "Dataset",
    "DirtyRow",
    "GeneratorConfig",
    "generate",
    "write_csv",
]

# --------------------------------------------------------------------------------------------
# Public contract
# --------------------------------------------------------------------------------------------

# The tables the generator writes (their columns: the raw contract, nps_warehouse.contract).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    table: RAW_COLUMNS[table] for table in (CUSTOMERS, ORDERS, RESPONSES)
}

CHANNELS: tuple[str, ...] = ("email", "web", "phone", "in_app")

# Every dirty kind per table with the expected fate (the documented catalogue).
DIRTY_KINDS: dict[str, dict[str, str]] = {
    CUSTOMERS: {
        "whitespace_case_variant": "staged",
        "exact_duplicate": "duplicate customer_id (identical row)",
        "conflicting_duplicate": "conflicting duplicate customer_id",
        "unknown_segment": "unknown segment",
        "unknown_country": "unknown country",
        "missing_id": "missing customer_id",
        "invalid_signup_date": "invalid signup_date",
        "future_signup_date": "signup_date in the future",
    },
    ORDERS: {
        "status_variant": "staged",
        "customer_id_variant": "staged",
        "exact_duplicate": "duplicate order_id (identical row)",
        "conflicting_duplicate": "conflicting duplicate order_id",
        "unknown_customer": "unknown customer_id",
        "negative_amount": "negative amount_eur",
        "invalid_amount": "invalid amount_eur",
        "future_order_date": "order_date in the future",
        "invalid_order_date": "invalid order_date",
        "unknown_status": "unknown status",
        "missing_id": "missing order_id",
        "negative_cost": "negative cost_eur",
    },
    RESPONSES: {
        "score_whitespace_variant": "staged",
        "customer_id_case_variant": "staged",
        "pii_comment": "staged",
        "score_too_high": "score outside 0..10",
        "score_negative": "score outside 0..10",
        "score_not_a_number": "score is not a number",
        "missing_score": "missing score",
        "score_not_whole": "score is not a whole number",
        "exact_duplicate": "duplicate response_id (identical row)",
        "conflicting_duplicate": "conflicting duplicate response_id",
        "unknown_customer": "unknown customer_id",
        "future_responded_at": "responded_at in the future",
        "invalid_responded_at": "invalid responded_at",
        "missing_id": "missing response_id",
    },
}


@dataclass(frozen=True)
class GeneratorConfig:
    """Parameters of one generated dataset (dates inclusive)."""

    seed: int = 42
    customers: int = 360
    start_date: date = date(2024, 1, 1)
    end_date: date = date(2026, 6, 30)
    include_dirty: bool = True


@dataclass(frozen=True)
class DirtyRow:
    """One deliberately dirty raw row and the fate the staging layer must give it."""

    table: str
    row_id: str
    kind: str
    expected: str


@dataclass
class Dataset:
    """The three raw tables (all columns text) plus the list of dirty rows."""

    customers: pd.DataFrame
    orders: pd.DataFrame
    responses: pd.DataFrame
    dirty: list[DirtyRow] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Model parameters (index order = SEGMENTS / COUNTRIES / STATUSES / CHANNELS)
# --------------------------------------------------------------------------------------------

_SEGMENT_SHARE = np.array([0.20, 0.35, 0.45])
_COUNTRY_SHARE = np.array([0.60, 0.20, 0.20])
_STATUS_SHARE = np.array([0.90, 0.06, 0.04])
_CHANNEL_SHARE = np.array([0.45, 0.30, 0.10, 0.15])

_SIGNUP_LEAD_DAYS = 182  # signups from ~6 months before start until ~6 months before end
_CHURN_P = np.array([0.008, 0.018, 0.035])  # monthly churn probability of an alive customer
_REACTIVATE_P = np.array([0.05, 0.05, 0.05])  # monthly reactivation of a churned customer
_ORDER_RATE = np.array([1.55, 1.2, 0.85])  # orders per alive month before seasonality
_ACTIVITY_SHAPE = 4.0  # gamma shape of the per-customer activity multiplier (mean 1)
# Seasonality by calendar month Jan..Dec: weak August/December, strong March/November.
_SEASON = np.array([0.95, 1.0, 1.25, 1.05, 1.0, 0.95, 0.9, 0.6, 1.05, 1.1, 1.3, 0.7])
_AMOUNT_MEDIAN = np.array([9000.0, 2500.0, 700.0])
_AMOUNT_CUSTOMER_SIGMA = 0.3
_AMOUNT_ORDER_SIGMA = 0.45
_COST_SHARE = (0.55, 0.8)

_RESPOND_P_ALIVE = 0.5
_RESPOND_P_CHURNED = 0.1
_EXTRA_CONTACTS = np.array([1.0, 0.7, 0.45])  # extra respondents per responding account
_SCORE_MEAN = np.array([8.4, 7.6, 6.9])
_SCORE_CUSTOMER_SD = 1.0
_SCORE_RESPONSE_SD = 1.2
_CHURN_SCORE_PENALTY = 2.5
_MONTH_END_STAMP_P = 0.02
_COMMENT_P = 0.3
_PII_P = 0.02  # share of comments holding personal data

_SECONDS_PER_DAY = 86_400

# --------------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------------

_FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Lukas", "Jürgen", "Sophie", "Maximilian", "Katharina", "Jörg", "Lena", "Felix",
    "Björn", "Marie", "Tobias", "Sören", "Julia", "Matthias", "Andrea", "Günther", "Sabine",
    "Stefan", "Claudia", "Michael", "Laura", "Florian", "Hannah", "Thomas", "Nicole", "Markus",
    "Birgit", "Sebastian", "Ursula", "Dominik", "Verena", "René", "Chloé", "Reto", "Urs", "Beat",
    "Nadine", "Manuela", "Franziska", "Lars", "Jan", "Timo", "Kerstin", "Ralf", "Ute", "Ida",
    "Emil", "Theresa", "Valentin",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Krause", "Meier", "Lehmann", "Köhler", "Huber", "Gruber", "Pichler", "Moser",
    "Steiner", "Mayer", "Egger", "Brunner", "Berger", "Fuchs", "Lang", "Weiß", "Groß", "Keller",
    "Frei", "Baumann", "Gerber", "Widmer", "Bühler", "Käser", "Lüthi", "Zürcher", "Bachmann",
    "Graf", "Vogel", "Jäger", "Böhm", "Kühn", "Sommer",
)  # fmt: skip
_WORD_PREFIXES: tuple[str, ...] = (
    "Alp", "Nord", "Rhein", "Donau", "Berg", "Tal", "Inn", "Elb", "Isar", "Main", "Neckar",
    "Süd", "Wald", "Stein", "Sonnen", "Licht", "Kraft", "Aare", "Limmat", "Boden", "Ost",
    "West", "Fels", "Eder", "Ruhr",
)  # fmt: skip
_WORD_SUFFIXES: tuple[str, ...] = (
    "tec", "werk", "data", "con", "tronic", "plan", "logic", "form", "line", "med", "sys",
    "ware", "trans", "print", "tex",
)  # fmt: skip
_INDUSTRIES: tuple[str, ...] = (
    "Logistik", "Maschinenbau", "Bau", "Elektrotechnik", "Software", "Consulting",
    "Medizintechnik", "Handel", "Druck", "Metallbau", "Holzbau", "Energie", "Systeme",
    "Kunststofftechnik", "Feinmechanik", "Lebensmittel", "Textil", "Automation", "Verpackung",
    "Datentechnik", "Gebäudetechnik", "Umwelttechnik", "Pharma", "Möbel", "Spedition",
    "Anlagenbau", "Optik", "Werkzeugbau", "Sanitär", "Großhandel",
)  # fmt: skip
# Legal forms per country with their probabilities.
_LEGAL_FORMS: dict[str, tuple[tuple[str, float], ...]] = {
    "DE": (("GmbH", 0.6), ("AG", 0.1), ("GmbH & Co. KG", 0.25), ("SE", 0.05)),
    "AT": (("GmbH", 0.75), ("AG", 0.1), ("OG", 0.15)),
    "CH": (("AG", 0.55), ("GmbH", 0.3), ("SA", 0.1), ("Sàrl", 0.05)),
}
_PHONE_PREFIX: tuple[str, ...] = ("+49 151 ", "+43 664 ", "+41 79 ")

_COMMENTS_DETRACTOR: tuple[str, ...] = (
    "Lieferung kam zu spät.",
    "Der Support reagiert viel zu langsam.",
    "Zu teuer für das, was geboten wird.",
    "Mehrfach falsche Rechnungen erhalten.",
    "Wir überlegen, den Anbieter zu wechseln.",
    "Die Ware war beschädigt, die Reklamation dauerte Wochen.",
)
_COMMENTS_PASSIVE: tuple[str, ...] = (
    "Im Großen und Ganzen in Ordnung.",
    "Preis-Leistung passt, Lieferzeiten könnten kürzer sein.",
    "Solide, aber nichts Besonderes.",
    "Die Rechnungsstellung ist manchmal unübersichtlich.",
    "Gut, aber die Dokumentation könnte besser sein.",
)
_COMMENTS_PROMOTER: tuple[str, ...] = (
    "Sehr zufrieden mit der Zusammenarbeit.",
    "Schnelle Lieferung, top Service!",
    "Der Support ist kompetent und freundlich.",
    "Alles bestens, gerne weiter so.",
    "Zuverlässiger Partner, klare Empfehlung.",
    "Die neue Funktion spart uns viel Zeit.",
)
_PII_PHONE_TEXT = "Bitte um Rückruf: "
_PII_EMAIL_TEXT = "Rückfragen gerne direkt an "

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _ascii_slug(text: str, sep: str = "-") -> str:
    """Lower-case ASCII slug: umlauts transliterated (ä -> ae), other accents dropped."""
    lowered = text.lower().translate(_TRANSLIT)
    plain = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode("ascii")
    out = "".join(ch if ch.isalnum() else " " for ch in plain)
    return sep.join(out.split())


_STEMS: tuple[str, ...] = _LAST_NAMES + tuple(p + s for p in _WORD_PREFIXES for s in _WORD_SUFFIXES)
_STEM_SLUGS: tuple[str, ...] = tuple(_ascii_slug(s) for s in _STEMS)
_INDUSTRY_SLUGS: tuple[str, ...] = tuple(_ascii_slug(s) for s in _INDUSTRIES)
_FIRST_ASCII: tuple[str, ...] = tuple(_ascii_slug(s, ".") for s in _FIRST_NAMES)
_LAST_ASCII: tuple[str, ...] = tuple(_ascii_slug(s, ".") for s in _LAST_NAMES)
_LEGAL_VOCAB: tuple[str, ...] = tuple(form for c in COUNTRIES for form, _ in _LEGAL_FORMS[c])
if len(set(_STEM_SLUGS)) != len(_STEMS) or len(set(_INDUSTRY_SLUGS)) != len(_INDUSTRIES):
    raise RuntimeError("company vocabulary slugs must be unique")  # pragma: no cover

# --------------------------------------------------------------------------------------------
# Vectorised text building: every part is an (n, width) uint8 matrix of UTF-8 bytes padded
# with NUL; the parts are laid side by side, NULs dropped, and the rows split on "\n".
# --------------------------------------------------------------------------------------------


def _vocab(values: Sequence[str]) -> np.ndarray:
    """Strings as an (n, width) matrix of UTF-8 bytes, NUL padded."""
    encoded = [v.encode("utf-8") for v in values]
    width = max([1, *map(len, encoded)])
    return np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)


def _const(text: str) -> np.ndarray:
    return _vocab([text])


def _pick(values: Sequence[str], idx: np.ndarray) -> np.ndarray:
    return _vocab(values)[idx]


def _digits(values: np.ndarray, min_digits: int) -> np.ndarray:
    """Decimal digits of non-negative ints, zero-padded to ``min_digits`` (0 -> '' if 0)."""
    values = np.asarray(values, dtype=np.int64)
    top = int(values.max()) if values.size else 0
    width = max(min_digits, len(str(top)), 1)
    out = np.zeros((values.size, width), dtype=np.uint8)
    rest = values.copy()
    for pos in range(width):
        col = width - 1 - pos
        keep = (values >= 10**pos) | (pos < min_digits)
        out[:, col] = np.where(keep, rest % 10 + 48, 0)
        rest //= 10
    return out


def _join(n: int, *parts: np.ndarray) -> np.ndarray:
    """Concatenate byte-matrix parts row-wise into an object array of Python strings."""
    widths = [p.shape[1] for p in parts]
    buf = np.zeros((n, sum(widths) + 1), dtype=np.uint8)
    col = 0
    for part, width in zip(parts, widths, strict=True):
        buf[:, col : col + width] = part
        col += width
    buf[:, -1] = 10
    flat = buf.ravel()
    text = flat[flat != 0].tobytes().decode("utf-8")
    out = np.empty(n, dtype=object)
    out[:] = text.split("\n")[:n]
    return out


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return _join(numbers.size, _const(prefix), _digits(numbers, width))


def _money(cents: np.ndarray) -> np.ndarray:
    """Non-negative cents as text with exactly two decimals, e.g. 123450 -> '1234.50'."""
    cents = np.asarray(cents, dtype=np.int64)
    return _join(cents.size, _digits(cents // 100, 1), _const("."), _digits(cents % 100, 2))


def _day_number(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _date_text(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as 'YYYY-MM-DD' (formatted once per distinct day)."""
    days = np.asarray(days, dtype=np.int64)
    if days.size == 0:
        return np.empty(0, dtype=object)
    lo = int(days.min())
    table = np.datetime_as_string(np.arange(lo, int(days.max()) + 1).astype("datetime64[D]"))
    return table.astype(object)[days - lo]


def _timestamp_text(seconds: np.ndarray) -> np.ndarray:
    """Seconds since epoch (UTC) as 'YYYY-MM-DD HH:MM:SS'."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if seconds.size == 0:
        return np.empty(0, dtype=object)
    days, sec = np.divmod(seconds, _SECONDS_PER_DAY)
    lo = int(days.min())
    day_strings = np.datetime_as_string(np.arange(lo, int(days.max()) + 1).astype("datetime64[D]"))
    return _join(
        seconds.size,
        _vocab(day_strings.tolist())[days - lo],
        _const(" "),
        _digits(sec // 3600, 2),
        _const(":"),
        _digits(sec // 60 % 60, 2),
        _const(":"),
        _digits(sec % 60, 2),
    )


def _id_width(count: int, min_width: int) -> int:
    """Digits for clean ids 1..count, keeping them below the dirty range 9xxxx."""
    width = max(min_width, len(str(max(count, 1))))
    if count >= 9 * 10 ** (width - 1):
        width += 1
    return width


def _month_index(days: np.ndarray) -> np.ndarray:
    """Days since epoch -> months since 1970-01."""
    return (
        np.asarray(days, dtype=np.int64)
        .astype("datetime64[D]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def _month_first_day(months: np.ndarray | int) -> np.ndarray:
    return (
        np.asarray(months, dtype=np.int64)
        .astype("datetime64[M]")
        .astype("datetime64[D]")
        .astype(np.int64)
    )


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass
class _Customers:
    ids: np.ndarray  # object
    segment: np.ndarray  # int, index into SEGMENTS
    country: np.ndarray  # int, index into COUNTRIES
    signup: np.ndarray  # int days since epoch
    company: np.ndarray  # object
    email: np.ndarray  # object
    domain: np.ndarray  # object, e-mail domain
    id_width: int


def _categorical(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    cum = np.cumsum(shares)
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(n), side="right")


@dataclass
class _CustomerCodes:
    segment: np.ndarray
    country: np.ndarray
    signup: np.ndarray
    stem: np.ndarray
    ind: np.ndarray
    num: np.ndarray
    legal: np.ndarray
    first: np.ndarray
    last: np.ndarray


def _customer_codes(
    n: int, start_date: date, end_date: date, rng: np.random.Generator
) -> _CustomerCodes:
    """Customers as numeric codes, in the one order of random draws that both the CSV seeds
    and the bulk Parquet path rely on (the seeds stay byte-identical)."""
    start, end = _day_number(start_date), _day_number(end_date)
    lo, hi = start - _SIGNUP_LEAD_DAYS, max(end - _SIGNUP_LEAD_DAYS, start - _SIGNUP_LEAD_DAYS)
    signup = np.sort(rng.integers(lo, hi + 1, size=n))
    segment = _categorical(rng, _SEGMENT_SHARE, n)
    country = _categorical(rng, _COUNTRY_SHARE, n)
    n_surnames = len(_LAST_NAMES)
    invented = rng.random(n) >= 0.45
    stem = np.where(
        invented,
        n_surnames + rng.integers(0, len(_STEMS) - n_surnames, size=n),
        rng.integers(0, n_surnames, size=n),
    )
    ind = rng.integers(0, len(_INDUSTRIES), size=n)
    legal = np.zeros(n, dtype=np.int64)
    u = rng.random(n)
    offset = 0
    for c, code in enumerate(COUNTRIES):
        cum = np.cumsum([p for _, p in _LEGAL_FORMS[code]])
        cum[-1] = 1.0
        mask = country == c
        legal[mask] = offset + np.searchsorted(cum, u[mask], side="right")
        offset += len(cum)
    # Companies sharing stem and industry are numbered 2, 3, ... (first one: no number).
    key = stem * len(_INDUSTRIES) + ind
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    group_start = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    first_pos = np.maximum.accumulate(np.where(group_start, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first_pos
    return _CustomerCodes(
        segment=segment,
        country=country,
        signup=signup,
        stem=stem,
        ind=ind,
        num=np.where(rank > 0, rank + 1, 0),
        legal=legal,
        first=rng.integers(0, len(_FIRST_NAMES), size=n),
        last=rng.integers(0, len(_LAST_NAMES), size=n),
    )


def _make_customers(config: GeneratorConfig, rng: np.random.Generator) -> _Customers:
    codes = _customer_codes(config.customers, config.start_date, config.end_date, rng)
    n = config.customers
    segment, country, signup = codes.segment, codes.country, codes.signup
    stem, industry, legal = codes.stem, codes.ind, codes.legal
    # Company: stem (surname or invented word) + industry (+ number if taken) + legal form.
    taken = (codes.num > 0).astype(np.int64)
    number = _digits(codes.num, 0)
    company = _join(
        n,
        _pick(_STEMS, stem),
        _const(" "),
        _pick(_INDUSTRIES, industry),
        _pick(("", " "), taken),
        number,
        _const(" "),
        _pick(_LEGAL_VOCAB, legal),
    )
    domain_parts = (
        _pick(_STEM_SLUGS, stem),
        _const("-"),
        _pick(_INDUSTRY_SLUGS, industry),
        _pick(("", "-"), taken),
        number,
        _const("."),
        _pick(tuple(c.lower() for c in COUNTRIES), country),
    )
    domain = _join(n, *domain_parts)
    first, last = codes.first, codes.last
    email = _join(
        n,
        _pick(_FIRST_ASCII, first),
        _const("."),
        _pick(_LAST_ASCII, last),
        _const("@"),
        *domain_parts,
    )
    width = _id_width(n, 5)
    return _Customers(
        ids=_ids("CUST-", np.arange(1, n + 1), width),
        segment=segment,
        country=country,
        signup=signup,
        company=company,
        email=email,
        domain=domain,
        id_width=width,
    )


@dataclass
class _Life:
    first_month: int  # months since 1970-01 of column 0
    alive: np.ndarray  # bool (months, customers): signed up and alive in that month


def _simulate_orders(
    config: GeneratorConfig, rng: np.random.Generator, cust: _Customers
) -> tuple[_Life, dict[str, np.ndarray]]:
    n = cust.ids.size
    start, end = _day_number(config.start_date), _day_number(config.end_date)
    signup_month = _month_index(cust.signup)
    first_month = int(signup_month.min()) if n else int(_month_index(np.array([start]))[0])
    last_month = int(_month_index(np.array([end]))[0])
    months = np.arange(first_month, last_month + 1)
    alive_hist = np.zeros((months.size, n), dtype=bool)
    alive = np.ones(n, dtype=bool)
    activity = rng.gamma(_ACTIVITY_SHAPE, 1.0 / _ACTIVITY_SHAPE, size=n)
    base_rate = _ORDER_RATE[cust.segment] * activity
    churn_p = _CHURN_P[cust.segment]
    react_p = _REACTIVATE_P[cust.segment]
    chunks_cust: list[np.ndarray] = []
    chunks_lo: list[np.ndarray] = []
    chunks_hi: list[np.ndarray] = []
    for j, month in enumerate(months):
        month_lo = int(_month_first_day(month))
        month_hi = int(_month_first_day(month + 1)) - 1
        existing = signup_month < month
        u = rng.random(n)
        alive = np.where(existing, np.where(alive, u >= churn_p, u < react_p), True)
        signed = cust.signup <= month_hi
        alive_hist[j] = alive & signed
        if month_hi < start or month_lo > end:
            continue
        lo = np.maximum(np.maximum(cust.signup, month_lo), start)
        hi = min(month_hi, end)
        eligible = alive_hist[j] & (lo <= hi)
        share = np.clip(hi - lo + 1, 0, None) / (month_hi - month_lo + 1)
        season = _SEASON[(month % 12)]
        lam = np.where(eligible, base_rate * season * share, 0.0)
        counts = rng.poisson(lam)
        who = np.repeat(np.arange(n), counts)
        chunks_cust.append(who)
        chunks_lo.append(lo[who])
        chunks_hi.append(np.full(who.size, hi, dtype=np.int64))
    who = np.concatenate(chunks_cust) if chunks_cust else np.zeros(0, dtype=np.int64)
    lo = np.concatenate(chunks_lo) if chunks_lo else np.zeros(0, dtype=np.int64)
    hi = np.concatenate(chunks_hi) if chunks_hi else np.zeros(0, dtype=np.int64)
    day = lo + np.floor(rng.random(who.size) * (hi - lo + 1)).astype(np.int64)
    status = _categorical(rng, _STATUS_SHARE, who.size)
    customer_size = rng.lognormal(0.0, _AMOUNT_CUSTOMER_SIGMA, size=n)
    amount = (
        _AMOUNT_MEDIAN[cust.segment[who]]
        * customer_size[who]
        * rng.lognormal(0.0, _AMOUNT_ORDER_SIGMA, size=who.size)
    )
    amount_cents = np.maximum(np.rint(amount * 100).astype(np.int64), 100)
    cost_cents = np.rint(amount_cents * rng.uniform(*_COST_SHARE, size=who.size)).astype(np.int64)
    # Ids in date order; within a day by customer (chunks are already ordered by customer, and
    # a stable sort of a small integer key is a linear-time radix sort).
    order = np.argsort(
        (day - start).astype(np.int16 if end - start < 32_000 else np.int32), kind="stable"
    )
    who, day, status = who[order], day[order], status[order]
    amount_cents, cost_cents = amount_cents[order], cost_cents[order]
    columns = {
        "order_id": _ids("ORD-", np.arange(1, who.size + 1), _id_width(who.size, 7)),
        "customer_id": cust.ids[who],
        "order_date": _date_text(day),
        "status": np.array(STATUSES, dtype=object)[status],
        "amount_eur": _money(amount_cents),
        "cost_eur": _money(cost_cents),
    }
    return _Life(first_month=first_month, alive=alive_hist), columns


def _alive_at(life: _Life, who: np.ndarray, days: np.ndarray) -> np.ndarray:
    row = np.clip(_month_index(days) - life.first_month, 0, life.alive.shape[0] - 1)
    return life.alive[row, who]


def _simulate_responses(
    config: GeneratorConfig, rng: np.random.Generator, cust: _Customers, life: _Life
) -> dict[str, np.ndarray]:
    n = cust.ids.size
    start, end = _day_number(config.start_date), _day_number(config.end_date)
    start_month = int(_month_index(np.array([start]))[0])
    end_month = int(_month_index(np.array([end]))[0])
    latent = _SCORE_MEAN[cust.segment] + rng.normal(0.0, _SCORE_CUSTOMER_SD, size=n)
    chunks_who: list[np.ndarray] = []
    chunks_t: list[np.ndarray] = []
    for q_month in range(start_month - start_month % 3, end_month + 1, 3):
        q_lo = max(int(_month_first_day(q_month)), start)
        q_hi = min(int(_month_first_day(q_month + 3)) - 1, end)
        lo = np.maximum(cust.signup + 1, q_lo)
        span = np.clip(q_hi - lo + 1, 0, None) * _SECONDS_PER_DAY
        eligible = span > 0
        t0 = lo * _SECONDS_PER_DAY + np.floor(rng.random(n) * span).astype(np.int64)
        alive_now = _alive_at(life, np.arange(n), np.where(eligible, t0 // _SECONDS_PER_DAY, lo))
        p = np.where(alive_now, _RESPOND_P_ALIVE, _RESPOND_P_CHURNED)
        respond = eligible & (rng.random(n) < p)
        contacts = np.where(respond, 1 + rng.poisson(_EXTRA_CONTACTS[cust.segment]), 0)
        who = np.repeat(np.arange(n), contacts)
        t = lo[who] * _SECONDS_PER_DAY + np.floor(rng.random(who.size) * span[who]).astype(np.int64)
        chunks_who.append(who)
        chunks_t.append(t)
    who = np.concatenate(chunks_who) if chunks_who else np.zeros(0, dtype=np.int64)
    t = np.concatenate(chunks_t) if chunks_t else np.zeros(0, dtype=np.int64)
    m = who.size
    # Some responses are stamped at the very end of their month (23:59:59 on the last day).
    month_last_day = _month_first_day(_month_index(t // _SECONDS_PER_DAY) + 1) - 1
    stamp = (rng.random(m) < _MONTH_END_STAMP_P) & (month_last_day <= end)
    t = np.where(stamp, month_last_day * _SECONDS_PER_DAY + _SECONDS_PER_DAY - 1, t)
    churned = ~_alive_at(life, who, t // _SECONDS_PER_DAY)
    raw_score = latent[who] + rng.normal(0.0, _SCORE_RESPONSE_SD, size=m)
    raw_score -= _CHURN_SCORE_PENALTY * churned
    score = np.clip(np.rint(raw_score), 0, 10).astype(np.int64)
    channel = _categorical(rng, _CHANNEL_SHARE, m)

    # Comments: German free text by score band; a few hold personal data (PII).
    has_comment = rng.random(m) < _COMMENT_P
    pick = rng.integers(0, 1_000_000, size=m)
    comment = np.full(m, "", dtype=object)
    for band, pool in (
        (score <= 6, _COMMENTS_DETRACTOR),
        ((score >= 7) & (score <= 8), _COMMENTS_PASSIVE),
        (score >= 9, _COMMENTS_PROMOTER),
    ):
        mask = has_comment & band
        comment[mask] = np.array(pool, dtype=object)[pick[mask] % len(pool)]
    pii = has_comment & (rng.random(m) < _PII_P)
    pii_phone = pii & (rng.random(m) < 0.5)
    pii_mail = pii & ~pii_phone
    idx = np.flatnonzero(pii_phone)
    if idx.size:
        comment[idx] = _join(
            idx.size,
            _const(_PII_PHONE_TEXT),
            _pick(_FIRST_NAMES, rng.integers(0, len(_FIRST_NAMES), size=idx.size)),
            _const(" "),
            _pick(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), size=idx.size)),
            _const(", Tel. "),
            _pick(_PHONE_PREFIX, cust.country[who[idx]]),
            _digits(rng.integers(1_000_000, 10_000_000, size=idx.size), 7),
        )
    idx = np.flatnonzero(pii_mail)
    if idx.size:
        comment[idx] = _join(
            idx.size,
            _const(_PII_EMAIL_TEXT),
            _vocab(cust.email[who[idx]].tolist()),
        )

    order = np.lexsort((who, t))
    who, t, score, channel, comment = (
        who[order],
        t[order],
        score[order],
        channel[order],
        comment[order],
    )
    return {
        "response_id": _ids("RSP-", np.arange(1, m + 1), _id_width(m, 6)),
        "customer_id": cust.ids[who],
        "responded_at": _timestamp_text(t),
        "score": np.array([str(i) for i in range(11)], dtype=object)[score],
        "channel": np.array(CHANNELS, dtype=object)[channel],
        "comment": comment,
    }


# --------------------------------------------------------------------------------------------
# Tables, dirty rows, output
# --------------------------------------------------------------------------------------------

_ID_COLUMN = {CUSTOMERS: "customer_id", ORDERS: "order_id", RESPONSES: "response_id"}
_ID_PREFIX = {CUSTOMERS: "CUST-", ORDERS: "ORD-", RESPONSES: "RSP-"}
_ID_MIN_WIDTH = {CUSTOMERS: 5, ORDERS: 7, RESPONSES: 6}
# Clean rows used as in-place variants / duplicate sources (0-based customer index).
_VARIANT_CUSTOMER = 6  # CUST-00007
_DUPLICATE_CUSTOMER = 10  # CUST-00011
_ORDER_VARIANT_CUSTOMER = 2  # CUST-00003
_MIN_DIRTY_CUSTOMERS = 20


@dataclass
class _Table:
    name: str
    columns: dict[str, np.ndarray]  # clean rows, object arrays, sorted by id
    appended: list[dict[str, str]] = field(default_factory=list)
    dirty: list[DirtyRow] = field(default_factory=list)
    clean_ids: np.ndarray = field(init=False)  # ids before any in-place change (sort keys)
    width: int = field(init=False)  # digits of the ids
    issued: int = field(init=False, default=0)  # dirty-range ids handed out so far

    def __post_init__(self) -> None:
        self.clean_ids = self.columns[_ID_COLUMN[self.name]].copy()
        self.width = _id_width(self.clean_ids.size, _ID_MIN_WIDTH[self.name])

    @property
    def size(self) -> int:
        return int(self.clean_ids.size)

    def new_id(self) -> str:
        """Next id of the dirty range (9 followed by zero-padded counter)."""
        self.issued += 1
        return f"{_ID_PREFIX[self.name]}{9 * 10 ** (self.width - 1) + self.issued}"

    def row(self, i: int) -> dict[str, str]:
        return {c: str(self.columns[c][i]) for c in TABLE_COLUMNS[self.name]}

    def mark(self, row_id: str, kind: str) -> None:
        self.dirty.append(DirtyRow(self.name, row_id, kind, DIRTY_KINDS[self.name][kind]))

    def set(self, i: int, column: str, value: str, kind: str) -> None:
        """Modify clean row ``i`` in place (a variant that must still be staged)."""
        self.columns[column][i] = value
        self.mark(str(self.columns[_ID_COLUMN[self.name]][i]), kind)

    def append(self, kind: str, base: dict[str, str], **changes: str) -> None:
        row = {**base, **changes}
        self.appended.append(row)
        self.mark(row[_ID_COLUMN[self.name]], kind)

    def frame(self) -> pd.DataFrame:
        names = TABLE_COLUMNS[self.name]
        columns = self.columns
        if self.appended:
            keys = [r[_ID_COLUMN[self.name]].strip().upper() for r in self.appended]
            order = sorted(range(len(keys)), key=keys.__getitem__)
            at = np.searchsorted(
                self.clean_ids, np.array([keys[i] for i in order], dtype=object), side="right"
            )
            columns = {}
            for c in names:
                values = np.empty(len(order), dtype=object)
                values[:] = [self.appended[i][c] for i in order]
                columns[c] = np.insert(self.columns[c], at, values)
        return pd.DataFrame({c: pd.array(columns[c], dtype="str") for c in names}, copy=False)


def _first(mask: np.ndarray, exclude: set[int], start: int = 0) -> int:
    """Index of the first True at or after ``start`` that is not excluded (else from 0)."""
    candidates = np.asarray(mask, dtype=bool).copy()
    candidates[list(exclude)] = False
    later = np.flatnonzero(candidates[start:])
    if later.size:
        return start + int(later[0])
    hits = np.flatnonzero(candidates)
    if hits.size:
        return int(hits[0])
    raise ValueError("not enough clean rows to derive the dirty rows from")


def _add_dirty(
    config: GeneratorConfig, cust: _Customers, customers: _Table, orders: _Table, resp: _Table
) -> list[DirtyRow]:
    start, end = _day_number(config.start_date), _day_number(config.end_date)
    mid_day = str(_date_text(np.array([(start + end) // 2]))[0])
    late_day = str(_date_text(np.array([max(start, end - 14)]))[0])
    signup_day = str(_date_text(np.array([int(np.median(cust.signup))]))[0])
    unknown_customer = "CUST-" + "9" * cust.id_width
    owner = str(cust.ids[0])  # earliest signup, never modified: owner of appended rows

    # ---- customers ----
    v = _VARIANT_CUSTOMER
    customers.columns["segment"][v] = f"  {SEGMENTS[cust.segment[v]].lower()} "
    customers.columns["country"][v] = f" {COUNTRIES[cust.country[v]].lower()}"
    customers.set(v, "customer_id", f" {str(cust.ids[v]).lower()} ", "whitespace_case_variant")
    dup = customers.row(_DUPLICATE_CUSTOMER)
    customers.append("exact_duplicate", dup)
    conflict = {
        "customer_id": customers.new_id(),
        "company_name": "Brandt Logistik GmbH",
        "contact_email": "petra.brandt@brandt-logistik.de",
        "segment": "SMB",
        "country": "DE",
        "signup_date": signup_day,
    }
    customers.append("conflicting_duplicate", conflict)
    customers.append("conflicting_duplicate", conflict, segment="Mid-Market")
    customers.append(
        "unknown_segment",
        conflict,
        customer_id=customers.new_id(),
        company_name="Seidel Software GmbH",
        contact_email="jonas.seidel@seidel-software.de",
        segment="Startup",
    )
    customers.append(
        "unknown_country",
        conflict,
        customer_id=customers.new_id(),
        company_name="Dubois Conseil SAS",
        contact_email="claire.dubois@dubois-conseil.fr",
        segment="Mid-Market",
        country="FR",
    )
    customers.append(
        "missing_id",
        conflict,
        customer_id="",
        company_name="Vogt Metallbau GmbH",
        contact_email="martin.vogt@vogt-metallbau.at",
        country="AT",
    )
    customers.append(
        "invalid_signup_date",
        conflict,
        customer_id=customers.new_id(),
        company_name="Arnold Druck AG",
        contact_email="silvia.arnold@arnold-druck.ch",
        segment="Enterprise",
        country="CH",
        signup_date="31.02.2024",
    )
    customers.append(
        "future_signup_date",
        conflict,
        customer_id=customers.new_id(),
        company_name="Sauer Energie SE",
        contact_email="tim.sauer@sauer-energie.de",
        signup_date="2031-01-15",
    )

    # ---- orders ----
    status = orders.columns["status"]
    completed = status == "completed"
    used: set[int] = set()
    owned = orders.columns["customer_id"] == cust.ids[_ORDER_VARIANT_CUSTOMER]
    i = _first(owned if owned.any() else np.ones(orders.size, dtype=bool), used)
    used.add(i)
    orders.set(
        i, "customer_id", " " + str(orders.columns["customer_id"][i]).lower(), "customer_id_variant"
    )
    i = _first(completed, used)
    used.add(i)
    orders.set(i, "status", " Completed ", "status_variant")
    i = _first(completed, used, start=orders.size // 2)
    used.add(i)
    orders.append("exact_duplicate", orders.row(i))
    base = {
        "order_id": orders.new_id(),
        "customer_id": owner,
        "order_date": mid_day,
        "status": "completed",
        "amount_eur": "1200.00",
        "cost_eur": "800.00",
    }
    orders.append("conflicting_duplicate", base)
    orders.append("conflicting_duplicate", base, amount_eur="1350.00")
    dirty_orders: list[tuple[str, dict[str, str]]] = [
        ("unknown_customer", {"customer_id": unknown_customer}),
        ("negative_amount", {"amount_eur": "-250.00", "cost_eur": "150.00"}),
        ("invalid_amount", {"amount_eur": "n/a", "cost_eur": "100.00"}),
        ("future_order_date", {"order_date": "2031-06-01"}),
        ("invalid_order_date", {"order_date": "2025-13-01"}),
        ("unknown_status", {"status": "pending"}),
        ("negative_cost", {"amount_eur": "500.00", "cost_eur": "-10.00"}),
    ]
    for kind, changes in dirty_orders:
        orders.append(kind, base, order_id=orders.new_id(), **changes)
    orders.append("missing_id", base, order_id="", amount_eur="640.00", cost_eur="410.00")

    # ---- survey responses ----
    score = resp.columns["score"]
    used = set()
    nines = score == "9"
    i = _first(nines if nines.any() else np.ones(resp.size, dtype=bool), used)
    used.add(i)
    resp.set(i, "score", f" {score[i]} ", "score_whitespace_variant")
    i = _first(np.ones(resp.size, dtype=bool), used, start=1)
    used.add(i)
    resp.set(
        i, "customer_id", str(resp.columns["customer_id"][i]).lower(), "customer_id_case_variant"
    )
    i = _first(np.ones(resp.size, dtype=bool), used, start=resp.size // 2)
    used.add(i)
    resp.append("exact_duplicate", resp.row(i))
    base = {
        "response_id": resp.new_id(),
        "customer_id": owner,
        "responded_at": f"{late_day} 10:15:00",
        "score": "8",
        "channel": "email",
        "comment": "Rückfragen bitte an Petra Seidel: petra.seidel@" + str(cust.domain[0]),
    }
    resp.append("pii_comment", base)
    base["comment"] = ""
    dirty_responses: list[tuple[str, dict[str, str]]] = [
        ("score_too_high", {"score": "11"}),
        ("score_negative", {"score": "-1"}),
        ("score_not_a_number", {"score": "ten"}),
        ("missing_score", {"score": ""}),
        ("score_not_whole", {"score": "7.5"}),
    ]
    for kind, changes in dirty_responses:
        resp.append(kind, base, response_id=resp.new_id(), **changes)
    conflict_id = resp.new_id()
    resp.append("conflicting_duplicate", base, response_id=conflict_id, score="3")
    resp.append("conflicting_duplicate", base, response_id=conflict_id, score="9")
    for kind, changes in (
        ("unknown_customer", {"customer_id": unknown_customer}),
        ("future_responded_at", {"responded_at": "2031-03-01 10:00:00"}),
        ("invalid_responded_at", {"responded_at": "not a date"}),
    ):
        resp.append(kind, base, response_id=resp.new_id(), **changes)
    resp.append("missing_id", base, response_id="", channel="web")
    return customers.dirty + orders.dirty + resp.dirty


def _check(config: GeneratorConfig) -> None:
    if config.customers < 1:
        raise ValueError("customers must be >= 1")
    if config.start_date > config.end_date:
        raise ValueError("start_date must not be after end_date")
    if config.include_dirty and config.customers < _MIN_DIRTY_CUSTOMERS:
        raise ValueError(f"include_dirty needs at least {_MIN_DIRTY_CUSTOMERS} customers")


def generate(config: GeneratorConfig) -> Dataset:
    """Generate the three raw tables (deterministic for a given config)."""
    _check(config)
    rng = np.random.default_rng(config.seed)
    cust = _make_customers(config, rng)
    life, order_columns = _simulate_orders(config, rng, cust)
    response_columns = _simulate_responses(config, rng, cust, life)
    customers = _Table(
        CUSTOMERS,
        {
            "customer_id": cust.ids,
            "company_name": cust.company,
            "contact_email": cust.email,
            "segment": np.array(SEGMENTS, dtype=object)[cust.segment],
            "country": np.array(COUNTRIES, dtype=object)[cust.country],
            "signup_date": _date_text(cust.signup),
        },
    )
    orders = _Table(ORDERS, order_columns)
    responses = _Table(RESPONSES, response_columns)
    dirty: list[DirtyRow] = []
    if config.include_dirty:
        dirty = _add_dirty(config, cust, customers, orders, responses)
    return Dataset(
        customers=customers.frame(),
        orders=orders.frame(),
        responses=responses.frame(),
        dirty=dirty,
    )


def write_csv(dataset: Dataset, out_dir: Path) -> dict[str, Path]:
    """Write raw_customers.csv, raw_orders.csv and raw_survey_responses.csv into ``out_dir``.

    UTF-8, comma separated, header row, minimal quoting, "\\n" line ends; missing values are
    written as empty fields. Returns {table name: path}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    frames = {CUSTOMERS: dataset.customers, ORDERS: dataset.orders, RESPONSES: dataset.responses}
    for name, frame in frames.items():
        path = out / f"{name}.csv"
        frame.loc[:, list(TABLE_COLUMNS[name])].to_csv(
            path, index=False, encoding="utf-8", lineterminator="\n", na_rep=""
        )
        paths[name] = path
    return paths
