"""The scheduled refresh, end to end: real `nps-warehouse refresh` processes on real files.

Every test works in its own temporary serving file, build folder and raw store; the module
builds one baseline warehouse and the tests refresh it further. A refresh runs dbt seed, dbt
build and the Great Expectations suites (about a minute on two cores), so this module takes a
few minutes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from nps_warehouse import generator
from nps_warehouse.refresh import (
    EXIT_BAD_INPUT,
    EXIT_GATE_FAILED,
    EXIT_INFRASTRUCTURE,
    EXIT_OK,
    mart_checksums,
)

REPO = Path(__file__).resolve().parents[1]
MARTS = (
    "nps_by_segment_period",
    "retention_by_segment_period",
    "clv_by_segment_period",
    "customers",
    "survey_responses",
)
EMAIL_LIKE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"


@dataclass(frozen=True)
class Warehouse:
    serving: Path
    builds: Path
    raw_store: Path

    def args(self) -> list[str]:
        return [
            "--serving",
            str(self.serving),
            "--builds",
            str(self.builds),
            "--raw-store",
            str(self.raw_store),
        ]


def refresh_command(warehouse: Warehouse, new_data: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "nps_warehouse.cli", "refresh", *warehouse.args()]
    return command + (["--new-data", str(new_data)] if new_data else [])


def run_refresh(
    warehouse: Warehouse, new_data: Path | None = None, **kwargs
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        refresh_command(warehouse, new_data),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def build_id(path: Path) -> str:
    return query(path, "select build_id from marts.build_info")[0][0]


def write_delivery(folder: Path, table: str, rows: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    columns = generator.TABLE_COLUMNS.get(table, ("customer_id", "requested_at"))
    path = folder / f"{table}.csv"
    lines = [",".join(columns)] + [",".join(row.get(c, "") for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Warehouse:
    """One published warehouse from the demo seeds, copied by each test that changes it."""
    root = tmp_path_factory.mktemp("baseline")
    warehouse = Warehouse(root / "analytics.duckdb", root / "builds", root / "raw_store")
    result = run_refresh(warehouse)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    return warehouse


@pytest.fixture
def warehouse(baseline, tmp_path) -> Warehouse:
    copy = Warehouse(tmp_path / "analytics.duckdb", tmp_path / "builds", tmp_path / "raw_store")
    shutil.copy2(baseline.serving, copy.serving)
    copy.builds.mkdir()
    if baseline.raw_store.exists():
        shutil.copytree(baseline.raw_store, copy.raw_store)
    return copy


READER = r"""
import json, sys, time, traceback
from pathlib import Path
from nps_warehouse.reader import ServingReader

serving, stop_file, out_file = sys.argv[1:4]
marts = sys.argv[4].split(",")
reads, errors, builds = 0, [], set()
reader = ServingReader(serving)
while not Path(stop_file).exists():
    try:
        build = reader.snapshot()
        (build_id,) = build.execute("select build_id from marts.build_info").fetchone()
        for mart in marts:
            build.execute(f"select * from marts.{mart}").fetchall()
        # Internal consistency of one read: the All row equals the segment sums.
        for mart, column in (
            ("nps_by_segment_period", "responses"),
            ("retention_by_segment_period", "customers_end"),
            ("clv_by_segment_period", "orders"),
        ):
            (mismatches,) = build.execute(
                f"select count(*) from (select period_grain, period_start, "
                f"sum(case when segment = 'All' then {column} else -{column} end) as d "
                f"from marts.{mart} group by all) where d <> 0"
            ).fetchone()
            if mismatches:
                errors.append(f"{mart}.{column}: All differs from the segment sum")
        builds.add(build_id)
        reads += 1
    except Exception:
        errors.append(traceback.format_exc(limit=1))
    time.sleep(0.05)
reader.close()
Path(out_file).write_text(json.dumps({"reads": reads, "errors": errors, "builds": sorted(builds)}))
"""


def test_readers_are_never_blocked_or_broken_by_three_refreshes(warehouse, tmp_path):
    stop = tmp_path / "stop"
    outputs = [tmp_path / f"reader{i}.json" for i in range(4)]
    readers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                READER,
                str(warehouse.serving),
                str(stop),
                str(out),
                ",".join(MARTS),
            ],
            cwd=REPO,
        )
        for out in outputs
    ]
    checksums, build_ids = [], [build_id(warehouse.serving)]
    try:
        for _ in range(3):
            result = run_refresh(warehouse)
            assert result.returncode == EXIT_OK, result.stdout + result.stderr
            checksums.append(mart_checksums(warehouse.serving))
            build_ids.append(build_id(warehouse.serving))
    finally:
        stop.touch()
        for process in readers:
            process.wait(timeout=60)
    reports = [json.loads(out.read_text()) for out in outputs]
    reads = sum(report["reads"] for report in reports)
    errors = [error for report in reports for error in report["errors"]]
    seen = {build for report in reports for build in report["builds"]}
    figures = {"refreshes": 3, "readers": 4, "reads": reads, "reader_errors": len(errors)}
    (REPO / "target" / "refresh").mkdir(parents=True, exist_ok=True)
    (REPO / "target" / "refresh" / "readers_report.json").write_text(json.dumps(figures))
    assert errors == []
    assert reads > 0
    assert len(seen) >= 2, "readers should have seen more than one published build"
    assert seen <= set(build_ids)
    # No new data: every refresh publishes identical marts (idempotent).
    assert checksums[0] == checksums[1] == checksums[2]
    assert len(set(build_ids)) == 4


def test_a_killed_refresh_and_a_failed_disk_write_leave_the_serving_file_intact(warehouse):
    before = file_digest(warehouse.serving)
    process = subprocess.Popen(
        refresh_command(warehouse),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    for line in process.stdout:
        if "dbt build" in line:
            break
    time.sleep(3)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert file_digest(warehouse.serving) == before

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, resource.RLIM_INFINITY))

    failed = run_refresh(warehouse, preexec_fn=limit_file_size)
    assert failed.returncode != EXIT_OK
    assert "serving file is untouched" in failed.stderr
    assert file_digest(warehouse.serving) == before

    recovered = run_refresh(warehouse)
    assert recovered.returncode == EXIT_OK, recovered.stdout + recovered.stderr
    assert file_digest(warehouse.serving) != before


def test_a_second_refresh_while_one_runs_is_refused_at_once(warehouse):
    before = file_digest(warehouse.serving)
    with (warehouse.builds / "refresh.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run_refresh(warehouse)
    assert result.returncode == EXIT_INFRASTRUCTURE
    assert "Another refresh" in result.stderr
    assert file_digest(warehouse.serving) == before


def test_a_delivery_that_breaks_a_mart_invariant_publishes_nothing(warehouse, tmp_path):
    before = file_digest(warehouse.serving)
    # A valid order (it passes staging) dated before its customer's signup: the customers
    # mart's invariant fails, so the audit must stop the publish.
    (signup,) = query(
        warehouse.serving,
        "select signup_date from marts.customers where customer_id = 'CUST-00001'",
    )[0]
    delivery = tmp_path / "delivery"
    write_delivery(
        delivery,
        "raw_orders",
        [
            {
                "order_id": "ORD-8000001",
                "customer_id": "CUST-00001",
                "order_date": str(signup.replace(year=signup.year - 1)),
                "status": "completed",
                "amount_eur": "100.00",
                "cost_eur": "60.00",
            }
        ],
    )
    result = run_refresh(warehouse, delivery)
    assert result.returncode == EXIT_GATE_FAILED, result.stdout + result.stderr
    assert "customers_no_completed_order_before_signup" in result.stderr
    assert "test_failures" in result.stderr
    assert file_digest(warehouse.serving) == before
    assert not list(warehouse.raw_store.glob("raw_orders__*")), "a failed delivery is not stored"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "raw_orders.csv",
            "order_id,customer_id,order_date,status,amount_eur\nORD-8000001,CUST-00001,"
            "2025-01-01,completed,1.00\n",
            "column 'cost_eur' is missing",
        ),
        ("raw_survey_responses.csv", "", "is empty"),
        (
            "raw_customers.csv",
            "customer_id;company_name;contact_email;segment;country;signup_date\n"
            "CUST-80001;A;a@b.de;SMB;DE;2024-01-01\n",
            "wrong delimiter",
        ),
    ],
    ids=["missing-column", "empty-file", "wrong-delimiter"],
)
def test_a_structurally_broken_file_is_refused_with_a_clear_message(
    warehouse, tmp_path, name, content, message
):
    before = file_digest(warehouse.serving)
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / name).write_text(content)
    result = run_refresh(warehouse, delivery)
    assert result.returncode == EXIT_BAD_INPUT
    assert message in result.stderr
    assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert file_digest(warehouse.serving) == before


# Every kind of bad raw row, each in a row of its own, with its exact expected fate:
# "staged" or the rejection reason. Ids in the 8xxxxx range are new to the warehouse.
BAD_RESPONSES = {
    "RSP-800001": ({"score": "11"}, "score outside 0..10"),
    "RSP-800002": ({"score": "-1"}, "score outside 0..10"),
    "RSP-800003": ({"score": "ten"}, "score is not a number"),
    "RSP-800004": ({"score": ""}, "missing score"),
    "RSP-800005": ({"customer_id": "CUST-99999"}, "unknown customer_id"),
    "RSP-800006": ({"responded_at": "2031-01-01 10:00:00"}, "responded_at in the future"),
    "RSP-800007": ({"responded_at": "01/02/2026 10:00"}, "invalid responded_at"),
    "RSP-800008": ({"score": " 9 ", "customer_id": " cust-00002 "}, "staged"),
}
BAD_ORDERS = {
    "ORD-8000001": ({"amount_eur": "-10.00"}, "negative amount_eur"),
    "ORD-8000002": ({"order_date": "2031-01-01"}, "order_date in the future"),
    "ORD-8000003": ({"order_date": "2026-02-30"}, "invalid order_date"),
    "ORD-8000004": ({"customer_id": "CUST-99999"}, "unknown customer_id"),
    "ORD-8000005": ({"status": " COMPLETED "}, "staged"),
}
BAD_CUSTOMERS = {
    "CUST-80001": ({"segment": "Startup"}, "unknown segment"),
    "CUST-80002": ({"country": "FR"}, "unknown country"),
    "CUST-80003": ({"segment": " smb ", "country": "ch "}, "staged"),
}


@pytest.fixture(scope="module")
def bad_input_refresh(baseline, tmp_path_factory) -> tuple[Warehouse, Warehouse, dict]:
    """Refresh a copy of the baseline with a delivery holding one row per kind of bad input."""
    root = tmp_path_factory.mktemp("bad_input")
    warehouse = Warehouse(root / "analytics.duckdb", root / "builds", root / "raw_store")
    shutil.copy2(baseline.serving, warehouse.serving)
    existing = query(
        baseline.serving,
        "select response_id, customer_id, cast(responded_at as varchar), score, channel "
        "from marts.survey_responses where not has_comment order by response_id limit 2",
    )
    (equal, different) = existing
    delivery = root / "delivery"
    response = {
        "customer_id": "CUST-00001",
        "responded_at": "2026-05-05 10:00:00",
        "score": "8",
        "channel": "email",
        "comment": "",
    }
    responses = [
        {**response, "response_id": rid, **change} for rid, (change, _) in BAD_RESPONSES.items()
    ]
    # A duplicate id with equal content (after cleaning) and one with different content.
    responses.append(
        {
            "response_id": equal[0],
            "customer_id": equal[1],
            "responded_at": equal[2],
            "score": str(equal[3]),
            "channel": equal[4],
            "comment": "",
        }
    )
    responses.append(
        {
            "response_id": different[0],
            "customer_id": different[1],
            "responded_at": different[2],
            "score": str((different[3] + 5) % 11),
            "channel": different[4],
            "comment": "",
        }
    )
    write_delivery(delivery, "raw_survey_responses", responses)
    order = {
        "customer_id": "CUST-00001",
        "order_date": "2026-05-05",
        "status": "completed",
        "amount_eur": "100.00",
        "cost_eur": "50.00",
    }
    write_delivery(
        delivery,
        "raw_orders",
        [{**order, "order_id": oid, **change} for oid, (change, _) in BAD_ORDERS.items()],
    )
    customer = {
        "company_name": "Testfirma GmbH",
        "contact_email": "max.muster@testfirma.de",
        "segment": "SMB",
        "country": "DE",
        "signup_date": "2024-01-01",
    }
    write_delivery(
        delivery,
        "raw_customers",
        [{**customer, "customer_id": cid, **change} for cid, (change, _) in BAD_CUSTOMERS.items()],
    )
    result = run_refresh(warehouse, delivery)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    return baseline, warehouse, {"equal": equal[0], "different": different[0]}


def fates(serving: Path, entity: str, key: str, row_id: str) -> list[str]:
    """The fate of every row with this id: 'staged' (in the mart) or its rejection reason."""
    staged = query(serving, f"select 1 from marts.{entity} where {key} = '{row_id}'")
    rejected = query(
        serving,
        f"select reason from quarantine.{entity}_rejected where upper(trim({key})) = '{row_id}'",
    )
    return ["staged"] * len(staged) + [reason for (reason,) in rejected]


@pytest.mark.parametrize(("row_id", "expected"), [(k, v[1]) for k, v in BAD_RESPONSES.items()])
def test_bad_response_rows_meet_their_fate(bad_input_refresh, row_id, expected):
    _, warehouse, _ = bad_input_refresh
    assert fates(warehouse.serving, "survey_responses", "response_id", row_id) == [expected]


@pytest.mark.parametrize(("row_id", "expected"), [(k, v[1]) for k, v in BAD_CUSTOMERS.items()])
def test_bad_customer_rows_meet_their_fate(bad_input_refresh, row_id, expected):
    _, warehouse, _ = bad_input_refresh
    assert fates(warehouse.serving, "customers", "customer_id", row_id) == [expected]


@pytest.mark.parametrize(("row_id", "expected"), [(k, v[1]) for k, v in BAD_ORDERS.items()])
def test_bad_order_rows_meet_their_fate(bad_input_refresh, row_id, expected):
    _, warehouse, _ = bad_input_refresh
    rejected = query(
        warehouse.serving,
        f"select reason from quarantine.orders_rejected where order_id = '{row_id}'",
    )
    assert [reason for (reason,) in rejected] == ([] if expected == "staged" else [expected])


def test_duplicate_ids_equal_and_different(bad_input_refresh):
    _, warehouse, ids = bad_input_refresh
    equal = fates(warehouse.serving, "survey_responses", "response_id", ids["equal"])
    assert sorted(equal) == ["duplicate response_id (identical row)", "staged"]
    different = fates(warehouse.serving, "survey_responses", "response_id", ids["different"])
    assert different == ["conflicting duplicate response_id"] * 2


def test_bad_input_changes_nothing_else(bad_input_refresh):
    baseline, warehouse, ids = bad_input_refresh

    def keys(path: Path, sql: str) -> set:
        return {key for (key,) in query(path, sql)}

    responses = "select response_id from marts.survey_responses"
    assert keys(warehouse.serving, responses) == (
        keys(baseline.serving, responses) - {ids["different"]}
    ) | {"RSP-800008"}
    customers = "select customer_id from marts.customers"
    assert keys(warehouse.serving, customers) == keys(baseline.serving, customers) | {"CUST-80003"}
    new_rejections = 0
    for entity in ("customers", "orders", "survey_responses"):
        rows = f"select * from quarantine.{entity}_rejected"
        before, after = set(query(baseline.serving, rows)), set(query(warehouse.serving, rows))
        assert before <= after, f"a row left quarantine.{entity}_rejected"
        new_rejections += len(after - before)
    # 2 customers, 4 orders, 7 responses of the listed kinds, the identical copy, and both
    # versions of the conflicting response.
    assert new_rejections == 2 + 4 + 7 + 1 + 2


def test_the_serving_file_holds_no_personal_data(baseline):
    raw = generator.generate(generator.GeneratorConfig()).customers
    personal = (set(raw["company_name"]) | set(raw["contact_email"])) - {""}
    with duckdb.connect(str(baseline.serving), read_only=True) as connection:
        columns = connection.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns"
        ).fetchall()
        for schema, table, column, data_type in columns:
            where = f"{schema}.{table}.{column}"
            assert column not in ("company_name", "contact_email", "comment"), where
            assert column not in personal and "@" not in column, where
            if data_type != "VARCHAR":
                continue
            values = connection.execute(
                f'select distinct "{column}" from "{schema}"."{table}" using sample 5000 rows'
            ).fetchall()
            sample = {value for (value,) in values if value is not None}
            assert not sample & personal, f"{where} holds company names or e-mails"
            (email_like,) = connection.execute(
                f'select count(*) from "{schema}"."{table}" where regexp_matches("{column}", ?)',
                [EMAIL_LIKE],
            ).fetchone()
            assert email_like == 0, f"{where} holds e-mail-like text"


def test_gdpr_erasure_unlinks_customers_and_keeps_aggregates(warehouse, tmp_path):
    erased = ["CUST-00005", "CUST-00012"]
    totals_sql = (
        "select sum(responses), sum(promoters), sum(detractors) from marts.nps_by_segment_period "
        "where segment = 'All'"
    )
    revenue_sql = "select sum(revenue), sum(active_customers) from marts.clv_by_segment_period"
    before = (query(warehouse.serving, totals_sql), query(warehouse.serving, revenue_sql))
    delivery = tmp_path / "delivery"
    write_delivery(
        delivery,
        "raw_erasure_requests",
        [{"customer_id": customer, "requested_at": "2026-07-01 09:00:00"} for customer in erased],
    )
    result = run_refresh(warehouse, delivery)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    after = (query(warehouse.serving, totals_sql), query(warehouse.serving, revenue_sql))
    assert after == before, "aggregates change with an erasure"
    with duckdb.connect(str(warehouse.serving), read_only=True) as connection:
        text_columns = connection.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema in ('marts', 'quarantine')"
        ).fetchall()
        for schema, table, column in text_columns:
            (hits,) = connection.execute(
                f'select count(*) from "{schema}"."{table}" where upper("{column}") in (?, ?)',
                erased,
            ).fetchone()
            assert hits == 0, f"{schema}.{table}.{column} still holds an erased id"
        (anonymous,) = connection.execute(
            "select count(*) from marts.customers where customer_id like 'ERASED-%'"
        ).fetchone()
    assert anonymous == len(erased)
    stored = list(warehouse.raw_store.glob("raw_erasure_requests__*.csv"))
    assert len(stored) == 1, "the erasure requests are kept for the next refreshes"
