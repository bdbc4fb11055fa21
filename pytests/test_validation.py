"""The Great Expectations gate bites: break one thing in a copy of the warehouse, see it fail.

The built warehouse is copied once (while a read-only connection holds DuckDB's lock, so no
writer can change it mid-copy); every test that breaks data works on its own copy of that copy
in `tmp_path`. The original file is only ever opened read-only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, warehouse_path
from nps_warehouse import suites, validation

# Every raw suite reports exactly these failures on the demo seeds: the documented dirty rows
# of `nps_warehouse.generator` (type, columns, rows that break it).
RAW_FAILURES = {
    "raw.raw_customers": {
        ("expect_column_values_to_not_be_null", ("customer_id",), 1),
        ("expect_column_values_to_be_unique", ("customer_id",), 4),
        ("expect_column_values_to_match_regex", ("customer_id",), 1),
        ("expect_column_values_to_be_in_set", ("segment",), 2),
        ("expect_column_values_to_be_in_set", ("country",), 2),
        ("expect_column_values_to_match_strftime_format", ("signup_date",), 1),
    },
    "raw.raw_orders": {
        ("expect_column_values_to_not_be_null", ("order_id",), 1),
        ("expect_column_values_to_be_unique", ("order_id",), 4),
        ("expect_column_values_to_match_regex", ("customer_id",), 1),
        ("expect_column_values_to_be_in_set", ("status",), 2),
        ("expect_column_values_to_match_strftime_format", ("order_date",), 1),
        ("expect_column_values_to_match_regex", ("amount_eur",), 2),
        ("expect_column_values_to_match_regex", ("cost_eur",), 1),
    },
    "raw.raw_survey_responses": {
        ("expect_column_values_to_not_be_null", ("response_id",), 1),
        ("expect_column_values_to_be_unique", ("response_id",), 4),
        ("expect_column_values_to_match_regex", ("customer_id",), 1),
        ("expect_column_values_to_not_be_null", ("score",), 1),
        ("expect_column_values_to_match_regex", ("score",), 5),
        ("expect_column_values_to_match_strftime_format", ("responded_at",), 1),
    },
}


@dataclass(frozen=True)
class Breakage:
    """SQL that breaks one thing, and the only strict failures it may cause (suite: failures)."""

    sql: str
    failures: dict[str, set[str]]


FIRST_SMB_MONTH = (
    "period_grain = 'month' and segment = 'SMB' and period_start = "
    "(select min(period_start) from {table})"
)

BREAKAGES = {
    "staging_score_of_11": Breakage(
        """
        create table staging.broken_survey_responses as
        select * replace (
            case
                when response_id = (select min(response_id) from staging.stg_survey_responses)
                    then 11
                else score
            end as score
        )
        from staging.stg_survey_responses;
        create or replace view staging.stg_survey_responses as
        select * from staging.broken_survey_responses;
        """,
        {"staging.stg_survey_responses": {"expect_column_values_to_be_between(score, 1 row)"}},
    ),
    "nps_of_130": Breakage(
        "update marts.nps_by_segment_period set nps = 130 where "
        + FIRST_SMB_MONTH.format(table="marts.nps_by_segment_period"),
        {"marts.nps_by_segment_period": {"expect_column_values_to_be_between(nps, 1 row)"}},
    ),
    "duplicated_spine_row": Breakage(
        "insert into marts.retention_by_segment_period "
        "select * from marts.retention_by_segment_period where "
        + FIRST_SMB_MONTH.format(table="marts.retention_by_segment_period"),
        {
            "marts.retention_by_segment_period": {
                "expect_compound_columns_to_be_unique(period_grain, period_start, segment, 2 rows)"
            },
            "marts.retention_by_segment_period.spine": {
                "expect_column_pair_values_to_be_equal(rows, expected_periods, 1 row)"
            },
        },
    ),
    "email_column_in_a_mart": Breakage(
        "alter table marts.customers add column contact_email varchar",
        {"marts.customers": {"expect_table_columns_to_match_ordered_list(+contact_email)"}},
    ),
    "negative_clv_revenue": Breakage(
        "update marts.clv_by_segment_period set revenue = -revenue where "
        + FIRST_SMB_MONTH.format(table="marts.clv_by_segment_period"),
        {"marts.clv_by_segment_period": {"expect_column_values_to_be_between(revenue, 1 row)"}},
    ),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built warehouse, taken while a read-only connection blocks writers."""
    source = warehouse_path()
    if not source.exists():
        pytest.fail(f"{source} does not exist: build the warehouse first (`make build`)")
    copy = tmp_path_factory.mktemp("pristine") / "warehouse.duckdb"
    with duckdb.connect(str(source), read_only=True):
        shutil.copyfile(source, copy)
    return copy


@pytest.fixture(scope="module")
def clean_run(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[validation.SuiteResult], Path]:
    docs_dir = tmp_path_factory.mktemp("gx")
    return validation.run_all(pristine, docs_dir), docs_dir


def _broken_copy(pristine: Path, folder: Path, sql: str) -> Path:
    copy = folder / "broken.duckdb"
    shutil.copyfile(pristine, copy)
    with duckdb.connect(str(copy)) as connection:
        connection.execute(sql)
    return copy


def _strict_failures(results: list[validation.SuiteResult]) -> dict[str, set[str]]:
    return {
        result.name: {str(failure) for failure in result.failures}
        for result in validation.strict_failures(results)
    }


def test_the_built_warehouse_passes_every_strict_suite(clean_run):
    results, docs_dir = clean_run
    assert _strict_failures(results) == {}
    expected = [spec.name for spec in suites.all_suites(today=date.today())]
    assert [result.name for result in results] == expected
    assert validation.docs_index(docs_dir).is_file()


def test_raw_suites_report_the_documented_dirty_rows_without_failing_the_run(clean_run):
    results, _ = clean_run
    raw = {result.name: result for result in results if result.layer == "raw"}
    assert set(raw) == set(RAW_FAILURES)
    for name, result in raw.items():
        assert not result.strict and result.status == "REPORT"
        reported = {
            (failure.expectation_type, failure.columns, failure.unexpected_count)
            for failure in result.failures
        }
        assert reported == RAW_FAILURES[name], name
    assert not validation.strict_failures(results)


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_copy_fails_the_right_suite_with_the_right_expectation(
    breakage: Breakage, pristine: Path, tmp_path: Path
):
    broken = _broken_copy(pristine, tmp_path, breakage.sql)
    results = validation.run_all(broken, docs_dir=None)
    assert _strict_failures(results) == breakage.failures


def test_no_personal_data_column_is_expected_beyond_raw():
    # Staging keeps salted hashes of the company name and e-mail and whether a comment existed.
    allowed = {"company_name_hash", "contact_email_hash", "has_comment"}
    for table, columns in suites.COLUMNS.items():
        if table.startswith("raw."):
            continue
        for column in columns:
            personal = any(word in column for word in ("email", "company_name", "comment"))
            allowed_here = column in allowed and (
                table.startswith("staging.") or column == "has_comment"
            )
            assert not personal or allowed_here, f"{table}.{column}"


def test_an_unreadable_warehouse_is_reported_not_raised_from_duckdb(tmp_path: Path):
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_text("not a database")
    with pytest.raises(validation.WarehouseUnavailableError, match="run `make build` first"):
        validation.read_tables(garbage, ["marts.customers"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nps_warehouse.cli", "validate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_exits_1_on_a_broken_copy_and_names_the_failure(pristine: Path, tmp_path: Path):
    broken = _broken_copy(pristine, tmp_path, BREAKAGES["nps_of_130"].sql)
    docs_dir = tmp_path / "gx"
    run = _cli("--warehouse", str(broken), "--docs-dir", str(docs_dir))
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAIL ")]
    assert len(failed) == 1
    assert "marts.nps_by_segment_period " in failed[0]
    assert "expect_column_values_to_be_between(nps, 1 row)" in failed[0]
    assert sum(line.startswith("REPORT") for line in lines) == len(RAW_FAILURES)
    strict = sum(spec.strict for spec in suites.all_suites(today=date.today()))
    assert lines[-2].startswith(f"result: FAIL, {strict - 1}/{strict} strict suites passed")
    assert lines[-1] == f"Data Docs: {validation.docs_index(docs_dir)}"
    assert validation.docs_index(docs_dir).is_file()


def test_cli_exits_2_with_one_sentence_on_a_missing_warehouse(tmp_path: Path):
    run = _cli("--warehouse", str(tmp_path / "missing.duckdb"), "--docs-dir", str(tmp_path))
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip().endswith("run `make build` first")
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr
