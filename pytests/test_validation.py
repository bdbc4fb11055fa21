"""The Great Expectations gates bite: what passes on real data, and what a broken copy or a
malformed delivery makes fail, with the sentence an operator reads.

The mart suites run on copies of the built warehouse (the original is only opened read-only);
the intake suites on the demo seeds taken into a scratch raw store, and on broken variants.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, warehouse_path
from nps_warehouse import rawfiles, suites, validation

LOADED = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One copy of the built warehouse, taken while a read-only connection holds the lock."""
    copy = tmp_path_factory.mktemp("pristine") / "warehouse.duckdb"
    with duckdb.connect(str(warehouse_path()), read_only=True):
        shutil.copyfile(warehouse_path(), copy)
    return copy


def _broken_copy(pristine: Path, folder: Path, sql: str) -> Path:
    copy = folder / "broken.duckdb"
    shutil.copyfile(pristine, copy)
    with duckdb.connect(str(copy)) as connection:
        connection.execute(sql)
    return copy


def test_the_built_marts_pass_and_the_data_docs_are_built(pristine: Path, tmp_path: Path):
    assert validation.validate_marts(pristine, tmp_path / "gx") == []
    assert validation.docs_index(tmp_path / "gx").is_file()


INTERIOR_MONTH = (
    "period_grain = 'month' and segment = 'All' and period_start = "
    "(select period_start from marts.nps_by_segment_period where period_grain = 'month' "
    "and segment = 'All' order by period_start limit 1 offset 5)"
)


def test_a_month_that_collapses_fails_with_its_ratio(pristine: Path, tmp_path: Path):
    broken = _broken_copy(
        pristine,
        tmp_path,
        f"update marts.nps_by_segment_period set responses = 1 where {INTERIOR_MONTH}",
    )
    problems = validation.validate_marts(broken)
    assert len(problems) == 1
    assert problems[0].startswith("monthly_responses.ratio_to_previous_month: ")
    assert f"are not at least {suites.MIN_MONTH_OVER_MONTH} (e.g. " in problems[0]


def test_a_segment_that_vanishes_fails(pristine: Path, tmp_path: Path):
    broken = _broken_copy(
        pristine,
        tmp_path,
        "update marts.customers set segment = 'SMB' where segment = 'Mid-Market'",
    )
    problems = validation.validate_marts(broken)
    assert [problem.split(":")[0] for problem in problems] == ["segment_shares.segment"]


def _seed_batch(store: rawfiles.RawStore) -> rawfiles.Batch:
    return store.take_in(rawfiles.check_delivery(REPO / "seeds"), "seeds", LOADED)


def test_the_demo_seeds_pass_intake_despite_their_documented_dirty_rows(tmp_path: Path):
    store = rawfiles.RawStore(tmp_path / "store")
    batch = _seed_batch(store)
    assert validation.validate_batch(store, batch) == []
    assert set(batch.daily_rates) == set(suites.DAY_COLUMNS)


def test_a_resent_history_is_refused_by_its_daily_rate(tmp_path: Path):
    """After the seeds, a delivery of one day's orders repeated: rows per day far above."""
    store = rawfiles.RawStore(tmp_path / "store")
    first = _seed_batch(store)
    validation.validate_batch(store, first)
    store.commit(first)
    header = ",".join(rawfiles.RAW_COLUMNS["raw_orders"])
    rows = [f"ORD-83{n:05d},CUST-00002,2026-07-01,completed,10.00,5.00" for n in range(500)]
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "raw_orders.csv").write_text("\n".join([header, *rows]) + "\n")
    batch = store.take_in(rawfiles.check_delivery(delivery), "B2", LOADED)
    problems = validation.validate_batch(store, batch)
    assert len(problems) == 1
    assert problems[0].startswith("daily_rates.ratio_to_previous: ")


def test_a_small_file_is_left_to_staging(tmp_path: Path):
    """Fewer rows than MIN_ROWS_FOR_SHAPES: no shape check, each bad row is quarantined."""
    store = rawfiles.RawStore(tmp_path / "store")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    header = ",".join(rawfiles.RAW_COLUMNS["raw_orders"])
    (delivery / "raw_orders.csv").write_text(f"{header}\nORD-1,CUST-1,30.06.2026,done,1,5\n")
    batch = store.take_in(rawfiles.check_delivery(delivery), "B1", LOADED)
    assert validation.validate_batch(store, batch) == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nps_warehouse.cli", "validate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_exits_1_on_a_broken_copy_and_names_the_failure(pristine: Path, tmp_path: Path):
    broken = _broken_copy(
        pristine,
        tmp_path,
        f"update marts.nps_by_segment_period set responses = 1 where {INTERIOR_MONTH}",
    )
    docs_dir = tmp_path / "gx"
    run = _cli("--warehouse", str(broken), "--docs-dir", str(docs_dir))
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "FAIL  monthly_responses.ratio_to_previous_month"
    ]
    assert lines[-1].startswith("result: FAIL (marts of ")
    assert validation.docs_index(docs_dir).is_file()


def test_cli_checks_a_delivery_without_taking_it_in(tmp_path: Path):
    run = _cli("--delivery", str(REPO / "seeds"), "--docs-dir", str(tmp_path / "gx"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("result: PASS (delivery ")


def test_cli_exits_2_with_one_sentence_on_a_missing_warehouse(tmp_path: Path):
    run = _cli("--warehouse", str(tmp_path / "missing.duckdb"), "--docs-dir", str(tmp_path))
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip().endswith("run `make build` first")
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr
