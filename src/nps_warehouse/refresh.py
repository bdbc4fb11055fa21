"""The scheduled refresh: take in a delivery, build, audit, publish; the one path to the
serving file, whoever calls it (`nps-warehouse refresh`, or an orchestrator calling its steps).

Files (RefreshConfig):

- the raw store (rawfiles.RawStore): every accepted delivery, append-only Parquet per raw
  table; the system of record, which the staging models scan in place;
- the state folder: the warehouse between refreshes (staging, intermediate and mart tables,
  test failures), never read by BI:

      active.duckdb     the state the serving file was last published from
      standby.duckdb    the state one refresh before it (or missing)
      candidate.duckdb  the build of the refresh in progress
      failed.duckdb     the candidate of the last refresh that failed, kept for inspection
      refresh.lock      one refresh at a time
      target/           dbt's target folder (parse cache, manifest, run_results.json) and the
                        Great Expectations Data Docs (target/gx)

- the serving file: only the schemas marts (its tables; the fact mart views stay in the state)
  and quarantine and the table marts.build_info,
  written fresh from the candidate and renamed into place, so a reader with the old file open
  keeps reading it and readers never block a refresh.

An incremental refresh takes the standby as its candidate (it is one refresh behind: the build
picks up the batch it missed together with the new one, since staging finds new raw rows by
their load time) or, when there is no usable standby, a copy of the active state. It builds
the candidate incrementally; models whose code changed since the candidate was built (their
manifest checksums differ) are rebuilt in full with everything downstream. It then runs every
gate on the candidate, publishes, commits the delivery to the raw store, and only then makes
the candidate the active state (the old active becomes the standby). A full refresh
(`full_refresh`, and the first refresh of an empty state) builds a new candidate from the whole
raw store. A refresh that fails anywhere, is killed or runs out of disk leaves the serving file,
the state and the raw store as they were (an uncommitted delivery is deleted), and the next
refresh needs no repair.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import chdir, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import duckdb

from nps_warehouse import rawfiles
from nps_warehouse.contract import RAW_COLUMNS

REPO = Path(__file__).resolve().parents[2]
QUARANTINED = ("customers", "orders", "survey_responses")
BUILD_INFO = "marts.build_info"
# The dbt manifest a state was built with, stored inside it (compared on the next refresh).
STATE_MANIFEST = "main.state_manifest"
# Errors that mean the machine, not the data, failed.
INFRASTRUCTURE_ERRORS = re.compile(
    r"IO Error|No space left|File too large|Permission denied|Read-only file system|"
    r"Could not set lock|out of memory",
    re.I,
)

# dbt's events that carry a node's result (the build's progress and the orchestrator read them).
NODE_RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult")

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3

Say = Callable[[str], None]


class RefreshFailed(Exception):
    """A refresh that published nothing; `summary` is the one paragraph an operator reads."""

    def __init__(self, summary: str, exit_code: int) -> None:
        super().__init__(summary)
        self.summary = summary
        self.exit_code = exit_code


@dataclass(frozen=True)
class RefreshConfig:
    serving: Path = REPO / "warehouse" / "analytics.duckdb"
    state: Path = REPO / "warehouse" / "state"
    raw_store: Path = REPO / "warehouse" / "raw_store"
    new_data: Path | None = None
    full_refresh: bool = False

    @property
    def target_path(self) -> Path:
        """dbt's target folder for this state: its parse cache, manifest and results."""
        return self.state / "target"


@dataclass
class RefreshResult:
    build_id: str
    built_at: datetime
    serving: Path
    mode: str  # "full" or "incremental"
    rebuilt: list[str] = field(default_factory=list)  # models rebuilt in full for changed code
    loaded_rows: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    freshness: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    seconds: float = 0.0


def _crash_point(name: str) -> None:
    """Die here, as SIGKILL would, when NPS_REFRESH_CRASH_AT names this point: the crash tests
    (pytests/test_refresh.py) stop a refresh between the steps of its publish this way."""
    if os.environ.get("NPS_REFRESH_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _say(message: str) -> None:
    print(f"[refresh] {message}", flush=True)


def _infrastructure(what: str, error: BaseException) -> RefreshFailed:
    reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[0]
    return RefreshFailed(
        f"{what} ({reason}); nothing was published and the serving file and the state are "
        "untouched. Check the folder's permissions and free space, then run the refresh again.",
        EXIT_INFRASTRUCTURE,
    )


def _lock(lock_path: Path):
    """One refresh at a time: the open, locked file (closing it releases the lock; so does the
    OS if the process dies)."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("w")
    except OSError as error:
        raise _infrastructure(f"Cannot write the lock file {lock_path}", error) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise RefreshFailed(
            f"Another refresh holds {lock_path}; nothing was built. Let it finish, then "
            "run this one again.",
            EXIT_INFRASTRUCTURE,
        ) from error
    return handle


# --------------------------------------------------------------------------------------------
# The state folder
# --------------------------------------------------------------------------------------------


class States:
    """The state folder's files (see the module docstring) and the moves between them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.active = folder / "active.duckdb"
        self.standby = folder / "standby.duckdb"
        self.candidate = folder / "candidate.duckdb"
        self.failed = folder / "failed.duckdb"
        self.published = folder / "candidate.published"

    @staticmethod
    def _remove(path: Path) -> None:
        path.unlink(missing_ok=True)
        Path(f"{path}.wal").unlink(missing_ok=True)

    def recover(self) -> None:
        """Finish or undo what a refresh that died left behind: a candidate whose build passed
        every gate (marked published) is promoted; any other candidate is dropped; a standby
        that is the same file as the active state (the process died inside promote) too."""
        if self.published.exists() and self.candidate.exists():
            self.promote()
        self.published.unlink(missing_ok=True)
        self._remove(self.candidate)
        Path(f"{self.standby}.tmp").unlink(missing_ok=True)
        if self.standby.exists() and self.active.exists() and self.standby.samefile(self.active):
            self.standby.unlink()

    def prepare_candidate(self, full_refresh: bool, say: Say) -> str:
        """Put the file to build in place; returns the build mode, "full" or "incremental"."""
        if full_refresh or not self.active.exists():
            return "full"
        if self.standby.exists():
            os.replace(self.standby, self.candidate)
            return "incremental"
        started = time.perf_counter()
        shutil.copyfile(self.active, self.candidate)
        say(f"no standby state: copied the active state ({time.perf_counter() - started:.1f} s)")
        return "incremental"

    def promote(self) -> None:
        """The published candidate becomes the active state; the active one the standby."""
        if self.active.exists():
            link = Path(f"{self.standby}.tmp")
            link.unlink(missing_ok=True)
            os.link(self.active, link)
            os.replace(link, self.standby)
        os.replace(self.candidate, self.active)
        self.published.unlink()

    def keep_failed(self) -> Path | None:
        """Keep a failed candidate for inspection (the previous failed one is dropped)."""
        if not self.candidate.exists():
            return None
        self._remove(self.failed)
        os.replace(self.candidate, self.failed)
        return self.failed


# --------------------------------------------------------------------------------------------
# dbt, in this process
# --------------------------------------------------------------------------------------------


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command, so the
    refresh can open the candidate itself (with other settings, or read-only)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager._ENV = None


class Dbt:
    """dbt run in-process: the project parsed once per refresh (partial parsing keeps its
    cache in the target folder), then every command on that manifest. Every command runs in
    the state folder, on the profile path candidate.duckdb and the raw store's path relative
    to the folder: the profile and the sources' locations are then the same for every state
    folder of the same layout, so dbt keeps its parse cache (its key includes both) also in a
    copy of a warehouse, as the tests make."""

    def __init__(self, config: RefreshConfig, states: States, say: Say) -> None:
        self.config = config
        self.failed = states.failed
        self.say = say
        self.folder = config.state.resolve()
        self.target = config.target_path.resolve()
        self.state_dir = self.target / "state"
        # The environment of every dbt command (the profile and the sources read it), set only
        # while the command runs, so that an in-process caller's environment stays its own.
        self.environment: dict[str, str | None] = {
            "DUCKDB_PATH": states.candidate.name,
            "DBT_PROFILES_DIR": str(REPO / "profiles"),
            "NPS_RAW_STORE": os.path.relpath(config.raw_store.resolve(), self.folder),
            "NPS_AUDIT_SINCE": None,
            # No table of failing rows per test in the build (a third of a demo build's time,
            # 361 tables): store_failed_rows stores them for the tests that failed.
            "NPS_STORE_FAILURES": "false",
        }
        self.manifest = None
        self.node_events: list[dict] = []

    def _invoke(self, args: list[str], callbacks=(), log_level: str = "error", **environment):
        """A dbt command in this process, in the state folder, with self.environment and
        `environment` (None unsets a variable) set while it runs."""
        from dbt.cli.main import dbtRunner

        common = [
            "--project-dir",
            str(REPO),
            "--target-path",
            str(self.target),
            "--log-path",
            str(self.target / "logs"),
            "--log-level",
            log_level,
        ]
        words = 2 if args[0] == "source" else 1  # the command: build, ls, source freshness
        runner = dbtRunner(manifest=self.manifest, callbacks=list(callbacks))
        with patch.dict(os.environ), chdir(self.folder):
            for name, value in {**self.environment, **environment}.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            try:
                return runner.invoke([*args[:words], *common, *args[words:]])
            finally:
                _release_duckdb()

    def parse(self) -> None:
        result = self._invoke(["parse"])
        if not result.success:
            raise RefreshFailed(
                f"dbt could not parse the project ({result.exception}); nothing was built and "
                "the serving file is untouched. Fix the project (dbt parse shows the error).",
                EXIT_INFRASTRUCTURE,
            )
        self.manifest = result.result

    def modified_models(self, stored_manifest: str | None) -> list[str] | None:
        """Models whose code or config changed since the stored manifest was built (dbt's
        state:modified, models only: a source's location is no model change); None when
        nothing is stored."""
        if stored_manifest is None:
            return None
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir.mkdir(parents=True)
        (self.state_dir / "manifest.json").write_text(stored_manifest)
        result = self._invoke(
            [
                "ls",
                "--select",
                "state:modified",
                "--resource-type",
                "model",
                "--state",
                str(self.state_dir),
                "--output",
                "name",
            ],
            log_level="none",
        )
        return sorted(result.result or []) if result.success else None

    def build(self, label: str, args: list[str], audit_since: datetime | None) -> None:
        """dbt build with the selector `refresh` (models and data tests); a failed node raises
        RefreshFailed. With audit_since, row-level tests of the large incremental tables check
        only the rows written from then on (macro audit_scope)."""
        since = audit_since.strftime("%Y-%m-%d %H:%M:%S") if audit_since else None
        self.say(f"dbt build ({label}) ...")
        started = time.perf_counter()
        result = self._invoke(
            ["build", "--selector", "refresh", *args], [self._progress], NPS_AUDIT_SINCE=since
        )
        results = getattr(result.result, "results", None) or []
        failed = [r for r in results if str(r.status) in ("error", "fail")]
        results_file = self.target / "run_results.json"
        if results_file.exists():
            shutil.copyfile(results_file, self.target / "build_run_results.json")
        if result.success and not failed:
            seconds = time.perf_counter() - started
            self.say(f"dbt build ({label}): {len(results)} nodes in {seconds:.1f} s")
            return
        messages = [r.message or "" for r in failed] or [str(result.exception or "")]
        if not failed or any(INFRASTRUCTURE_ERRORS.search(message) for message in messages):
            detail = next((m for m in messages if m), "no message").strip().splitlines()[0]
            raise RefreshFailed(
                f"dbt build could not write the candidate state ({detail[:300]}); nothing was "
                "published and the serving file and the state are untouched. Check that the "
                "state folder is writable and has free space, then run the refresh again.",
                EXIT_INFRASTRUCTURE,
            )
        names = [r.node.name for r in failed]
        tests = [r.node.name for r in failed if r.node.resource_type == "test"]
        self.store_failed_rows(tests, since)
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise RefreshFailed(
            f"dbt build failed on {len(names)} node(s): {shown}. Nothing was published; the "
            "serving file and the state are untouched. The failing tests' rows are stored in "
            f"schema test_failures of the kept candidate {self.failed} (open it read-only), and "
            f"dbt's results are in {self.target / 'run_results.json'}.",
            EXIT_GATE_FAILED,
        )

    def store_failed_rows(self, tests: list[str], since: str | None) -> None:
        """The failing tests again (with the build's audit scope), each storing its failing
        rows in schema test_failures of the candidate, for whoever inspects the kept one."""
        if tests:
            self._invoke(["test", "--select", *tests, "--store-failures"], NPS_AUDIT_SINCE=since)

    def _progress(self, event) -> None:
        """One line per model built (a long build shows where it is). Every node's result is
        kept as dbt's structured log writes it (node_events), for the orchestrator to read."""
        if event.info.name in NODE_RESULT_EVENTS:
            from dbt_common.events.functions import msg_to_dict

            self.node_events.append(msg_to_dict(event))
        if event.info.name != "LogModelResult":
            return
        data = event.data
        self.say(
            f"  {data.index}/{data.total} {data.description.split()[-1]} {data.status} "
            f"in {data.execution_time:.1f} s"
        )

    def freshness(self) -> list[str]:
        """`dbt source freshness`: one line per raw table with a rule (stale data is reported,
        not refused: the build is still the newest complete picture)."""
        from dbt.artifacts.schemas.freshness import SourceFreshnessResult

        result = self._invoke(["source", "freshness"])
        if result.result is None:
            return [f"freshness unknown: dbt source freshness failed ({result.exception})"]
        # The tables sources.json lists: those whose freshness dbt could compute.
        return [
            f"{entry.node.name}: {entry.status} (newest rows loaded {entry.age / 3600:.1f} h ago)"
            for entry in result.result.results
            if isinstance(entry, SourceFreshnessResult)
        ]


# --------------------------------------------------------------------------------------------
# Checksums and the serving file
# --------------------------------------------------------------------------------------------


def mart_checksums(path: Path) -> dict[str, str]:
    """An order-independent checksum of every mart's rows (build_info excluded)."""
    checksums = table_checksums(path, ("marts",))
    checksums.pop("marts.build_info", None)
    return {name.removeprefix("marts."): checksum for name, checksum in checksums.items()}


def table_checksums(
    path: Path, schemas: tuple[str, ...] | None = None, ignored_columns: tuple[str, ...] = ()
) -> dict[str, str]:
    """An order-independent checksum (row count and summed row hashes, columns by name) of
    every table and view of the given schemas (all when None), keyed schema.table, leaving out
    the columns named in ignored_columns (e.g. the stamps of the run that computed a row).
    Relative paths in views (the raw store's, as dbt wrote them) resolve from path's folder."""
    with duckdb.connect(str(path), read_only=True) as connection:
        folder = str(path.resolve().parent).replace("'", "''")
        connection.execute(f"set file_search_path = '{folder}'")
        connection.execute("set enable_progress_bar = false")  # stdout is the caller's
        columns: dict[str, list[str]] = {}
        for schema, table, column in connection.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() order by table_schema, table_name, "
            "column_name"
        ).fetchall():
            if schemas is None or schema in schemas:
                columns.setdefault(f'"{schema}"."{table}"', []).append(column)
        checksums = {}
        for relation, names in columns.items():
            kept = ", ".join(f'"{name}"' for name in names if name not in ignored_columns)
            count, total = connection.execute(
                f"select count(*), coalesce(sum(hash(t)), 0) % 18446744073709551616 "
                f"from (select {kept} from {relation}) as t"
            ).fetchone()
            checksums[relation.replace('"', "")] = f"{count}:{total:016x}"
        return checksums


def write_serving(candidate: Path, target: Path, build_id: str, built_at: datetime) -> None:
    """A new serving file: the candidate's mart tables and quarantine (the rejected rows,
    personal data already pseudonymised or dropped), and build_info; checkpointed, so no WAL
    remains. The fact marts, views for the semantic layer, which runs on the state, stay
    there: copying them (one row per completed order, per customer and period) made the
    publish of a one-day refresh at 10M orders 4x slower."""
    Path(f"{target}.wal").unlink(missing_ok=True)
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as connection:
        connection.execute(f"attach '{candidate}' as candidate (read_only)")
        tables = connection.execute(
            "select table_name from information_schema.tables where table_catalog = 'candidate' "
            "and table_schema = 'marts' and table_type = 'BASE TABLE' order by table_name"
        ).fetchall()
        connection.execute("create schema marts")
        for (table,) in tables:
            connection.execute(
                f'create table marts."{table}" as select * from candidate.marts."{table}"'
            )
        connection.execute("create schema quarantine")
        for entity in QUARANTINED:
            connection.execute(
                f"create table quarantine.{entity}_rejected as "
                f"select * from candidate.staging.stg_{entity}_rejected"
            )
        connection.execute(
            f"create table {BUILD_INFO} as select ? as build_id, ? as built_at",
            [build_id, built_at.replace(tzinfo=None)],
        )
        connection.execute("detach candidate")
        connection.execute("checkpoint")


def _stored_manifest(path: Path) -> str | None:
    with duckdb.connect(str(path), read_only=True) as connection:
        try:
            (manifest,) = connection.execute(f"select manifest from {STATE_MANIFEST}").fetchone()
        except duckdb.CatalogException:
            return None
    return manifest


def _store_manifest(path: Path, manifest: str) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"create or replace table {STATE_MANIFEST} as select ? as manifest", [manifest]
        )
        connection.execute("checkpoint")


# --------------------------------------------------------------------------------------------
# The refresh
# --------------------------------------------------------------------------------------------


def _intake(
    config: RefreshConfig, store: rawfiles.RawStore, build_id: str, built_at: datetime, say: Say
) -> rawfiles.Batch | None:
    """Check and take in the delivery as an uncommitted batch; refuse it with one sentence.
    None when exactly these files were taken in before: a delivery counts once."""
    from nps_warehouse import validation

    try:
        files = rawfiles.check_delivery(config.new_data)
        earlier = store.find(rawfiles.fingerprint(files))
        if earlier is not None:
            say(f"delivery {config.new_data} was taken in before, as batch {earlier.batch_id}")
            return None
        batch = store.take_in(files, build_id, built_at)
    except rawfiles.RawFileError as error:
        store.discard(rawfiles.Batch(build_id, built_at, dict.fromkeys(RAW_COLUMNS, 0)))
        raise RefreshFailed(
            f"Refused the delivery: {error}. Nothing was built and the serving file and the state "
            "are untouched; fix the file and deliver it again.",
            EXIT_BAD_INPUT,
        ) from error
    problems = validation.validate_batch(store, batch)
    if problems:
        store.discard(batch)
        raise RefreshFailed(
            f"Refused the delivery {config.new_data}: {problems[0]}"
            + (
                f" ({len(problems) - 1} more problem(s) in target/refresh/gx)"
                if problems[1:]
                else ""
            )
            + ". Nothing was built and the serving file and the state are untouched; fix the "
            "export and deliver it again.",
            EXIT_BAD_INPUT,
        )
    return batch


def _scrub(store: rawfiles.RawStore, say: Say) -> None:
    for path in store.scrub(store.erased_ids()):
        say(f"erased personal data in {path}")
    store.scrub_done()


def _intake_time(store: rawfiles.RawStore) -> datetime:
    """Now, or just after the newest committed batch (load times must grow)."""
    now = datetime.now(UTC)
    committed = store.committed()
    if committed and committed[-1].loaded_at >= now:
        return committed[-1].loaded_at + timedelta(milliseconds=1)
    return now


class Refresh:
    """One refresh as its steps, in this order: start, intake, build, audit, publish, finish.
    `nps-warehouse refresh` runs them in a row (function refresh); the Dagster code location
    (orchestration.py) runs each as an asset of one run, in one process. Use it as a context
    manager: leaving it before publish undoes what the refresh did (an uncommitted delivery is
    deleted; the candidate is kept as failed.duckdb) and releases the lock.

    A step that raised RefreshFailed with EXIT_INFRASTRUCTURE (the machine, not the data,
    failed) may be called again, which is what the orchestrator's retry policy does; a build
    called again starts from a fresh candidate (a copy of the active state, or a full build)."""

    def __init__(self, config: RefreshConfig, say: Say = _say) -> None:
        self.config = config
        self.say = say
        self.states = States(config.state)
        self.store = rawfiles.RawStore(config.raw_store)
        self.steps: dict[str, float] = {}  # seconds per step
        self.build_id = ""
        self.built_at = datetime.now(UTC)
        self.batch: rawfiles.Batch | None = None
        self.loaded_rows: dict[str, int] = {}
        self.mode = "full"
        self.rebuilt: list[str] = []
        self.freshness: list[str] = []
        self.dbt: Dbt | None = None
        self.published = False
        self._lock = None
        self._built_before = False
        self._started = time.perf_counter()

    def __enter__(self) -> Refresh:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def _step(
        self, name: str, failure: str = "The refresh could not write its files"
    ) -> Iterator[None]:
        """Time the step; a failed file write is an infrastructure failure."""
        since = time.perf_counter()
        try:
            yield
        except (OSError, duckdb.IOException) as error:
            raise _infrastructure(failure, error) from error
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - since

    def start(self) -> None:
        """Take the lock and finish or undo what an interrupted refresh left behind."""
        config = self.config
        if self._lock is None:
            self._lock = _lock(config.state / "refresh.lock")
        with self._step("start", f"Cannot prepare {config.state} and {config.raw_store}"):
            self.store.init()
            for path in self.store.discard_uncommitted():
                self.say(f"deleted {path.name}: left by a refresh that did not finish")
            self.states.recover()
            if self.store.scrub_pending():
                _scrub(self.store, self.say)
        self.built_at = _intake_time(self.store)
        self.build_id = self.built_at.strftime("%Y%m%dT%H%M%S%fZ")

    def intake(self) -> None:
        """Check and take in the delivery (config.new_data), uncommitted until publish."""
        config = self.config
        with self._step("intake"):
            if config.new_data and self.batch is None:
                self.batch = _intake(config, self.store, self.build_id, self.built_at, self.say)
            if self.batch is None and not self.store.committed():
                raise RefreshFailed(
                    f"Nothing to build: the raw store {config.raw_store} holds no delivery yet. "
                    "Take in a first one with --new-data <folder> (the demo's: --new-data seeds).",
                    EXIT_BAD_INPUT,
                )
            if self.batch is not None:
                self.loaded_rows = self.batch.rows
                rows = ", ".join(f"{table} {count:,}" for table, count in self.batch.rows.items())
                self.say(f"took in delivery {config.new_data} as batch {self.build_id}: {rows}")

    def build(self) -> None:
        """Build the candidate state: in full, or incrementally with changed models rebuilt."""
        states, say = self.states, self.say
        with self._step("candidate"):
            if self._built_before:
                states._remove(states.candidate)
            self._built_before = True
            self.mode = states.prepare_candidate(self.config.full_refresh, say)
        with self._step("parse"):
            self.dbt = dbt = Dbt(self.config, states, say)
            dbt.parse()
        with self._step("build"):
            self.rebuilt = []
            if self.mode == "incremental":
                changed = dbt.modified_models(_stored_manifest(states.candidate))
                if changed is None:
                    self.mode = "full"
                    say("the state holds no manifest: building in full")
                else:
                    self.rebuilt = changed
            if self.mode == "full":
                dbt.build("full refresh", ["--full-refresh"], None)
            elif self.rebuilt:
                # What changed is rebuilt in full, with everything downstream of it, after the
                # rest (all upstream of it) has taken in the new rows.
                say(
                    f"code changed since the state was built: rebuilding {', '.join(self.rebuilt)}"
                    " and everything downstream"
                )
                changed = [f"{model}+" for model in self.rebuilt]
                audit_since = datetime.now(UTC) - timedelta(seconds=1)
                dbt.build("incremental", ["--exclude", *changed], audit_since)
                dbt.build("changed models", ["--select", *changed, "--full-refresh"], None)
            else:
                dbt.build("incremental", [], datetime.now(UTC) - timedelta(seconds=1))
            _store_manifest(states.candidate, (dbt.target / "manifest.json").read_text())

    def audit(self) -> None:
        """The Great Expectations suites on the candidate's marts, and source freshness."""
        from nps_warehouse import validation

        gx = self.config.target_path / "gx"
        with self._step("audit"):
            problems = validation.validate_marts(self.states.candidate, gx)
            if problems:
                raise RefreshFailed(
                    f"Great Expectations: {'; '.join(problems)}. Nothing was published; the "
                    f"serving file and the state are untouched. The kept candidate is "
                    f"{self.states.failed}; the Data Docs are under {gx}.",
                    EXIT_GATE_FAILED,
                )
            assert self.dbt is not None, "audit runs after build"
            self.freshness = self.dbt.freshness()
            for line in self.freshness:
                self.say(f"freshness {line}")

    def publish(self) -> None:
        """Write the serving file, commit the delivery, swap the file in, promote the state."""
        config, states = self.config, self.states
        with self._step("publish"):
            scratch = config.serving.with_name(f".{config.serving.name}.{self.build_id}")
            write_serving(states.candidate, scratch, self.build_id, self.built_at)
            if self.batch is not None:
                self.store.commit(self.batch)
                self.batch = None  # committed: from here on it stays, whatever happens
            # The candidate passed every gate and is being published: from here on it is the
            # new state, even if the process dies before promote.
            states.published.touch()
            _crash_point("committed")
            os.replace(scratch, config.serving)
            _crash_point("published")
            states.promote()
            self.published = True
            self.say(f"published {config.serving} ({self.mode})")

    def finish(self) -> RefreshResult:
        """Erase personal data in the raw store where requests wait; the result, also written
        to target/refresh.json."""
        config = self.config
        with self._step("erasure"):
            if self.store.scrub_pending():
                try:
                    _scrub(self.store, self.say)
                except OSError as error:
                    self.say(
                        f"could not yet erase personal data in the raw store ({error}); the "
                        "next refresh does it"
                    )
        result = RefreshResult(
            build_id=self.build_id,
            built_at=self.built_at,
            serving=config.serving,
            mode=self.mode,
            rebuilt=self.rebuilt,
            loaded_rows=self.loaded_rows,
            checksums=mart_checksums(config.serving),
            freshness=self.freshness,
            steps=self.steps,
            seconds=time.perf_counter() - self._started,
        )
        (config.target_path / "refresh.json").write_text(
            json.dumps({**asdict(result), "built_at": self.built_at.isoformat()}, default=str)
        )
        return result

    def close(self) -> None:
        """Undo an unpublished refresh (serving file, state and raw store stay as they were)
        and release the lock."""
        if self._lock is None:
            return
        try:
            if not self.published:
                if self.batch is not None:
                    self.store.discard(self.batch)
                    self.batch = None
                self.states.keep_failed()
        finally:
            self._lock.close()
            self._lock = None


def refresh(config: RefreshConfig, say: Say = _say) -> RefreshResult:
    """Take in, build, audit and publish; raise RefreshFailed (serving file, state and raw
    store as they were) on any failure."""
    with Refresh(config, say) as run:
        run.start()
        run.intake()
        run.build()
        run.audit()
        run.publish()
        return run.finish()
