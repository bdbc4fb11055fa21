"""The one simulation of the raw NPS warehouse data, and its one writer (CSV or Parquet).

Three raw tables of a B2B company selling in Germany, Austria and Switzerland, all columns text
(missing value = empty CSV field; columns: ``nps_warehouse.contract``). numpy draws integer codes
month by month, so memory follows one month's rows, into a scratch DuckDB table; DuckDB formats the
text while writing the files (``generate``: the seeds as CSV, or Parquet at any size;
``append_days``: the next days of existing raw files). The same seed and sizes give the same rows in
either format.

Model (``numpy.random`` seeded by ``seed``; its parameters are the constants below): customers have
a segment, country, signup day, company name and ASCII e-mail; each month alive customers churn and
churned ones reactivate; orders per alive month ~ Poisson(segment rate x activity x seasonality x
share of the month after signup); an account answers the survey with a monthly probability, with 1 +
Poisson(contacts) contacts, score = latent satisfaction + noise - churn penalty, some with a German
comment, a few with personal data. Ids follow signup or time order. ``orders`` / ``responses`` are
targets: the order rate / answer probability (at most 1 a month) are scaled to them. ``append_days``
continues from the existing files (valid customers with their order rate, answer probability,
geometric mean amount and mean score of the last 365 days; alive unless their last order is 3
expected orders ago), ids after the largest clean id, no dirty rows.

Dirty rows (``include_dirty``) are listed in ``Generated.dirty`` as ``DirtyRow(table, row_id, kind,
expected)``: ``row_id`` as written ("" when missing), ``expected`` "staged" or the rejection reason
the staging models emit. Each derives from a clean source row: "variant" kinds change it in place;
the others add rows right after it, in a dirty id range (``CUST-9xxxx``, ``ORD-9xxxxxx``,
``RSP-9xxxxx``) that clean ids never reach, except the exact duplicate, which repeats the source
with its id (only the copy is listed); a conflicting duplicate is two rows. ``CUST-99999`` (all
nines) is never assigned: the unknown customer. Sources are spread evenly, the kinds in turn,
max(number of kinds, ``DIRTY_RATE`` of the rows) of them: every kind appears, in the seeds once.
Each dirty row has one problem; dirty customers have no orders or responses.

kind                      example                              expected fate
raw_customers:
whitespace_case_variant   " cust-00007 ", "  smb ", " de"      staged
exact_duplicate           identical copy of a clean row        duplicate customer_id (identical row)
conflicting_duplicate     CUST-90001: SMB vs Enterprise        conflicting duplicate customer_id
unknown_segment           segment "Startup"                    unknown segment
unknown_country           country "FR"                         unknown country
missing_id                customer_id ""                       missing customer_id
invalid_signup_date       signup_date "31.02.2024"             invalid signup_date
future_signup_date        signup_date "2031-01-15"             signup_date in the future
raw_orders:
status_variant            status " Completed "                 staged
customer_id_variant       customer_id " cust-00003"            staged
exact_duplicate           identical copy of a clean row        duplicate order_id (identical row)
conflicting_duplicate     ORD-9000001: amount a vs a + a / 8   conflicting duplicate order_id
unknown_customer          customer_id "CUST-99999"             unknown customer_id
negative_amount           amount_eur "-250.00"                 negative amount_eur
invalid_amount            amount_eur "n/a"                     invalid amount_eur
future_order_date         order_date "2031-06-01"              order_date in the future
invalid_order_date        order_date "2025-13-01"              invalid order_date
unknown_status            status "pending"                     unknown status
missing_id                order_id ""                          missing order_id
negative_cost             cost_eur "-10.00"                    negative cost_eur
raw_survey_responses:
score_whitespace_variant  score " 9 "                          staged
customer_id_case_variant  customer_id "cust-00004"             staged
pii_comment               copy with an e-mail in the comment   staged
score_too_high            score "11"                           score outside 0..10
score_negative            score "-1"                           score outside 0..10
score_not_a_number        score "ten"                          score is not a number
missing_score             score ""                             missing score
score_not_whole           score "7.5"                          score is not a whole number
exact_duplicate           identical copy of a clean row        duplicate response_id (identical row)
conflicting_duplicate     RSP-900007: score s vs (s + 5) % 11  conflicting duplicate response_id
unknown_customer          customer_id "CUST-99999"             unknown customer_id
future_responded_at       responded_at "2031-03-01 10:00:00"   responded_at in the future
invalid_responded_at      responded_at "not a date"            invalid responded_at
missing_id                response_id ""                       missing response_id
"""

from __future__ import annotations

import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
    RAW_COLUMNS,
    RESPONSES,
    SEGMENTS,
    STATUSES,
)

Log = Callable[[str], None]

# The tables the generator writes (their columns: the raw contract, nps_warehouse.contract).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    table: RAW_COLUMNS[table] for table in (CUSTOMERS, ORDERS, RESPONSES)
}
CHANNELS: tuple[str, ...] = ("email", "web", "phone", "in_app")
DIRTY_RATE = 0.001  # dirty source rows per row, beyond one per kind
# Each table's id prefix and least digits of its clean ids (wider when there are more rows).
_IDS: dict[str, tuple[str, int]] = {
    CUSTOMERS: ("CUST-", 5),
    ORDERS: ("ORD-", 7),
    RESPONSES: ("RSP-", 6),
}

# Every dirty kind per table: its expected fate and how it changes the written text, as SQL
# templates per column ({c}: the clean value, {unknown}: the id of no customer, all nines).
_DIRTY: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    CUSTOMERS: {
        "whitespace_case_variant": (
            "staged",
            {
                "customer_id": "' ' || lower({c}) || ' '",
                "segment": "'  ' || lower({c}) || ' '",
                "country": "' ' || lower({c})",
            },
        ),
        "exact_duplicate": ("duplicate customer_id (identical row)", {}),
        "conflicting_duplicate": ("conflicting duplicate customer_id", {}),
        "unknown_segment": ("unknown segment", {"segment": "'Startup'"}),
        "unknown_country": ("unknown country", {"country": "'FR'"}),
        "missing_id": ("missing customer_id", {"customer_id": "''"}),
        "invalid_signup_date": ("invalid signup_date", {"signup_date": "'31.02.2024'"}),
        "future_signup_date": ("signup_date in the future", {"signup_date": "'2031-01-15'"}),
    },
    ORDERS: {
        "status_variant": ("staged", {"status": "' ' || upper({c}[1]) || {c}[2:] || ' '"}),
        "customer_id_variant": ("staged", {"customer_id": "' ' || lower({c})"}),
        "exact_duplicate": ("duplicate order_id (identical row)", {}),
        "conflicting_duplicate": ("conflicting duplicate order_id", {}),
        "unknown_customer": ("unknown customer_id", {"customer_id": "{unknown}"}),
        "negative_amount": ("negative amount_eur", {"amount_eur": "'-' || {c}"}),
        "invalid_amount": ("invalid amount_eur", {"amount_eur": "'n/a'"}),
        "future_order_date": ("order_date in the future", {"order_date": "'2031-06-01'"}),
        "invalid_order_date": ("invalid order_date", {"order_date": "'2025-13-01'"}),
        "unknown_status": ("unknown status", {"status": "'pending'"}),
        "missing_id": ("missing order_id", {"order_id": "''"}),
        "negative_cost": ("negative cost_eur", {"cost_eur": "'-' || {c}"}),
    },
    RESPONSES: {
        "score_whitespace_variant": ("staged", {"score": "' ' || {c} || ' '"}),
        "customer_id_case_variant": ("staged", {"customer_id": "lower({c})"}),
        "pii_comment": ("staged", {}),
        "score_too_high": ("score outside 0..10", {"score": "'11'"}),
        "score_negative": ("score outside 0..10", {"score": "'-1'"}),
        "score_not_a_number": ("score is not a number", {"score": "'ten'"}),
        "missing_score": ("missing score", {"score": "''"}),
        "score_not_whole": ("score is not a whole number", {"score": "'7.5'"}),
        "exact_duplicate": ("duplicate response_id (identical row)", {}),
        "conflicting_duplicate": ("conflicting duplicate response_id", {}),
        "unknown_customer": ("unknown customer_id", {"customer_id": "{unknown}"}),
        "future_responded_at": (
            "responded_at in the future",
            {"responded_at": "'2031-03-01 10:00:00'"},
        ),
        "invalid_responded_at": ("invalid responded_at", {"responded_at": "'not a date'"}),
        "missing_id": ("missing response_id", {"response_id": "''"}),
    },
}
# Every dirty kind per table with the expected fate (the documented catalogue).
DIRTY_KINDS: dict[str, dict[str, str]] = {
    table: {kind: fate for kind, (fate, _) in kinds.items()} for table, kinds in _DIRTY.items()
}
# The second row of a conflicting duplicate: which code changes, and how.
_CONFLICT: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    CUSTOMERS: ("segment", lambda v: (v + 1) % len(SEGMENTS)),
    ORDERS: ("amount", lambda v: v + v // 8),
    RESPONSES: ("score", lambda v: (v + 5) % 11),
}
_PII_KIND = list(_DIRTY[RESPONSES]).index("pii_comment") + 1  # its code in the dirty column


@dataclass(frozen=True)
class GeneratorConfig:
    """Parameters of one dataset (dates inclusive; orders and responses are targets)."""

    seed: int = 42
    customers: int = 360
    orders: int | None = None
    responses: int | None = None
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


@dataclass(frozen=True)
class Generated:
    """The files written, their rows, and the dirty rows among them."""

    paths: dict[str, Path]
    rows: dict[str, int]
    dirty: list[DirtyRow]


# Model parameters (index order = SEGMENTS / COUNTRIES / STATUSES / CHANNELS)
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
_COST_SHARE = (0.55, 0.8)  # cost = amount x uniform(low, high)

_RESPOND_P_ALIVE = 1 / 6  # monthly
_RESPOND_P_CHURNED = 1 / 30
_EXTRA_CONTACTS = np.array([1.0, 0.7, 0.45])  # extra respondents per responding account
_SCORE_MEAN = np.array([8.4, 7.6, 6.9])
_SCORE_CUSTOMER_SD = 1.0
_SCORE_RESPONSE_SD = 1.2
_CHURN_SCORE_PENALTY = 2.5
_MONTH_END_STAMP_P = 0.02
_COMMENT_P = 0.3
_PII_P = 0.02  # share of comments holding personal data
_ALIVE_GAP = 3.0  # appending: churned after a gap of this many expected orders without one
_MIN_DIRTY_CUSTOMERS = 20

_DAY = 86_400  # seconds

# Vocabularies
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
# German comments by score band: detractor (0..6), passive (7..8), promoter (9..10).
_COMMENT_POOLS: tuple[tuple[str, ...], ...] = (
    (
        "Lieferung kam zu spät.", "Der Support reagiert viel zu langsam.",
        "Zu teuer für das, was geboten wird.", "Mehrfach falsche Rechnungen erhalten.",
        "Wir überlegen, den Anbieter zu wechseln.",
        "Die Ware war beschädigt, die Reklamation dauerte Wochen.",
    ),
    (
        "Im Großen und Ganzen in Ordnung.",
        "Preis-Leistung passt, Lieferzeiten könnten kürzer sein.",
        "Solide, aber nichts Besonderes.", "Die Rechnungsstellung ist manchmal unübersichtlich.",
        "Gut, aber die Dokumentation könnte besser sein.",
    ),
    (
        "Sehr zufrieden mit der Zusammenarbeit.", "Schnelle Lieferung, top Service!",
        "Der Support ist kompetent und freundlich.", "Alles bestens, gerne weiter so.",
        "Zuverlässiger Partner, klare Empfehlung.", "Die neue Funktion spart uns viel Zeit.",
    ),
)  # fmt: skip

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


def _month(days: np.ndarray | int) -> np.ndarray:
    """Days since epoch -> months since 1970-01."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _month_start(months: np.ndarray | int) -> np.ndarray:
    return np.asarray(months, dtype="datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _id_width(count: int, min_width: int) -> int:
    """Digits for clean ids 1..count, keeping them below the dirty range 9xxxx."""
    width = max(min_width, len(str(max(count, 1))))
    if count >= 9 * 10 ** (width - 1):
        width += 1
    return width


def _categorical(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    cum = np.cumsum(shares)
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(n), side="right")


@dataclass
class _Population:
    """The customers the months are simulated for (index = position, not id)."""

    number: np.ndarray  # id number, CUST-<number>
    segment: np.ndarray
    country: np.ndarray
    signup: np.ndarray  # day
    alive: np.ndarray  # before the first simulated month
    orders: np.ndarray  # orders per alive month at seasonality 1
    amount: np.ndarray  # median order amount, EUR
    latent: np.ndarray  # satisfaction
    respond: np.ndarray  # probability of answering in a month: row 0 alive, row 1 churned

    def steps(
        self, churn: np.random.SeedSequence, span: tuple[int, int, int]
    ) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """(month, first day, last day, alive) of each month with days in ``span`` (chain_from,
        start, end); every month from ``chain_from`` on first churns and reactivates customers."""
        chain_from, start, end = span
        rng = np.random.default_rng(churn)
        alive = self.alive
        signup_month = _month(self.signup)
        churn_p, back_p = _CHURN_P[self.segment], _REACTIVATE_P[self.segment]
        for month in range(int(_month(chain_from)), int(_month(end)) + 1):
            lo, hi = int(_month_start(month)), int(_month_start(month + 1)) - 1
            if lo >= chain_from:
                u = rng.random(alive.size)
                stays = np.where(alive, u >= churn_p, u < back_p)
                alive = np.where(signup_month < month, stays, True)
            if max(lo, start) <= min(hi, end):
                yield month, max(lo, start), min(hi, end), alive

    def rates(self, alive: np.ndarray, month: int, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        """Per customer in lo..hi: first order day, expected orders, first answer day, days to
        answer in, probability to answer."""
        days_in_month = int(_month_start(month + 1) - _month_start(month))
        first = np.maximum(self.signup, lo)
        share = np.clip(hi - first + 1, 0, None) / days_in_month
        orders = np.where(alive, self.orders * _SEASON[month % 12] * share, 0.0)
        answer_first = np.maximum(self.signup + 1, lo)
        days = np.clip(hi - answer_first + 1, 0, None)
        p = np.where(alive, self.respond[0], self.respond[1]) * days / days_in_month
        return first, orders, answer_first, days, p

    def expected(
        self, churn: np.random.SeedSequence, span: tuple[int, int, int]
    ) -> tuple[float, float]:
        """Expected orders and responses of the simulation (its life, without the draws)."""
        orders = responses = 0.0
        for month, lo, hi, alive in self.steps(churn, span):
            _, rate, _, _, p = self.rates(alive, month, lo, hi)
            orders += float(rate.sum())
            responses += float((p * (1 + _EXTRA_CONTACTS[self.segment])).sum())
        return orders, responses

    def draw(
        self, alive: np.ndarray, rng: np.random.Generator, month: int, lo: int, hi: int
    ) -> dict[str, dict[str, np.ndarray]]:
        """One month's orders (by day, then customer) and responses (by time, then customer)."""
        first, rate, answer_first, days, p = self.rates(alive, month, lo, hi)
        who = np.repeat(np.arange(rate.size), rng.poisson(rate))
        m = who.size
        day = first[who] + (rng.random(m) * (hi - first[who] + 1)).astype(np.int64)
        amount = self.amount[who] * rng.lognormal(0.0, _AMOUNT_ORDER_SIGMA, size=m)
        cents = np.maximum(np.rint(amount * 100), 100).astype(np.int64)
        cost = np.rint(cents * rng.uniform(*_COST_SHARE, size=m)).astype(np.int64)
        orders = {
            "cust": self.number[who],
            "day": day.astype(np.int32),
            "status": _categorical(rng, _STATUS_SHARE, m).astype(np.int8),
            "amount": cents,
            "cost": cost,
        }
        by_day = np.argsort(day, kind="stable")

        answer = rng.random(p.size) < p
        contacts = np.where(answer, 1 + rng.poisson(_EXTRA_CONTACTS[self.segment]), 0)
        who = np.repeat(np.arange(p.size), contacts)
        m = who.size
        t = answer_first[who] * _DAY + (rng.random(m) * days[who] * _DAY).astype(np.int64)
        month_end = int(_month_start(month + 1)) * _DAY - 1
        t = np.where(
            (rng.random(m) < _MONTH_END_STAMP_P) & (hi * _DAY + _DAY - 1 == month_end), month_end, t
        )
        noise = rng.normal(0.0, _SCORE_RESPONSE_SD, size=m)
        score = np.clip(
            np.rint(self.latent[who] + noise - _CHURN_SCORE_PENALTY * ~alive[who]), 0, 10
        )
        band = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
        sizes = np.array([len(pool) for pool in _COMMENT_POOLS])
        has_comment = rng.random(m) < _COMMENT_P
        pii = has_comment & (rng.random(m) < _PII_P)
        # Comment kind: 0 none, 1..3 a comment of the score band, 4 name and phone, 5 e-mail.
        ckind = np.where(
            pii, np.where(rng.random(m) < 0.5, 4, 5), np.where(has_comment, band + 1, 0)
        )
        responses = {
            "cust": self.number[who],
            "t": t,
            "score": score.astype(np.int8),
            "channel": _categorical(rng, _CHANNEL_SHARE, m).astype(np.int8),
            "ckind": ckind.astype(np.int8),
            "cidx": (rng.random(m) * sizes[band]).astype(np.int16),
            "nf": rng.integers(0, len(_FIRST_NAMES), size=m).astype(np.int16),
            "nl": rng.integers(0, len(_LAST_NAMES), size=m).astype(np.int16),
            "stem": rng.integers(0, len(_STEMS), size=m).astype(np.int16),
            "ind": rng.integers(0, len(_INDUSTRIES), size=m).astype(np.int16),
            "country": self.country[who].astype(np.int8),
            "phone": rng.integers(1_000_000, 10_000_000, size=m).astype(np.int32),
        }
        by_time = np.lexsort((who, t))
        return {
            ORDERS: {c: v[by_day] for c, v in orders.items()},
            RESPONSES: {c: v[by_time] for c, v in responses.items()},
        }


def _customers(
    n: int, start: int, end: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], _Population]:
    """The customers' codes (in signup order) and their population."""
    lo = start - _SIGNUP_LEAD_DAYS
    signup = np.sort(rng.integers(lo, max(end - _SIGNUP_LEAD_DAYS, lo) + 1, size=n))
    segment = _categorical(rng, _SEGMENT_SHARE, n)
    country = _categorical(rng, _COUNTRY_SHARE, n)
    surnames = len(_LAST_NAMES)
    stem = np.where(
        rng.random(n) >= 0.45,
        surnames + rng.integers(0, len(_STEMS) - surnames, size=n),
        rng.integers(0, surnames, size=n),
    )
    ind = rng.integers(0, len(_INDUSTRIES), size=n)
    legal = np.zeros(n, dtype=np.int64)
    offset = 0
    for c, forms in enumerate(_LEGAL_FORMS[code] for code in COUNTRIES):
        shares = np.array([share for _, share in forms])
        legal[country == c] = offset + _categorical(rng, shares, int((country == c).sum()))
        offset += len(forms)
    # Companies sharing stem and industry are numbered 2, 3, ... (first one: no number).
    rank = pd.Series(stem).groupby(stem * len(_INDUSTRIES) + ind).cumcount().to_numpy()
    codes = {
        "segment": segment,
        "country": country,
        "signup": signup,
        "stem": stem,
        "ind": ind,
        "num": np.where(rank > 0, rank + 1, 0),
        "legal": legal,
        "first": rng.integers(0, len(_FIRST_NAMES), size=n),
        "last": rng.integers(0, len(_LAST_NAMES), size=n),
    }
    return codes, _Population(
        number=np.arange(1, n + 1),
        segment=segment,
        country=country,
        signup=signup,
        alive=np.ones(n, dtype=bool),
        orders=_ORDER_RATE[segment] * rng.gamma(_ACTIVITY_SHAPE, 1.0 / _ACTIVITY_SHAPE, size=n),
        amount=_AMOUNT_MEDIAN[segment] * rng.lognormal(0.0, _AMOUNT_CUSTOMER_SIGMA, size=n),
        latent=_SCORE_MEAN[segment] + rng.normal(0.0, _SCORE_CUSTOMER_SD, size=n),
        respond=np.repeat([[_RESPOND_P_ALIVE], [_RESPOND_P_CHURNED]], n, axis=1),
    )


@dataclass
class _Numbering:
    """Numbers a table's rows chunk by chunk and derives the dirty rows from evenly spaced
    source rows (the kinds in turn). Adds the columns ``id`` (clean > 0, dirty range < 0) and
    ``dirty`` (0 clean, else 1 + the kind's position in ``_DIRTY[table]``)."""

    table: str
    expected: float  # rows expected in the table
    include_dirty: bool
    clean: int = 0  # clean rows numbered so far
    issued: int = 0  # dirty-range ids handed out so far

    def __post_init__(self) -> None:
        kinds = list(_DIRTY[self.table])
        self.sources = (
            max(len(kinds), round(DIRTY_RATE * self.expected)) if self.include_dirty else 0
        )
        self.step = max(1, int(0.9 * self.expected / max(self.sources, 1)))
        self.copies = np.array(
            [1] + [1 if "variant" in k else 3 if "conflicting" in k else 2 for k in kinds]
        )
        self.same_id = np.array([True] + [k == "exact_duplicate" for k in kinds])

    def __call__(self, codes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        m = len(next(iter(codes.values())))
        j = self.clean + np.arange(m) - self.step // 2
        source = (j >= 0) & (j % self.step == 0) & (j // self.step < self.sources)
        kind = np.where(source, j // self.step % (self.copies.size - 1) + 1, 0)
        copies = self.copies[kind]
        row = np.repeat(np.arange(m), copies)
        position = np.arange(row.size) - np.repeat(np.cumsum(copies) - copies, copies)
        kind = kind[row]
        fresh = (position == 1) & ~self.same_id[kind]
        dirty_id = self.issued + np.cumsum(fresh)
        out = {c: v[row] for c, v in codes.items()}
        column, change = _CONFLICT[self.table]
        out[column] = np.where(position == 2, change(out[column]), out[column])
        dirty = np.where((position > 0) | (copies[row] == 1), kind, 0)
        if self.table == RESPONSES:
            out["ckind"] = np.where(dirty == _PII_KIND, 5, out["ckind"]).astype(np.int8)
        out["id"] = np.where((position > 0) & ~self.same_id[kind], -dirty_id, self.clean + row + 1)
        out["dirty"] = dirty.astype(np.int8)
        self.clean += m
        self.issued += int(fresh.sum())
        return out


def _insert(con: duckdb.DuckDBPyConnection, chunks: dict[str, dict[str, np.ndarray]]) -> None:
    """Append each table's codes to its scratch table (created by its first chunk)."""
    for table, codes in chunks.items():
        con.register("chunk", pd.DataFrame(codes, copy=False))
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS FROM chunk LIMIT 0")
        con.execute(f"INSERT INTO {table} FROM chunk")
        con.unregister("chunk")


def _simulate(
    con: duckdb.DuckDBPyConnection,
    pop: _Population,
    rng: np.random.Generator,
    churn: np.random.SeedSequence,
    span: tuple[int, int, int],
    numbering: dict[str, _Numbering],
    log: Log,
) -> None:
    """Orders and responses of the months in ``span`` (chain_from, start, end) into ``con``.
    A thread inserts a month's rows while numpy draws the next (both release the GIL)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as inserter:
        inserted = inserter.submit(lambda: None)
        for i, (month, lo, hi, alive) in enumerate(pop.steps(churn, span)):
            drawn = pop.draw(alive, rng, month, lo, hi)
            chunks = {table: numbering[table](codes) for table, codes in drawn.items()}
            inserted.result()
            inserted = inserter.submit(_insert, con, chunks)
            if i % 6 == 5:
                log(
                    f"  simulated to {np.datetime64(hi, 'D')}: {numbering[ORDERS].clean:,} "
                    f"orders, {numbering[RESPONSES].clean:,} responses "
                    f"({time.perf_counter() - started:.1f} s)"
                )
        inserted.result()


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.SeedSequence]:
    """Independent random streams: customers, the months' draws, and life (replayed)."""
    customers, draws, churn = np.random.SeedSequence(seed).spawn(3)
    return np.random.default_rng(customers), np.random.default_rng(draws), churn


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _pick(values: tuple[str, ...], code: str) -> str:
    """The text of the 0-based ``code`` in ``values``."""
    return f"{_list(values)}[{code} + 1]"


def _id_sql(table: str, width: int, number: str = "id") -> str:
    """Clean ids (>= 0) zero-padded to ``width`` digits, dirty ids (< 0) in the 9xxx range."""
    prefix, _ = _IDS[table]
    return (
        f"CASE WHEN {number} >= 0 THEN '{prefix}' || lpad(CAST({number} AS VARCHAR), {width}, '0') "
        f"ELSE printf('{prefix}%d', {9 * 10 ** (width - 1)} - {number}) END"
    )


def _email_sql(first: str, last: str, num: str) -> str:
    return (
        f"{_pick(_FIRST_ASCII, first)} || '.' || {_pick(_LAST_ASCII, last)} || '@' "
        f"|| {_pick(_STEM_SLUGS, 'stem')} || '-' || {_pick(_INDUSTRY_SLUGS, 'ind')} "
        f"|| CASE WHEN {num} > 0 THEN '-' || {num} ELSE '' END || '.' "
        f"|| {_pick(tuple(c.lower() for c in COUNTRIES), 'country')}"
    )


def _columns_sql(table: str, widths: dict[str, int]) -> dict[str, str]:
    """Each column's text from the codes, dirty kinds included."""
    day = "CAST(DATE '1970-01-01' + CAST({} AS INTEGER) AS VARCHAR)"
    # Whole cents as euros with two decimals (12.30), exact in decimals: 4x faster than printf.
    cents = "CAST(CAST({} AS DECIMAL(18, 0)) * 0.01 AS VARCHAR)"
    customer = _id_sql(CUSTOMERS, widths[CUSTOMERS], "cust")
    pools = " ".join(
        f"WHEN {band + 1} THEN {_pick(pool, 'cidx')}" for band, pool in enumerate(_COMMENT_POOLS)
    )
    phone = (
        f"'Bitte um Rückruf: ' || {_pick(_FIRST_NAMES, 'nf')} || ' ' || {_pick(_LAST_NAMES, 'nl')}"
        f" || ', Tel. ' || {_pick(_PHONE_PREFIX, 'country')} || phone"
    )
    mail = f"'Rückfragen gerne direkt an ' || {_email_sql('nf', 'nl', '0')}"
    clean = {
        CUSTOMERS: {
            "customer_id": _id_sql(CUSTOMERS, widths[CUSTOMERS]),
            "company_name": f"{_pick(_STEMS, 'stem')} || ' ' || {_pick(_INDUSTRIES, 'ind')} "
            f"|| CASE WHEN num > 0 THEN ' ' || num ELSE '' END || ' ' "
            f"|| {_pick(_LEGAL_VOCAB, 'legal')}",
            "contact_email": _email_sql("first", "last", "num"),
            "segment": _pick(SEGMENTS, "segment"),
            "country": _pick(COUNTRIES, "country"),
            "signup_date": day.format("signup"),
        },
        ORDERS: {
            "order_id": _id_sql(ORDERS, widths[ORDERS]),
            "customer_id": customer,
            "order_date": day.format("day"),
            "status": _pick(STATUSES, "status"),
            "amount_eur": cents.format("amount"),
            "cost_eur": cents.format("cost"),
        },
        RESPONSES: {
            "response_id": _id_sql(RESPONSES, widths[RESPONSES]),
            "customer_id": customer,
            "responded_at": "CAST(make_timestamp(t * 1000000) AS VARCHAR)",
            "score": "CAST(score AS VARCHAR)",
            "channel": _pick(CHANNELS, "channel"),
            "comment": f"CASE ckind {pools} WHEN 4 THEN {phone} WHEN 5 THEN {mail} ELSE '' END",
        },
    }[table]
    unknown = _lit(_IDS[CUSTOMERS][0] + "9" * widths[CUSTOMERS])
    columns = {}
    for column, sql in clean.items():
        whens = [
            f"WHEN {code} THEN " + changes[column].format(c=sql, unknown=unknown)
            for code, (_, changes) in enumerate(_DIRTY[table].values(), start=1)
            if column in changes
        ]
        columns[column] = f"CASE dirty {' '.join(whens)} ELSE {sql} END" if whens else sql
    return columns


def _write(
    con: duckdb.DuckDBPyConnection, table: str, widths: dict[str, int], path: Path, log: Log
) -> int:
    """Write the codes table ``table`` as ``path`` (.csv: header, minimal quoting, an empty
    field for an empty value; .parquet: zstd); returns its rows."""
    started = time.perf_counter()
    csv = path.suffix == ".csv"
    columns = ", ".join(
        (f"nullif({sql}, '')" if csv else sql) + f" AS {column}"
        for column, sql in _columns_sql(table, widths).items()
    )
    options = "FORMAT csv, HEADER true" if csv else "FORMAT parquet, COMPRESSION zstd"
    con.execute(f"COPY (SELECT {columns} FROM {table}) TO {_lit(str(path))} ({options})")
    (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    log(f"  {table}: {rows:,} rows -> {path} ({time.perf_counter() - started:.1f} s)")
    return rows


def _check(fmt: str, **counts: int | None) -> None:
    """Refuse a format other than csv and parquet, and counts below 1 (None: not given)."""
    if fmt not in ("csv", "parquet"):
        raise ValueError("format must be csv or parquet")
    for name, count in counts.items():
        if count is not None and count < 1:
            raise ValueError(f"{name} must be >= 1")


def generate(
    config: GeneratorConfig, out_dir: Path, fmt: str = "csv", log: Log = print
) -> Generated:
    """Write raw_customers, raw_orders and raw_survey_responses as ``<table>.<fmt>`` into
    ``out_dir`` (deterministic for a given config)."""
    _check(fmt, customers=config.customers, orders=config.orders, responses=config.responses)
    if config.start_date > config.end_date:
        raise ValueError("start_date must not be after end_date")
    if config.include_dirty and config.customers < _MIN_DIRTY_CUSTOMERS:
        raise ValueError(f"include_dirty needs at least {_MIN_DIRTY_CUSTOMERS} customers")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = config.customers
    start, end = ((d - date(1970, 1, 1)).days for d in (config.start_date, config.end_date))
    customers_rng, rng, churn = _streams(config.seed)
    codes, pop = _customers(n, start, end, customers_rng)
    span = (int(_month_start(_month(pop.signup[0]))), start, end)
    orders, responses = pop.expected(churn, span)
    if config.orders and orders > 0:
        pop.orders = pop.orders * config.orders / orders
        orders = float(config.orders)
    if config.responses and responses > 0:
        pop.respond = np.minimum(pop.respond * config.responses / responses, 1.0)
        responses = float(config.responses)
    log(
        f"generating {n:,} customers, ~{round(orders):,} orders, ~{round(responses):,} "
        f"responses, seed {config.seed} -> {out}"
    )
    numbering = {
        table: _Numbering(table, expected, config.include_dirty)
        for table, expected in ((CUSTOMERS, n), (ORDERS, orders), (RESPONSES, responses))
    }
    with tempfile.TemporaryDirectory(dir=out) as scratch, duckdb.connect() as con:
        con.execute(f"SET temp_directory = {_lit(scratch)}")
        con.execute("SET memory_limit = '2GB'")
        _insert(con, {CUSTOMERS: numbering[CUSTOMERS](codes)})
        _simulate(con, pop, rng, churn, span, numbering, log)
        widths = {
            table: _id_width(numbering[table].clean, least) for table, (_, least) in _IDS.items()
        }
        paths = {table: out / f"{table}.{fmt}" for table in TABLE_COLUMNS}
        rows = {table: _write(con, table, widths, path, log) for table, path in paths.items()}
        dirty = [
            DirtyRow(table, row_id, *list(kinds.items())[code - 1])
            for table, kinds in DIRTY_KINDS.items()
            for row_id, code in con.execute(
                f"SELECT {_columns_sql(table, widths)[TABLE_COLUMNS[table][0]]}, dirty "
                f"FROM {table} WHERE dirty > 0"
            ).fetchall()
        ]
    summary = ", ".join(f"{table} {count:,}" for table, count in rows.items())
    log(
        f"done in {time.perf_counter() - started:.1f} s: {summary} rows, "
        f"{len(dirty):,} documented dirty rows -> {out}"
    )
    return Generated(paths=paths, rows=rows, dirty=dirty)


def _scan(out: Path, table: str) -> str:
    """SQL source of every raw file of ``table`` in ``out`` (Parquet and CSV), all text."""
    reads = {
        "parquet": "read_parquet({}, union_by_name = true)",
        "csv": "read_csv({}, all_varchar = true, header = true, delim = ',', quote = '\"', "
        "union_by_name = true)",
    }
    parts = [
        f"SELECT {', '.join(TABLE_COLUMNS[table])} FROM " + read.format(_list(files))
        for ext, read in reads.items()
        if (files := sorted(str(p) for p in out.glob(f"{table}*.{ext}")))
    ]
    if not parts:
        raise FileNotFoundError(f"no {table}*.parquet or {table}*.csv in {out}")
    return "(" + " UNION ALL ".join(parts) + ")"


def _clean_rows(out: Path, table: str) -> str:
    """The rows of ``table`` with a clean id (below the dirty range) and a valid date, with
    ``number`` (the id's number), ``width`` (its digits), ``day`` and ``cust``."""
    key, _, when = TABLE_COLUMNS[table][:3]
    prefix, _ = _IDS[table]
    return f"""(
        SELECT CAST(regexp_extract({key}, '^{prefix}([0-8][0-9]*)$', 1) AS BIGINT) AS number,
            length({key}) - {len(prefix)} AS width,
            CAST(try_cast({when} AS TIMESTAMP) AS DATE) - DATE '1970-01-01' AS day,
            upper(trim(customer_id)) AS cust, *
        FROM {_scan(out, table)}
        WHERE regexp_full_match({key}, '{prefix}[0-8][0-9]*') AND day IS NOT NULL
    )"""


def _history(con: duckdb.DuckDBPyConnection, out: Path) -> tuple[_Population, dict, int]:
    """The valid customers as the model's population after the existing days, the next clean
    id number and id digits per table, and the last existing day."""
    ids, last = {}, []
    for table in (ORDERS, RESPONSES):
        width, number, day = con.execute(
            f"SELECT max(width), max(number), max(day) FROM {_clean_rows(out, table)}"
        ).fetchone()
        ids[table] = (number or 0, width or _IDS[table][1])
        last += [] if day is None else [day]
    if not last:
        raise ValueError(f"no dated orders or responses in {out}")
    day = max(last)
    year = f"day > {day - 365}"
    prefix, _ = _IDS[CUSTOMERS]
    found = con.execute(
        f"""
        WITH customers AS (
            SELECT cust, CAST(substr(cust, {len(prefix) + 1}) AS BIGINT) AS number,
                length(cust) - {len(prefix)} AS width,
                list_position({_list(SEGMENTS)}, segment) - 1 AS segment,
                list_position({_list(COUNTRIES)}, country) - 1 AS country,
                try_cast(signup_date AS DATE) - DATE '1970-01-01' AS signup
            FROM (
                SELECT *, upper(trim(customer_id)) AS cust,
                    count(*) OVER (PARTITION BY upper(trim(customer_id))) AS copies
                FROM {_scan(out, CUSTOMERS)}
            )
            WHERE copies = 1 AND regexp_full_match(cust, '{prefix}[0-8][0-9]*')
                AND segment IN {SEGMENTS} AND country IN {COUNTRIES}
                AND try_cast(signup_date AS DATE) - DATE '1970-01-01' <= {day}
        ),
        orders AS (
            SELECT cust, count(*) FILTER ({year}) AS recent, max(day) AS last_order,
                avg(ln(eur)) FILTER (eur > 0) AS log_amount
            FROM (SELECT *, try_cast(amount_eur AS DOUBLE) AS eur FROM {_clean_rows(out, ORDERS)})
            GROUP BY cust
        ),
        responses AS (
            SELECT cust, count(*) FILTER ({year}) AS recent,
                avg(s) FILTER (s BETWEEN 0 AND 10) AS score
            FROM (SELECT *, try_cast(score AS INTEGER) AS s FROM {_clean_rows(out, RESPONSES)})
            GROUP BY cust
        )
        SELECT c.number, c.width, c.segment, c.country, c.signup,
            coalesce(o.recent, 0) AS orders, coalesce(o.last_order, c.signup) AS last_order,
            coalesce(o.log_amount, 'NaN') AS log_amount, coalesce(r.recent, 0) AS responses,
            coalesce(r.score, 'NaN') AS score
        FROM customers AS c LEFT JOIN orders AS o USING (cust) LEFT JOIN responses AS r USING (cust)
        ORDER BY c.number
        """
    ).fetchnumpy()
    if found["number"].size == 0:
        raise ValueError(f"no valid customers in {out}")
    segment = found["segment"].astype(np.int64)
    months = np.clip((day - np.maximum(found["signup"], day - 364) + 1) / 30.44, 1.0, 12.0)
    rate = found["orders"] / months
    respond = np.clip(found["responses"] / months / (1 + _EXTRA_CONTACTS[segment]), 0.0, 1.0)
    pop = _Population(
        number=found["number"].astype(np.int64),
        segment=segment,
        country=found["country"].astype(np.int64),
        signup=found["signup"].astype(np.int64),
        alive=(rate > 0) & ((day - found["last_order"]) * rate < _ALIVE_GAP * 30.44),
        orders=rate / _SEASON.mean(),
        amount=np.where(
            np.isnan(found["log_amount"]), _AMOUNT_MEDIAN[segment], np.exp(found["log_amount"])
        ),
        latent=np.where(np.isnan(found["score"]), _SCORE_MEAN[segment], found["score"]),
        respond=np.array([respond, respond]),
    )
    ids[CUSTOMERS] = (0, int(found["width"].max()))
    return pop, ids, day


def append_days(
    out_dir: Path, days: int, seed: int = 42, fmt: str = "parquet", log: Log = print
) -> dict[str, Path]:
    """Write the next ``days`` days of orders and responses as new files
    ``<table>_append_<first>_<last>.<fmt>`` in ``out_dir``, continuing the existing raw files
    (``raw_*.parquet`` / ``raw_*.csv``) with the same model (see the module docstring)."""
    _check(fmt, days=days)
    started = time.perf_counter()
    out = Path(out_dir)
    with duckdb.connect() as con:
        pop, ids, last = _history(con, out)
        first = date(1970, 1, 1) + timedelta(days=last + 1)
        final = first + timedelta(days=days - 1)
        suffix = f"append_{first:%Y%m%d}_{final:%Y%m%d}"
        paths = {table: out / f"{table}_{suffix}.{fmt}" for table in (ORDERS, RESPONSES)}
        for path in paths.values():
            if path.exists():
                raise FileExistsError(f"{path} exists already")
        numbering = {
            table: _Numbering(table, 0.0, include_dirty=False, clean=ids[table][0])
            for table in paths
        }
        _, rng, churn = _streams(seed)
        _simulate(con, pop, rng, churn, (last + 1, last + 1, last + days), numbering, log)
        widths = {table: width for table, (_, width) in ids.items()}
        for table, path in paths.items():
            _write(con, table, widths, path, log)
    log(f"appended {first} .. {final} in {time.perf_counter() - started:.1f} s -> {out}")
    return paths
