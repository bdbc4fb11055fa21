"""The generator as Parquet, its targets, and the appender (real DuckDB and files, small sizes)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from nps_warehouse import generator
from nps_warehouse.contract import COUNTRIES, CUSTOMERS, ORDERS, RESPONSES, SEGMENTS, STATUSES
from nps_warehouse.generator import CHANNELS, TABLE_COLUMNS, GeneratorConfig

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
TABLES = (CUSTOMERS, ORDERS, RESPONSES)
SMALL = GeneratorConfig(customers=300, include_dirty=False)
EMAIL_RE = r"[a-z]+(?:-[a-z]+)*\.[a-z]+@[a-z0-9]+(?:-[a-z0-9]+)*\.(de|at|ch)"
# Clean-row formats, as in the seeds (seeds/*.csv).
FORMATS = {
    CUSTOMERS: {
        "customer_id": r"CUST-\d{5}",
        "contact_email": EMAIL_RE,
        "segment": "|".join(SEGMENTS),
        "country": "|".join(COUNTRIES),
        "signup_date": r"\d{4}-\d{2}-\d{2}",
    },
    ORDERS: {
        "order_id": r"ORD-\d{7}",
        "customer_id": r"CUST-\d{5}",
        "order_date": r"\d{4}-\d{2}-\d{2}",
        "status": "|".join(STATUSES),
        "amount_eur": r"\d+\.\d{2}",
        "cost_eur": r"\d+\.\d{2}",
    },
    RESPONSES: {
        "response_id": r"RSP-\d{6}",
        "customer_id": r"CUST-\d{5}",
        "responded_at": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
        "score": r"\d|10",
        "channel": "|".join(CHANNELS),
    },
}


def read(path: Path | str) -> pd.DataFrame:
    if str(path).endswith(".csv"):
        return duckdb.sql(f"SELECT * FROM read_csv('{path}', all_varchar = true)").df()
    return duckdb.sql(f"SELECT * FROM '{path}'").df()


def schema(path: Path | str, csv: bool = False) -> list[tuple[str, str]]:
    source = f"read_csv('{path}', all_varchar = true)" if csv else f"'{path}'"
    rows = duckdb.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
    return [(row[0], row[1]) for row in rows]


def generate(out: Path, config: GeneratorConfig = SMALL) -> dict[str, int]:
    return generator.generate(config, out, fmt="parquet", log=lambda _: None).rows


def append_days(out: Path, days: int, **options) -> dict[str, Path]:
    return generator.append_days(out, days, log=lambda _: None, **options)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parquet")
    generate(out)
    return out


def test_columns_and_types_equal_the_seeds(small: Path) -> None:
    for table in TABLES:
        expected = [(c, "VARCHAR") for c in TABLE_COLUMNS[table]]
        assert schema(small / f"{table}.parquet") == expected
        assert schema(SEEDS / f"{table}.csv", csv=True) == expected


def test_text_formats_match_the_seeds(small: Path) -> None:
    for table, patterns in FORMATS.items():
        frame = read(small / f"{table}.parquet")
        assert len(frame) > 0
        for column, pattern in patterns.items():
            bad = frame.loc[~frame[column].str.fullmatch(pattern), column]
            assert bad.empty, (table, column, bad.head().tolist())
    orders = read(small / f"{ORDERS}.parquet")
    assert orders["order_id"].is_unique and orders["order_id"].is_monotonic_increasing
    assert orders["order_date"].is_monotonic_increasing
    assert (orders["cost_eur"].astype(float) < orders["amount_eur"].astype(float)).all()
    responses = read(small / f"{RESPONSES}.parquet")
    assert responses["responded_at"].is_monotonic_increasing
    customers = read(small / f"{CUSTOMERS}.parquet")
    assert set(orders["customer_id"]) <= set(customers["customer_id"])
    assert set(responses["customer_id"]) <= set(customers["customer_id"])
    assert customers["company_name"].str.fullmatch(r"\S.*\S").all()


def test_targets_land_within_five_percent(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=500, orders=20_000, responses=6_000, include_dirty=False)
    rows = generate(tmp_path, config)
    assert rows[CUSTOMERS] == 500
    assert abs(rows[ORDERS] / 20_000 - 1) < 0.05
    assert abs(rows[RESPONSES] / 6_000 - 1) < 0.05
    low = generate(tmp_path / "low", GeneratorConfig(customers=5_000, responses=10_000))
    assert abs(low[RESPONSES] / 10_000 - 1) < 0.05


def test_deterministic_for_a_seed(tmp_path: Path, small: Path) -> None:
    generate(tmp_path / "again")
    generate(tmp_path / "other", GeneratorConfig(seed=7, customers=300, include_dirty=False))
    for table in TABLES:
        first = read(small / f"{table}.parquet")
        pd.testing.assert_frame_equal(first, read(tmp_path / "again" / f"{table}.parquet"))
    orders = read(small / f"{ORDERS}.parquet")
    assert not orders.equals(read(tmp_path / "other" / f"{ORDERS}.parquet"))


def test_dirty_rows_are_documented_kinds_in_the_dirty_id_range(tmp_path: Path) -> None:
    generate(tmp_path, GeneratorConfig(customers=2_000))
    orders = read(tmp_path / f"{ORDERS}.parquet")
    clean = orders["order_id"].str.fullmatch(r"ORD-[0-8]\d{6}")
    dirty = orders[~clean]
    assert 0 < len(dirty) < 0.02 * len(orders)
    assert dirty["order_id"].str.fullmatch(r"ORD-9\d{6}|").all()
    assert (dirty["status"] == "pending").any() and (dirty["amount_eur"] == "n/a").any()
    responses = read(tmp_path / f"{RESPONSES}.parquet")
    assert responses["score"].isin(["11", "-1", "ten", "7.5", ""]).any()
    customers = read(tmp_path / f"{CUSTOMERS}.parquet")
    assert (customers["segment"] == "Startup").any()
    rejected = set(customers.loc[customers["customer_id"].str.startswith("CUST-9"), "customer_id"])
    assert rejected
    for frame in (orders, responses):
        assert not rejected & set(frame["customer_id"].str.strip().str.upper())


def ids(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].str.extract(r"-(\d+)$")[0].dropna().astype(int)


def clean_ids(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].fillna("").str.fullmatch(r"[A-Z]+-[0-8]\d*")


def check_append(out: Path, before: dict[str, pd.DataFrame], days: int, ext: str) -> None:
    # The last day of the clean rows (dirty rows use the 9xxx id range and may lie in 2031).
    last = max(
        pd.to_datetime(frame.loc[clean_ids(frame, column), when], errors="coerce").max()
        for frame, column, when in (
            (before[ORDERS], "order_id", "order_date"),
            (before[RESPONSES], "response_id", "responded_at"),
        )
    ).date()
    first_new = last + timedelta(days=1)
    suffix = f"append_{first_new:%Y%m%d}_{first_new + timedelta(days=days - 1):%Y%m%d}"
    customers = set(before[CUSTOMERS]["customer_id"].dropna())
    for table, id_column, when in (
        (ORDERS, "order_id", "order_date"),
        (RESPONSES, "response_id", "responded_at"),
    ):
        new = read(out / f"{table}_{suffix}.{ext}")
        assert list(new.columns) == list(TABLE_COLUMNS[table])
        assert len(new) > 0
        for column, pattern in FORMATS[table].items():
            assert new[column].str.fullmatch(pattern).all(), column
        old_ids = ids(before[table].dropna(subset=[id_column]), id_column)
        clean_max = ids(before[table][clean_ids(before[table], id_column)], id_column).max()
        new_ids = ids(new, id_column)
        assert new_ids.tolist() == list(range(clean_max + 1, clean_max + 1 + len(new)))
        assert not set(new_ids) & set(old_ids)
        width = before[table].loc[clean_ids(before[table], id_column), id_column].str.len().max()
        assert (new[id_column].str.len() == width).all()
        day = pd.to_datetime(new[when]).dt.date
        assert day.min() >= first_new and day.max() < first_new + timedelta(days=days)
        assert set(new["customer_id"]) <= customers


def test_append_to_parquet(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    generate(out, GeneratorConfig(customers=400, seed=3))
    before = {t: read(out / f"{t}.parquet") for t in TABLES}
    paths = append_days(out, 5, seed=1)
    assert sorted(p.suffix for p in paths.values()) == [".parquet", ".parquet"]
    check_append(out, before, 5, "parquet")
    for table, path in paths.items():
        assert schema(path) == [(c, "VARCHAR") for c in TABLE_COLUMNS[table]]


def test_append_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        shutil.copytree(SEEDS, tmp_path / name)
        append_days(tmp_path / name, 3, seed=9)
    for path in (tmp_path / "a").glob("*append*"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_append_to_the_csv_seeds(tmp_path: Path) -> None:
    out = tmp_path / "seeds"
    shutil.copytree(SEEDS, out)
    before = {
        t: pd.read_csv(SEEDS / f"{t}.csv", dtype=str, keep_default_na=False).replace("", None)
        for t in TABLES
    }
    paths = append_days(out, 10, seed=42, fmt="csv")
    check_append(out, before, 10, "csv")
    for table, path in paths.items():
        header = (SEEDS / f"{table}.csv").read_text(encoding="utf-8").splitlines()[0]
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0] == header and "\r" not in text
    # Appended orders continue after the clean ids, below the dirty range ORD-9xxxxxx.
    assert re.fullmatch(r"ORD-0\d{6}", pd.read_csv(paths[ORDERS], dtype=str)["order_id"][0])
    # Appending again reads the appended files too and continues after them.
    before = {
        t: pd.concat([before[t], read(paths[t])]) if t in paths else before[t] for t in TABLES
    }
    again = append_days(out, 2, seed=42, fmt="csv")
    assert set(again.values()).isdisjoint(paths.values())
    check_append(out, before, 2, "csv")


def test_appended_days_continue_the_model(tmp_path: Path) -> None:
    """The next 30 days follow the last quarter's daily volumes and scores, not a new model."""
    out = tmp_path / "seeds"
    shutil.copytree(SEEDS, out)
    paths = append_days(out, 30, fmt="csv")
    for table, when in ((ORDERS, "order_date"), (RESPONSES, "responded_at")):
        before = read(SEEDS / f"{table}.csv")
        day = pd.to_datetime(before.loc[clean_ids(before, TABLE_COLUMNS[table][0]), when])
        recent = before.loc[day[day > day.max() - pd.Timedelta(days=90)].index]
        new = read(paths[table])
        assert 0.5 < (len(new) / 30) / (len(recent) / 90) < 2, table
        if table == RESPONSES:
            mean = recent["score"].str.strip().astype(int).mean()
            assert abs(new["score"].astype(int).mean() - mean) < 1
    statuses = read(paths[ORDERS])["status"].value_counts(normalize=True)
    assert statuses["completed"] > 0.8


def test_cli_help_and_generate(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nps_warehouse.cli", "generate"]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True)
    for flag in ("--format", "--orders", "--responses", "--append-days", "--no-dirty"):
        assert flag in shown.stdout
    out = tmp_path / "cli"
    done = subprocess.run(
        [*command, "--format", "parquet", "--out", str(out), "--customers", "100", "--no-dirty"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "done in" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"{t}.parquet" for t in sorted(TABLES)]
    start = date(2024, 1, 1).isoformat()
    assert (read(out / f"{ORDERS}.parquet")["order_date"] >= start).all()
