"""The Dagster code location (src/nps_warehouse/orchestration.py), in-process on the demo data.

A temporary DAGSTER_HOME holds the instance, with the project's dagster.yaml. The module's
warehouse starts empty, with an incoming folder; its first delivery is the demo seeds, which a
sensor tick turns into the run that publishes the serving file. Every run is the real refresh
job, executed in this process on real files (dbt, DuckDB, Great Expectations). The UI test
starts `dagster dev` on a loopback port and opens the asset graph in headless Chromium
(Debian's chromium, scripts/browser-up).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from nps_warehouse import dashboard, rawfiles
from nps_warehouse.orchestration import Paths, build_definitions
from nps_warehouse.refresh import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_INFRASTRUCTURE

REPO = Path(__file__).resolve().parents[1]
FIRST = "2026-12-01-demo"


@dataclass
class Location:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    paths: Paths
    home: Path


@pytest.fixture(scope="module")
def location(tmp_path_factory):
    root = tmp_path_factory.mktemp("orchestration")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    paths = Paths(
        serving=root / "analytics.duckdb",
        state=root / "state",
        raw_store=root / "raw_store",
        incoming=root / "incoming",
    )
    paths.incoming.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("NPS_RETRY_DELAY_SECONDS", "1")
        defs = build_definitions(paths)
        with dg.DagsterInstance.get() as instance:
            yield Location(defs, instance, paths, home)


def tick(location: Location, cursor: str | None = None) -> dg.SensorResult:
    """One evaluation of the sensor, as the daemon runs it."""
    sensor = location.defs.resolve_sensor_def("deliveries")
    context = dg.build_sensor_context(
        instance=location.instance, cursor=cursor, definitions=location.defs
    )
    return sensor(context)


def launch(location: Location, run_config: dict, tags: dict | None = None):
    job = location.defs.resolve_job_def("refresh")
    return job.execute_in_process(
        run_config=run_config, instance=location.instance, tags=tags, raise_on_error=False
    )


def launch_request(location: Location, request: dg.RunRequest):
    return launch(
        location, request.run_config, {**request.tags, "dagster/run_key": request.run_key}
    )


def delivery(location: Location, name: str) -> Path:
    """A delivery written beside the incoming folder's watched names, then renamed into it."""
    scratch = location.paths.incoming / f".{name}"
    scratch.mkdir()
    return scratch


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def failure_of(result):
    """The failed step, and the description and metadata of the Failure it raised."""
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    return event.step_key, data


def retries(result) -> int:
    return sum(
        1
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    )


@pytest.fixture(scope="module")
def first_run(location):
    """The demo seeds delivered into the incoming folder; the sensor's first and second ticks,
    and the run the first one requested."""
    folder = delivery(location, FIRST)
    shutil.copytree(
        REPO / "seeds", folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.yml")
    )
    (location.paths.incoming / "_notes").mkdir()
    folder.rename(location.paths.incoming / FIRST)
    first = tick(location)
    second = tick(location, first.cursor)
    dbt_variables = ("DUCKDB_PATH", "NPS_RAW_STORE", "NPS_AUDIT_SINCE", "DBT_PROFILES_DIR")
    before = (os.getcwd(), [os.environ.get(name) for name in dbt_variables])
    result = launch_request(location, first.run_requests[0])
    # The refresh ran dbt in this process (in the state folder, with its own environment):
    # the process's folder and environment are as they were.
    assert (os.getcwd(), [os.environ.get(name) for name in dbt_variables]) == before
    results = location.paths.state / "target" / "build_run_results.json"
    return first, second, result, json.loads(results.read_text())["results"]


def test_a_new_delivery_folder_gives_one_run_request_and_the_next_tick_none(first_run, location):
    first, second, _, _ = first_run
    (request,) = first.run_requests
    assert request.run_key == FIRST
    assert request.run_config == {
        "ops": {"intake": {"config": {"new_data": str(location.paths.incoming / FIRST)}}}
    }
    assert second.run_requests == []


def test_that_run_publishes_the_serving_file(first_run, location):
    _, _, result, _ = first_run
    assert result.success
    (materialization,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey("serving_file")
    ]
    metadata = materialization.metadata
    with duckdb.connect(str(location.paths.serving), read_only=True) as connection:
        (build_id,) = connection.execute("select build_id from marts.build_info").fetchone()
        (customers,) = connection.execute("select count(*) from marts.customers").fetchone()
    assert metadata["build_id"].value == build_id
    assert metadata["mode"].value == "full"
    assert customers > 0
    # The delivery is committed to the raw store, under the run's build id.
    (batch,) = rawfiles.RawStore(location.paths.raw_store).committed()
    assert batch.batch_id == build_id


def test_the_asset_checks_carry_the_dbt_test_results(first_run, location):
    _, _, result, run_results = first_run
    checks = {
        (check.asset_check_key.asset_key.to_user_string(), check.check_name): check.passed
        for check in result.get_asset_check_evaluations()
    }
    manifest = json.loads((location.paths.state / "target" / "manifest.json").read_text())
    statuses = {
        manifest["nodes"][node["unique_id"]]["name"]: node["status"]
        for node in run_results
        if node["unique_id"].startswith("test.")
    }
    tests = {name: status == "pass" for name, status in statuses.items()}
    # Every data test of the project ran and is a check, passed exactly when dbt says pass.
    data_tests = {
        node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"
    }
    assert set(tests) == data_tests
    assert len(checks) == len(tests)
    assert sorted((name, passed) for (_, name), passed in checks.items()) == sorted(tests.items())
    # A test with several parents is a check on the asset its config names.
    assert checks[("marts/revenue_by_respondent_category", "revenue_by_category_adds_up")]
    # The tests that warned (the demo's quarantine counts) are failed checks of severity WARN.
    warned = sorted(
        check.check_name
        for check in result.get_asset_check_evaluations()
        if not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    )
    assert warned == sorted(name for name, status in statuses.items() if status == "warn")
    assert warned


def test_a_delivery_that_fails_a_gate_fails_its_run_and_leaves_the_serving_file_untouched(
    first_run, location
):
    first, _, _, _ = first_run
    before = digest(location.paths.serving)
    with duckdb.connect(str(location.paths.serving), read_only=True) as connection:
        customer, signup = connection.execute(
            "select customer_id, signup_date from marts.customers order by customer_id limit 1"
        ).fetchone()
    folder = delivery(location, "2026-12-02-orders")
    # An order of a known customer a year before the customer signed up fails a data test.
    (folder / "raw_orders.csv").write_text(
        "order_id,customer_id,order_date,status,amount_eur,cost_eur\n"
        f"ORD-9100001,{customer},{signup - timedelta(days=365)},completed,10.00,5.00\n"
    )
    folder.rename(location.paths.incoming / "2026-12-02-orders")
    (request,) = tick(location, first.cursor).run_requests
    result = launch_request(location, request)
    assert not result.success
    step, failure = failure_of(result)
    assert step == "candidate_build"
    assert failure.metadata["exit code"].value == EXIT_GATE_FAILED
    assert re.match(r"dbt build failed on \d+ node\(s\): ", failure.description)
    assert "Nothing was published" in failure.description
    # The run's own failure message is that paragraph too (what the UI shows on the run).
    (run_failure,) = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
    ]
    assert run_failure.event_specific_data.error.message.strip().endswith(failure.description)
    assert retries(result) == 0
    assert digest(location.paths.serving) == before
    assert [
        c.check_name
        for c in result.get_asset_check_evaluations()
        if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert len(rawfiles.RawStore(location.paths.raw_store).committed()) == 1


def test_only_infrastructure_failures_are_retried(first_run, location):
    before = digest(location.paths.serving)
    # Another process holds the refresh's lock: exit 3, retried three times, then failed.
    with (location.paths.state / "refresh.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = launch(location, {})
    assert not result.success
    step, failure = failure_of(result)
    assert step == "intake"
    assert failure.metadata["exit code"].value == EXIT_INFRASTRUCTURE
    assert failure.description.startswith("Another refresh holds ")
    assert retries(result) == 3
    # A refused delivery (not a CSV export of a raw table) fails at once.
    folder = location.paths.incoming.parent / "refused"
    folder.mkdir()
    (folder / "raw_orders.csv").write_text("order_id;customer_id\nX;Y\n")
    result = launch(location, {"ops": {"intake": {"config": {"new_data": str(folder)}}}})
    step, failure = failure_of(result)
    assert (step, failure.metadata["exit code"].value) == ("intake", EXIT_BAD_INPUT)
    assert failure.description.startswith("Refused the delivery")
    assert retries(result) == 0
    assert digest(location.paths.serving) == before


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_ui_shows_the_asset_graph_without_console_errors(first_run, location, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    port = free_port()
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(location.home),
        "NPS_SERVING": str(location.paths.serving),
        "NPS_STATE": str(location.paths.state),
        "NPS_RAW_STORE_DIR": str(location.paths.raw_store),
        "NPS_INCOMING": str(location.paths.incoming),
    }
    dagster = Path(sys.executable).with_name("dagster")
    log = (tmp_path / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [dagster, "dev", "-m", "nps_warehouse.orchestration", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    screenshot = Path(os.environ.get("NPS_DAGSTER_SCREENSHOT") or tmp_path / "dagster.png")
    errors: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "dagster dev did not answer in 180 s"
                time.sleep(2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=dashboard.chromium_path())
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/asset-groups", wait_until="networkidle")
            graph = page.locator("svg")
            for group in ("demo_seeds", "raw", "staging", "intermediate", "marts", "serving"):
                graph.get_by_text(group, exact=True).first.wait_for(timeout=120_000)
            # A new instance's welcome dialog opens a moment after the page.
            with contextlib.suppress(PlaywrightTimeout):
                page.get_by_role("button", name="Skip").click(timeout=10_000)
            time.sleep(2)  # let the edges settle
            assert page.get_by_role("dialog").count() == 0
            page.screenshot(path=str(screenshot))
            browser.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    assert errors == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
