"""The scheduled refresh, end to end: real `nps-warehouse refresh` processes on real files.

A module-wide baseline takes in the demo seeds as a warehouse's first delivery (a full
refresh); every test copies it (serving file, state and raw store) and refreshes the copy
further with hand-made or generated deliveries. Each refresh runs the real dbt build on the
candidate state and the Great Expectations suites, so the module takes a few minutes.
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
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from nps_warehouse.contract import RAW_COLUMNS
from nps_warehouse.refresh import (
    EXIT_BAD_INPUT,
    EXIT_GATE_FAILED,
    EXIT_INFRASTRUCTURE,
    EXIT_OK,
    mart_checksums,
    table_checksums,
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
ORDER_COLUMNS = RAW_COLUMNS["raw_orders"]
RESPONSE_COLUMNS = RAW_COLUMNS["raw_survey_responses"]


@dataclass(frozen=True)
class Warehouse:
    root: Path

    @property
    def serving(self) -> Path:
        return self.root / "analytics.duckdb"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def raw_store(self) -> Path:
        return self.root / "raw_store"

    def args(self) -> list[str]:
        return [
            "--serving",
            str(self.serving),
            "--state",
            str(self.state),
            "--raw-store",
            str(self.raw_store),
        ]

    def copy(self, root: Path) -> Warehouse:
        # With its target folder: dbt's parse cache serves the copy too.
        shutil.copytree(self.root, root, ignore=shutil.ignore_patterns("refresh.lock"))
        return Warehouse(root)


def refresh_command(
    warehouse: Warehouse, new_data: Path | None = None, full: bool = False
) -> list[str]:
    command = [sys.executable, "-m", "nps_warehouse.cli", "refresh", *warehouse.args()]
    if full:
        command.append("--full-refresh")
    return command + (["--new-data", str(new_data)] if new_data else [])


def run_refresh(
    warehouse: Warehouse, new_data: Path | None = None, full: bool = False, **kwargs
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        refresh_command(warehouse, new_data, full),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def refreshed(warehouse: Warehouse, new_data: Path | None = None, **kwargs) -> str:
    """Refresh, which must publish; its output."""
    result = run_refresh(warehouse, new_data, **kwargs)
    assert result.returncode == EXIT_OK, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(path: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def build_id(path: Path) -> str:
    return query(path, "select build_id from marts.build_info")[0][0]


def write_delivery(
    folder: Path, table: str, rows: list[dict[str, str]], name: str | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    columns = RAW_COLUMNS[table]
    path = folder / f"{name or table}.csv"
    lines = [",".join(columns)] + [",".join(row.get(c, "") for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def served(path: Path) -> dict[str, str]:
    """Checksums of what BI reads: every mart and quarantine table (build_info aside)."""
    checksums = table_checksums(path, ("marts", "quarantine"))
    checksums.pop("marts.build_info")
    return checksums


def assert_equals_a_full_refresh(warehouse: Warehouse, scratch: Path) -> None:
    """The serving file equals that of a --full-refresh over a copy of the same raw store."""
    full = Warehouse(scratch)
    full.root.mkdir()
    shutil.copytree(warehouse.raw_store, full.raw_store)
    output = refreshed(full, full=True)
    assert "refresh OK (full)" in output
    incremental, rebuilt = served(warehouse.serving), served(full.serving)
    different = sorted(name for name in rebuilt if incremental.get(name) != rebuilt[name])
    assert incremental.keys() == rebuilt.keys()
    assert different == [], f"incremental and full refresh differ in {different}"


def demo_customers() -> list[tuple[str, str, str]]:
    """customer_id, company_name and contact_email of every row of the demo seeds."""
    return duckdb.sql(
        "select customer_id, company_name, contact_email from read_csv(?, all_varchar = true)",
        params=[str(REPO / "seeds" / "raw_customers.csv")],
    ).fetchall()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Warehouse:
    """A warehouse whose first delivery was the demo seeds."""
    warehouse = Warehouse(tmp_path_factory.mktemp("baseline") / "warehouse")
    output = refreshed(warehouse, REPO / "seeds")
    assert "refresh OK (full)" in output
    return warehouse


@pytest.fixture
def warehouse(baseline, tmp_path) -> Warehouse:
    return baseline.copy(tmp_path / "warehouse")


def next_days(warehouse: Warehouse, folder: Path, days: int = 1) -> Path:
    """The generator's next days after everything the raw store holds, as a delivery."""
    work = folder.parent / f"{folder.name}_raw"
    work.mkdir(parents=True)
    for table in ("raw_customers", "raw_orders", "raw_survey_responses"):
        with duckdb.connect() as connection:
            connection.execute(
                f"copy (select * exclude (_loaded_at, _batch_id) from read_parquet(?, "
                f"union_by_name = true)) to '{work / table}.csv' (header)",
                [f"{warehouse.raw_store}/{table}/*.parquet"],
            )
    before = set(work.iterdir())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nps_warehouse.cli",
            "generate",
            "--append-days",
            str(days),
            "--format",
            "csv",
            "--out",
            str(work),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    folder.mkdir(parents=True)
    for path in set(work.iterdir()) - before:
        shutil.move(path, folder / path.name)
    shutil.rmtree(work)
    return folder


# --------------------------------------------------------------------------------------------
# Equality: a sequence of refreshes, each published step equal to a full refresh
# --------------------------------------------------------------------------------------------


def test_a_sequence_of_refreshes_equals_a_full_refresh_after_every_published_step(
    warehouse, tmp_path
):
    serving = warehouse.serving
    (latest,) = query(serving, "select max(last_order_date) from marts.customers")[0]
    customer, erased = (
        row[0]
        for row in query(
            serving,
            "select customer_id from marts.customers where lifetime_orders > 5 "
            "order by customer_id limit 2",
        )
    )
    (unknown,) = query(
        serving,
        "select customer_id from quarantine.orders_rejected where reason = 'unknown customer_id' "
        "order by customer_id limit 1",
    )[0]
    # 1. One day, a late order ten days back, and an identical copy of a stored order.
    day1 = next_days(warehouse, tmp_path / "day1")
    late_date = latest.fromordinal(latest.toordinal() - 10).isoformat()
    with duckdb.connect() as connection:
        resent = connection.execute(
            "select * exclude (_loaded_at, _batch_id) from read_parquet(?) "
            "where order_id = 'ORD-0000100'",
            [f"{warehouse.raw_store}/raw_orders/*.parquet"],
        ).fetchone()
    write_delivery(
        day1,
        "raw_orders",
        [
            {
                "order_id": "ORD-8100001",
                "customer_id": customer,
                "order_date": late_date,
                "status": "completed",
                "amount_eur": "1234.50",
                "cost_eur": "700.25",
            },
            dict(zip(ORDER_COLUMNS, resent, strict=True)),
        ],
        name="raw_orders_extra",
    )
    refreshed(warehouse, day1)
    assert_equals_a_full_refresh(warehouse, tmp_path / "full1")
    assert query(
        warehouse.serving,
        "select count(*) from quarantine.orders_rejected where order_id = 'ORD-0000100' "
        "and reason = 'duplicate order_id (identical row)'",
    ) == [(1,)]
    # 2. A refused delivery and one that fails a gate: nothing changes.
    before = file_digest(warehouse.serving)
    refused = tmp_path / "refused"
    refused.mkdir()
    (refused / "raw_orders.csv").write_text("order_id;customer_id\nX;Y\n")
    assert run_refresh(warehouse, refused).returncode == EXIT_BAD_INPUT
    (signup,) = query(
        serving, "select signup_date from marts.customers where customer_id = ?", [customer]
    )[0]
    failing = tmp_path / "failing"
    write_delivery(
        failing,
        "raw_orders",
        [
            {
                "order_id": "ORD-8100002",
                "customer_id": customer,
                "order_date": str(signup.replace(year=signup.year - 1)),
                "status": "completed",
                "amount_eur": "10.00",
                "cost_eur": "5.00",
            }
        ],
    )
    assert run_refresh(warehouse, failing).returncode == EXIT_GATE_FAILED
    assert file_digest(warehouse.serving) == before
    # The failing test's rows are kept in the failed candidate; a passing build stores none.
    kept = warehouse.state / "failed.duckdb"
    stored = "select table_name from duckdb_tables() where schema_name = 'test_failures'"
    tables = [name for (name,) in query(kept, stored)]
    assert tables
    assert all(query(kept, f'select count(*) from test_failures."{t}"')[0][0] for t in tables)
    assert query(warehouse.state / "active.duckdb", stored) == []
    # 3. A conflicting duplicate of a stored response and the late record of an unknown customer.
    (response,) = query(
        warehouse.serving,
        "select response_id, customer_id, cast(responded_at as varchar), score, channel "
        "from marts.survey_responses where not has_comment order by response_id limit 1",
    )
    day2 = next_days(warehouse, tmp_path / "day2")
    write_delivery(
        day2,
        "raw_survey_responses",
        [
            dict(
                zip(
                    RESPONSE_COLUMNS,
                    [*map(str, response[:3]), str((response[3] + 5) % 11), response[4], ""],
                    strict=True,
                )
            )
        ],
        name="raw_survey_responses_extra",
    )
    write_delivery(
        day2,
        "raw_customers",
        [
            {
                "customer_id": unknown,
                "company_name": "Spät GmbH",
                "contact_email": "info@spaet.example",
                "segment": "SMB",
                "country": "AT",
                "signup_date": "2023-01-15",
            }
        ],
    )
    refreshed(warehouse, day2)
    assert_equals_a_full_refresh(warehouse, tmp_path / "full2")
    assert query(
        warehouse.serving,
        "select count(*) from quarantine.survey_responses_rejected where response_id = ?",
        [response[0]],
    ) == [(2,)]
    assert query(
        warehouse.serving,
        "select count(*) from quarantine.orders_rejected where customer_id = ?",
        [unknown],
    ) == [(0,)]
    # 4. An erasure, with the next day.
    day3 = next_days(warehouse, tmp_path / "day3")
    write_delivery(
        day3, "raw_erasure_requests", [{"customer_id": erased, "requested_at": f"{latest} 09:00"}]
    )
    refreshed(warehouse, day3)
    assert_equals_a_full_refresh(warehouse, tmp_path / "full3")
    assert query(
        warehouse.serving, "select count(*) from marts.customers where customer_id = ?", [erased]
    ) == [(0,)]


# --------------------------------------------------------------------------------------------
# Crash, readers, lock
# --------------------------------------------------------------------------------------------


def test_a_killed_refresh_changes_nothing_and_the_next_one_ends_as_an_uninterrupted_run(
    warehouse, tmp_path
):
    delivery = next_days(warehouse, tmp_path / "day")
    uninterrupted = warehouse.copy(tmp_path / "uninterrupted")
    refreshed(uninterrupted, delivery)
    before = file_digest(warehouse.serving)
    process = subprocess.Popen(
        refresh_command(warehouse, delivery),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    for line in process.stdout:
        if "int_customers_active_on_boundaries" in line:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert file_digest(warehouse.serving) == before
    refreshed(warehouse, delivery)
    assert served(warehouse.serving) == served(uninterrupted.serving)


@pytest.mark.parametrize("point", ["committed", "published"])
def test_a_refresh_killed_while_publishing_is_finished_by_the_next_one(warehouse, tmp_path, point):
    delivery = next_days(warehouse, tmp_path / "day")
    uninterrupted = warehouse.copy(tmp_path / "uninterrupted")
    refreshed(uninterrupted, delivery)
    killed = run_refresh(warehouse, delivery, env={**os.environ, "NPS_REFRESH_CRASH_AT": point})
    assert killed.returncode == -signal.SIGKILL
    output = refreshed(warehouse, delivery)
    assert "was taken in before" in output, "the committed delivery is not taken in twice"
    assert served(warehouse.serving) == served(uninterrupted.serving)
    assert len(list((warehouse.raw_store / "_batches").glob("*.json"))) == len(
        list((uninterrupted.raw_store / "_batches").glob("*.json"))
    )


def test_a_failed_disk_write_leaves_everything_as_it_was(warehouse, tmp_path):
    delivery = next_days(warehouse, tmp_path / "day")
    before = file_digest(warehouse.serving)
    batches = sorted((warehouse.raw_store / "_batches").iterdir())

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))

    failed = run_refresh(warehouse, delivery, preexec_fn=limit_file_size)
    assert failed.returncode == EXIT_INFRASTRUCTURE, failed.stdout[-2000:] + failed.stderr
    assert "serving file and the state are untouched" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert file_digest(warehouse.serving) == before
    assert sorted((warehouse.raw_store / "_batches").iterdir()) == batches
    refreshed(warehouse, delivery)
    assert file_digest(warehouse.serving) != before


def test_a_second_refresh_while_one_runs_is_refused_at_once(warehouse):
    before = file_digest(warehouse.serving)
    with (warehouse.state / "refresh.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run_refresh(warehouse)
    assert result.returncode == EXIT_INFRASTRUCTURE
    assert "Another refresh" in result.stderr
    assert file_digest(warehouse.serving) == before


def test_a_refresh_of_an_empty_raw_store_without_a_delivery_says_what_to_do(tmp_path):
    empty = Warehouse(tmp_path / "empty")
    result = run_refresh(empty)
    assert result.returncode == EXIT_BAD_INPUT, result.stdout[-2000:] + result.stderr
    assert "holds no delivery yet" in result.stderr and "--new-data" in result.stderr
    assert "Traceback" not in result.stderr
    assert not empty.serving.exists()


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


def test_four_readers_are_never_blocked_or_broken_by_three_incremental_refreshes(
    warehouse, tmp_path
):
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
    build_ids = [build_id(warehouse.serving)]
    try:
        for number in range(3):
            delivery = next_days(warehouse, tmp_path / f"reading{number}")
            output = refreshed(warehouse, delivery)
            assert "refresh OK (incremental)" in output
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
    (REPO / "target").mkdir(exist_ok=True)
    (REPO / "target" / "readers_report.json").write_text(json.dumps(figures))
    assert errors == []
    assert reads > 0
    assert len(seen) >= 2, "readers should have seen more than one published build"
    assert seen <= set(build_ids)
    assert len(set(build_ids)) == 4


def test_a_refresh_without_new_data_publishes_identical_marts(warehouse):
    before = mart_checksums(warehouse.serving)
    output = refreshed(warehouse)
    assert "refresh OK (incremental)" in output
    assert mart_checksums(warehouse.serving) == before


def test_checksums_read_views_over_the_raw_store_from_any_working_directory(
    baseline, tmp_path, monkeypatch
):
    """The state's staging views read the raw store by a path relative to the state folder
    (as dbt ran them): the benchmark's comparison of two builds opens them from elsewhere."""
    state = baseline.state / "active.duckdb"
    with duckdb.connect(str(state), read_only=True) as connection:
        relative = connection.execute(
            "select count(*) from duckdb_views() where sql like '%''../raw_store/%'"
        ).fetchone()[0]
    assert relative > 0, "expected a view over the raw store by a relative path"
    monkeypatch.chdir(tmp_path)
    checksums = table_checksums(state)
    assert "staging.stg_erasure_requests" in checksums
    assert checksums["marts.customers"] == mart_checksums(baseline.serving)["customers"]


def test_changed_model_code_is_rebuilt_with_everything_downstream(warehouse, tmp_path):
    """A deploy changes a model: the next refresh rebuilds it and what depends on it, so the
    serving file never holds stale logic. The project is copied and one mart's SQL changed."""
    project = tmp_path / "project"
    shutil.copytree(
        REPO,
        project,
        ignore=shutil.ignore_patterns(".venv", ".git", "target", "warehouse", "logs", "*.duckdb*"),
    )
    mart = project / "models" / "marts" / "nps_by_segment_period.sql"
    mart.write_text(mart.read_text() + "\n-- a deploy touched this model\n")
    result = subprocess.run(
        refresh_command(warehouse),
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rebuilding nps_by_segment_period" in result.stdout
    assert "refresh OK (incremental)" in result.stdout


# --------------------------------------------------------------------------------------------
# Intake: every kind of real export, with its exact fate
# --------------------------------------------------------------------------------------------

RESPONSE_HEADER = ",".join(RESPONSE_COLUMNS)


def _one_response(response_id: str, responded_at: str, customer: str = "CUST-00002") -> str:
    return f"{response_id},{customer},{responded_at},9,email,"


def test_bom_crlf_and_offset_timestamps_are_taken_in_correctly(warehouse, tmp_path):
    delivery = tmp_path / "excel"
    delivery.mkdir()
    lines = [
        RESPONSE_HEADER,
        _one_response("RSP-810001", "2026-06-30T23:30:00+02:00"),
        _one_response("RSP-810002", "2026-06-30 12:00:00Z"),
        _one_response("RSP-810003", "2026-06-30 08:15:00"),
    ]
    (delivery / "raw_survey_responses.csv").write_bytes(
        b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"
    )
    refreshed(warehouse, delivery)
    assert query(
        warehouse.serving,
        "select response_id, cast(responded_at as varchar) from marts.survey_responses "
        "where response_id like 'RSP-81%' order by 1",
    ) == [
        ("RSP-810001", "2026-06-30 21:30:00"),
        ("RSP-810002", "2026-06-30 12:00:00"),
        ("RSP-810003", "2026-06-30 08:15:00"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            f"{RESPONSE_HEADER}\nRSP-1,C,2026-06-30,9,email,\nRSP-2,C,2026-06-30,9,email,,x\n",
            "raw_survey_responses.csv line 3: it has more fields than the header",
        ),
        (
            f"{RESPONSE_HEADER}\nRSP-1,C,2026-06-30,9\n",
            "raw_survey_responses.csv line 2: it has fewer fields than the header",
        ),
        (
            f'{RESPONSE_HEADER}\nRSP-1,C,2026-06-30,9,email,"Gut\nRSP-2,C,2026-06-30,9,email,\n',
            "raw_survey_responses.csv line 2: a quote is not closed",
        ),
        (
            f"{RESPONSE_HEADER}\nRSP-1,C,2026-06-30,9,email,Gr\xfc\xdfe\n",
            "not UTF-8",
        ),
        ("", "the file is empty"),
        (
            "response_id;customer_id;responded_at;score;channel;comment\nR;C;2026-06-30;9;;\n",
            "wrong delimiter",
        ),
        (
            "response_id,customer_id,responded_at,score,channel\nR,C,2026-06-30,9,email\n",
            "column 'comment' is missing",
        ),
    ],
    ids=["extra-field", "missing-field", "open-quote", "latin-1", "empty", "semicolons", "column"],
)
def test_a_malformed_export_is_refused_before_anything_is_built(
    warehouse, tmp_path, content, message
):
    before = file_digest(warehouse.serving)
    batches = sorted((warehouse.raw_store / "_batches").iterdir())
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "raw_survey_responses.csv").write_bytes(content.encode("latin-1"))
    result = run_refresh(warehouse, delivery)
    assert result.returncode == EXIT_BAD_INPUT, result.stdout[-2000:] + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "dbt build" not in result.stdout, "refused before anything was built"
    assert file_digest(warehouse.serving) == before
    assert sorted((warehouse.raw_store / "_batches").iterdir()) == batches
    assert not list((warehouse.raw_store / "raw_survey_responses").glob("2*.parquet"))[
        len(batches) :
    ]


def test_a_column_mostly_in_another_format_is_refused_with_an_example(warehouse, tmp_path):
    """A German export: dates as 30.06.2026 and amounts with a decimal comma, quoted."""
    rows = [
        f'ORD-82{n:05d},CUST-00002,30.06.2026,completed,"1.234,{n % 100:02d}","800,00"'
        for n in range(200)
    ]
    delivery = tmp_path / "german"
    delivery.mkdir()
    (delivery / "raw_orders.csv").write_text("\n".join([",".join(ORDER_COLUMNS), *rows]) + "\n")
    result = run_refresh(warehouse, delivery)
    assert result.returncode == EXIT_BAD_INPUT
    assert "raw_orders.order_date: 100% of the sampled values are not an ISO date" in result.stderr
    assert "'30.06.2026'" in result.stderr


def test_a_delivery_far_larger_per_day_than_the_previous_ones_is_refused(warehouse, tmp_path):
    """The same day's orders delivered 50 times over: a file appended to itself."""
    day = next_days(warehouse, tmp_path / "day")
    orders = next(day.glob("raw_orders*.csv"))
    header, *rows = orders.read_text().splitlines()
    orders.write_text("\n".join([header, *rows * 50]) + "\n")
    result = run_refresh(warehouse, day)
    assert result.returncode == EXIT_BAD_INPUT
    assert "daily_rates" in result.stderr


# --------------------------------------------------------------------------------------------
# Bad rows, personal data, erasure
# --------------------------------------------------------------------------------------------

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
    warehouse = baseline.copy(root / "warehouse")
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
    responses.append(dict(zip(RESPONSE_COLUMNS, [*map(str, equal), ""], strict=True)))
    changed = [*map(str, different[:3]), str((different[3] + 5) % 11), different[4], ""]
    responses.append(dict(zip(RESPONSE_COLUMNS, changed, strict=True)))
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
    refreshed(warehouse, delivery)
    return baseline, warehouse, {"equal": equal[0], "different": different[0]}


def fates(serving: Path, entity: str, key: str, row_id: str) -> list[str]:
    """The fate of every row with this id: 'staged' (in the mart) or its rejection reason."""
    staged = query(serving, f"select 1 from marts.{entity} where {key} = ?", [row_id])
    rejected = query(
        serving,
        f"select reason from quarantine.{entity}_rejected where upper(trim({key})) = ?",
        [row_id],
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
        "select reason from quarantine.orders_rejected where order_id = ?",
        [row_id],
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


def test_the_serving_file_holds_only_marts_quarantine_and_no_personal_data(baseline):
    personal = {value for _, name, email in demo_customers() for value in (name, email) if value}
    with duckdb.connect(str(baseline.serving), read_only=True) as connection:
        schemas = {
            schema
            for (schema,) in connection.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        assert schemas == {"marts", "quarantine"}
        # Every mart table is published; the fact mart views of the semantic layer are not.
        marts = {path.stem for path in (REPO / "models" / "marts").glob("*.sql")} | {"build_info"}
        published = {
            table
            for (table,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        assert published == marts - {"completed_orders", "customer_periods"}
        columns = connection.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns"
        ).fetchall()
        for schema, table, column, data_type in columns:
            where = f"{schema}.{table}.{column}"
            assert column not in ("company_name", "contact_email", "comment"), where
            if data_type != "VARCHAR":
                continue
            values = connection.execute(f'select distinct "{column}" from "{schema}"."{table}"')
            sample = {value for (value,) in values.fetchall() if value is not None}
            assert not sample & personal, f"{where} holds company names or e-mails"
            (email_like,) = connection.execute(
                f'select count(*) from "{schema}"."{table}" where regexp_matches("{column}", ?)',
                [EMAIL_LIKE],
            ).fetchone()
            assert email_like == 0, f"{where} holds e-mail-like text"


def test_gdpr_erasure_unlinks_customers_keeps_aggregates_and_scrubs_the_raw_store(
    warehouse, tmp_path
):
    erased = ["CUST-00005", "CUST-00012"]
    totals_sql = (
        "select sum(responses), sum(promoters), sum(detractors) from marts.nps_by_segment_period "
        "where segment = 'All'"
    )
    revenue_sql = "select sum(revenue), sum(active_customers) from marts.clv_by_segment_period"
    before = (query(warehouse.serving, totals_sql), query(warehouse.serving, revenue_sql))
    store_files = {
        path: file_digest(path) for path in warehouse.raw_store.glob("raw_orders/*.parquet")
    }
    delivery = tmp_path / "delivery"
    write_delivery(
        delivery,
        "raw_erasure_requests",
        [{"customer_id": customer, "requested_at": "2026-07-01 09:00:00"} for customer in erased],
    )
    output = refreshed(warehouse, delivery)
    assert "erased personal data in" in output
    after = (query(warehouse.serving, totals_sql), query(warehouse.serving, revenue_sql))
    assert after == before, "aggregates change with an erasure"
    with duckdb.connect(str(warehouse.serving), read_only=True) as connection:
        text_columns = connection.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'"
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
    with duckdb.connect() as connection:
        (left,) = connection.execute(
            "select count(*) from read_parquet(?, union_by_name = true) "
            "where list_contains(?, upper(trim(customer_id))) "
            "and (company_name is not null or contact_email is not null)",
            [f"{warehouse.raw_store}/raw_customers/*.parquet", erased],
        ).fetchone()
        (comments,) = connection.execute(
            "select count(*) from read_parquet(?, union_by_name = true) "
            "where list_contains(?, upper(trim(customer_id))) and comment is not null",
            [f"{warehouse.raw_store}/raw_survey_responses/*.parquet", erased],
        ).fetchone()
    assert (left, comments) == (0, 0), "the raw store still holds the erased customers' data"
    assert {path: file_digest(path) for path in store_files} == store_files, (
        "files without personal data are not rewritten"
    )
    assert_equals_a_full_refresh(warehouse, tmp_path / "full")


def test_a_warehouse_initialised_from_its_own_delivery_holds_no_demo_row(tmp_path):
    """Production and demo apart: the generator's data as the first delivery."""
    raw = tmp_path / "raw"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nps_warehouse.cli",
            "generate",
            "--format",
            "parquet",
            "--seed",
            "7",
            "--customers",
            "300",
            "--orders",
            "6000",
            "--responses",
            "1500",
            "--out",
            str(raw),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    warehouse = Warehouse(tmp_path / "warehouse")
    refreshed(warehouse, raw)
    demo_ids = {customer_id for customer_id, _, _ in demo_customers()}
    served_ids = {
        row[0] for row in query(warehouse.serving, "select customer_id from marts.customers")
    }
    with duckdb.connect() as connection:
        delivered_ids = {
            row[0]
            for row in connection.execute(
                "select distinct upper(trim(customer_id)) from read_parquet(?)",
                [f"{raw}/raw_customers*.parquet"],
            ).fetchall()
        }
    assert served_ids and served_ids <= delivered_ids, "every customer served was delivered"
    demo_only = demo_ids - delivered_ids
    assert demo_only and not served_ids & demo_only, "no demo customer enters the warehouse"
    (conflicts,) = query(
        warehouse.serving,
        "select count(*) from quarantine.customers_rejected where reason like 'conflicting%'",
    )[0]
    assert conflicts <= 2, "only the generator's own documented conflicting pair"
