"""The scheduled refresh: take in a delivery, build, audit, publish; the one path to the
serving file, whoever calls it (`nps-warehouse refresh`, or an orchestrator calling its steps).

The raw store (rawfiles.RawStore) keeps every accepted delivery; the state folder (States) the
warehouse between refreshes; the serving file only what BI reads, written fresh and renamed into
place, so readers never block a refresh. An incremental refresh builds on the standby state (one
refresh behind; staging finds new raw rows by their load time) or a copy of the active one,
rebuilding models whose code changed in full. A refresh that fails anywhere, is killed or runs
out of disk leaves serving file, state and raw store as they were; the next needs no repair.
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
from contextlib import chdir, closing, contextmanager
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
STATE_MANIFEST = "main.state_manifest"  # the dbt manifest a state was built with, in it
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
    """Die here, as SIGKILL would, when NPS_REFRESH_CRASH_AT names this point (the crash tests)."""
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
    """One refresh at a time: the locked file (closing it, or the process dying, releases it)."""
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


def _remove(database: Path) -> None:
    database.unlink(missing_ok=True)
    Path(f"{database}.wal").unlink(missing_ok=True)


class States:
    """The state folder: the active state (last published), the standby (one refresh before
    it), the candidate (being built), the failed one (kept), refresh.lock and target/."""

    def __init__(self, folder: Path) -> None:
        self.active = folder / "active.duckdb"
        self.standby = folder / "standby.duckdb"
        self.candidate = folder / "candidate.duckdb"
        self.failed = folder / "failed.duckdb"
        self.published = folder / "candidate.published"

    def recover(self) -> None:
        """Finish what a dead refresh left: promote a published candidate, drop any other, and a
        standby that is the active file (the process died inside promote)."""
        if self.published.exists() and self.candidate.exists():
            self.promote()
        self.published.unlink(missing_ok=True)
        _remove(self.candidate)
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

    def keep_failed(self) -> None:
        """Keep a failed candidate for inspection (the previous failed one is dropped)."""
        if self.candidate.exists():
            _remove(self.failed)
            os.replace(self.candidate, self.failed)


def _release_duckdb() -> None:
    """Close the database dbt-duckdb keeps open after a command, so the refresh can open it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager._ENV = None


class Dbt:
    """dbt in-process, parsed once per refresh; run in the state folder with relative paths, so
    that dbt's parse cache (its key includes them) also serves a copy of the warehouse."""

    def __init__(self, config: RefreshConfig, states: States, say: Say) -> None:
        self.failed = states.failed
        self.say = say
        self.folder = config.state.resolve()
        self.target = config.target_path.resolve()
        # Set only while a command runs: an in-process caller's environment stays its own.
        self.environment: dict[str, str | None] = {
            "DUCKDB_PATH": states.candidate.name,
            "DBT_PROFILES_DIR": str(REPO / "profiles"),
            "NPS_RAW_STORE": os.path.relpath(config.raw_store.resolve(), self.folder),
            "NPS_AUDIT_SINCE": None,
            # Failing rows cost a third of a demo build: stored only for the tests that failed.
            "NPS_STORE_FAILURES": "false",
        }
        self.manifest = None
        self.node_events: list[dict] = []

    def _invoke(self, args: list[str], callbacks=(), log_level: str = "error", **environment):
        """A dbt command with self.environment and `environment` (None unsets a variable)."""
        from dbt.cli.main import dbtRunner

        common = ["--project-dir", str(REPO), "--target-path", str(self.target)]
        common += ["--log-path", str(self.target / "logs"), "--log-level", log_level]
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
        """The models dbt's state:modified finds against the stored manifest; None without one."""
        if stored_manifest is None:
            return None
        state_dir = self.target / "state"
        shutil.rmtree(state_dir, ignore_errors=True)
        state_dir.mkdir(parents=True)
        (state_dir / "manifest.json").write_text(stored_manifest)
        select = ("--select", "state:modified", "--resource-type", "model", "--output", "name")
        result = self._invoke(["ls", *select, "--state", str(state_dir)], log_level="none")
        return sorted(result.result or []) if result.success else None

    def build(self, label: str, args: list[str], audit_since: datetime | None) -> None:
        """dbt build --selector refresh; with audit_since, the row-level tests of the large
        incremental tables check only the rows written since (macro audit_scope)."""
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
        if tests:  # again, with the build's audit scope, storing their rows for inspection
            self._invoke(["test", "--select", *tests, "--store-failures"], NPS_AUDIT_SINCE=since)
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise RefreshFailed(
            f"dbt build failed on {len(names)} node(s): {shown}. Nothing was published; the "
            "serving file and the state are untouched. The failing tests' rows are stored in "
            f"schema test_failures of the kept candidate {self.failed} (open it read-only), and "
            f"dbt's results are in {self.target / 'run_results.json'}.",
            EXIT_GATE_FAILED,
        )

    def _progress(self, event) -> None:
        """One line per model built; every node's result kept as dbt logs it (node_events)."""
        if event.info.name in NODE_RESULT_EVENTS:
            from dbt_common.events.functions import msg_to_dict

            self.node_events.append(msg_to_dict(event))
        if event.info.name == "LogModelResult":
            data = event.data
            self.say(
                f"  {data.index}/{data.total} {data.description.split()[-1]} {data.status} "
                f"in {data.execution_time:.1f} s"
            )

    def freshness(self) -> list[str]:
        """`dbt source freshness`, a line per raw table (stale data is reported, not refused)."""
        from dbt.artifacts.schemas.freshness import SourceFreshnessResult

        result = self._invoke(["source", "freshness"])
        if result.result is None:
            return [f"freshness unknown: dbt source freshness failed ({result.exception})"]
        return [
            f"{entry.node.name}: {entry.status} (newest rows loaded {entry.age / 3600:.1f} h ago)"
            for entry in result.result.results
            if isinstance(entry, SourceFreshnessResult)
        ]


def mart_checksums(path: Path) -> dict[str, str]:
    """An order-independent checksum of every mart's rows (build_info excluded)."""
    checksums = table_checksums(path, ("marts",))
    checksums.pop(BUILD_INFO, None)
    return {name.removeprefix("marts."): checksum for name, checksum in checksums.items()}


def table_checksums(
    path: Path, schemas: tuple[str, ...] | None = None, ignored_columns: tuple[str, ...] = ()
) -> dict[str, str]:
    """Order-independent checksums (row count, summed row hashes) of the schemas' tables and
    views (all when None), keyed schema.table, leaving out the ignored columns."""
    with duckdb.connect(str(path), read_only=True) as connection:
        folder = str(path.resolve().parent).replace("'", "''")
        connection.execute(f"set file_search_path = '{folder}'")  # the views' relative paths
        connection.execute("set enable_progress_bar = false")  # stdout is the caller's
        checksums = {}
        for schema, table, names in connection.execute(
            "select table_schema, table_name, list(column_name order by column_name) from "
            "information_schema.columns where table_catalog = current_database() "
            "group by all order by all"
        ).fetchall():
            if schemas is None or schema in schemas:
                kept = ", ".join(f'"{name}"' for name in names if name not in ignored_columns)
                count, total = connection.execute(
                    f"select count(*), coalesce(sum(hash(t)), 0) % 18446744073709551616 "
                    f'from (select {kept} from "{schema}"."{table}") as t'
                ).fetchone()
                checksums[f"{schema}.{table}"] = f"{count}:{total:016x}"
        return checksums


def write_serving(candidate: Path, target: Path, build_id: str, built_at: datetime) -> None:
    """A new serving file: the candidate's mart tables, quarantine and build_info, checkpointed.
    The fact mart views stay in the state: copying them made a publish at 10M orders 4x slower."""
    _remove(target)
    with duckdb.connect(str(target)) as connection:
        connection.execute(f"attach '{candidate}' as candidate (read_only)")
        tables = connection.execute(
            "select table_name from information_schema.tables where table_catalog = 'candidate' "
            "and table_schema = 'marts' and table_type = 'BASE TABLE' order by table_name"
        ).fetchall()
        copies = [(f'marts."{table}"', f'marts."{table}"') for (table,) in tables]
        copies += [(f"quarantine.{e}_rejected", f"staging.stg_{e}_rejected") for e in QUARANTINED]
        connection.execute("create schema marts")
        connection.execute("create schema quarantine")
        for name, source in copies:
            connection.execute(f"create table {name} as select * from candidate.{source}")
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


def _scrub(store: rawfiles.RawStore, say: Say) -> None:
    for path in store.scrub(store.erased_ids()):
        say(f"erased personal data in {path}")
    store.scrub_done()


class Refresh:
    """One refresh as its steps: start, intake, build, audit, publish, finish; close undoes an
    unpublished one. A step that failed with EXIT_INFRASTRUCTURE may be called again."""

    def __init__(self, config: RefreshConfig, say: Say = _say) -> None:
        self.config = config
        self.say = say
        self.states = States(config.state)
        self.store = rawfiles.RawStore(config.raw_store)
        self.result = RefreshResult("", datetime.now(UTC), config.serving, "full")
        self.batch: rawfiles.Batch | None = None
        self.dbt: Dbt | None = None
        self.published = False
        self._lock = None
        self._started = time.perf_counter()

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
            steps = self.result.steps
            steps[name] = steps.get(name, 0.0) + time.perf_counter() - since

    def start(self) -> None:
        """Take the lock and finish or undo what an interrupted refresh left behind."""
        config, store = self.config, self.store
        if self._lock is None:
            self._lock = _lock(config.state / "refresh.lock")
        with self._step("start", f"Cannot prepare {config.state} and {config.raw_store}"):
            store.init()
            for path in store.discard_uncommitted():
                self.say(f"deleted {path.name}: left by a refresh that did not finish")
            self.states.recover()
            if store.scrub_pending():
                _scrub(store, self.say)
        # Now, or just after the newest committed batch (load times must grow).
        built_at = datetime.now(UTC)
        committed = store.committed()
        if committed and committed[-1].loaded_at >= built_at:
            built_at = committed[-1].loaded_at + timedelta(milliseconds=1)
        self.result.built_at = built_at
        self.result.build_id = built_at.strftime("%Y%m%dT%H%M%S%fZ")

    def intake(self) -> None:
        """Check and take in the delivery (config.new_data), uncommitted until publish."""
        config, result = self.config, self.result
        with self._step("intake"):
            if config.new_data and self.batch is None:
                self.batch = self._take_in(config.new_data)
            if self.batch is None and not self.store.committed():
                raise RefreshFailed(
                    f"Nothing to build: the raw store {config.raw_store} holds no delivery yet. "
                    "Take in a first one with --new-data <folder> (the demo's: --new-data seeds).",
                    EXIT_BAD_INPUT,
                )
            if self.batch is not None:
                result.loaded_rows = self.batch.rows
                rows = ", ".join(f"{table} {count:,}" for table, count in self.batch.rows.items())
                self.say(f"took in delivery {config.new_data} as batch {result.build_id}: {rows}")

    def _take_in(self, new_data: Path) -> rawfiles.Batch | None:
        """The delivery as an uncommitted batch, None if taken in before; refused in a sentence."""
        from nps_warehouse import validation

        store, build_id, built_at = self.store, self.result.build_id, self.result.built_at
        try:
            files = rawfiles.check_delivery(new_data)
            earlier = store.find(rawfiles.fingerprint(files))
            if earlier is not None:
                self.say(f"delivery {new_data} was taken in before, as batch {earlier.batch_id}")
                return None
            batch = store.take_in(files, build_id, built_at)
        except rawfiles.RawFileError as error:
            store.discard(rawfiles.Batch(build_id, built_at, dict.fromkeys(RAW_COLUMNS, 0)))
            raise RefreshFailed(
                f"Refused the delivery: {error}. Nothing was built and the serving file and the "
                "state are untouched; fix the file and deliver it again.",
                EXIT_BAD_INPUT,
            ) from error
        problems = validation.validate_batch(store, batch)
        if problems:
            store.discard(batch)
            more = (
                f" ({len(problems) - 1} more problem(s) in target/refresh/gx)"
                if problems[1:]
                else ""
            )
            raise RefreshFailed(
                f"Refused the delivery {new_data}: {problems[0]}{more}. Nothing was built and "
                "the serving file and the state are untouched; fix the export and deliver it "
                "again.",
                EXIT_BAD_INPUT,
            )
        return batch

    def build(self) -> None:
        """Build the candidate state: in full, or incrementally with changed models rebuilt."""
        states, say, result = self.states, self.say, self.result
        with self._step("candidate"):
            _remove(states.candidate)  # a build called again starts afresh
            result.mode = states.prepare_candidate(self.config.full_refresh, say)
        with self._step("parse"):
            self.dbt = dbt = Dbt(self.config, states, say)
            dbt.parse()
        with self._step("build"):
            changed = None
            if result.mode == "incremental":
                changed = dbt.modified_models(_stored_manifest(states.candidate))
                if changed is None:
                    result.mode = "full"
                    say("the state holds no manifest: building in full")
            result.rebuilt = changed or []
            if result.mode == "full":
                dbt.build("full refresh", ["--full-refresh"], None)
            elif result.rebuilt:
                # What changed is rebuilt in full after the rest has taken in the new rows.
                say(
                    f"code changed since the state was built: rebuilding "
                    f"{', '.join(result.rebuilt)} and everything downstream"
                )
                changed = [f"{model}+" for model in result.rebuilt]
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
            self.result.freshness = self.dbt.freshness()
            for line in self.result.freshness:
                self.say(f"freshness {line}")

    def publish(self) -> None:
        """Write the serving file, commit the delivery, swap the file in, promote the state."""
        config, states, result = self.config, self.states, self.result
        with self._step("publish"):
            scratch = config.serving.with_name(f".{config.serving.name}.{result.build_id}")
            write_serving(states.candidate, scratch, result.build_id, result.built_at)
            if self.batch is not None:
                self.store.commit(self.batch)
                self.batch = None  # committed: from here on it stays, whatever happens
            # From here on the candidate is the new state, even if the process dies.
            states.published.touch()
            _crash_point("committed")
            os.replace(scratch, config.serving)
            _crash_point("published")
            states.promote()
            self.published = True
            self.say(f"published {config.serving} ({result.mode})")

    def finish(self) -> RefreshResult:
        """Erase personal data where requests wait; the result, also in target/refresh.json."""
        result = self.result
        with self._step("erasure"):
            if self.store.scrub_pending():
                try:
                    _scrub(self.store, self.say)
                except OSError as error:
                    self.say(
                        f"could not yet erase personal data in the raw store ({error}); the "
                        "next refresh does it"
                    )
        result.checksums = mart_checksums(self.config.serving)
        result.seconds = time.perf_counter() - self._started
        (self.config.target_path / "refresh.json").write_text(
            json.dumps({**asdict(result), "built_at": result.built_at.isoformat()}, default=str)
        )
        return result

    def close(self) -> None:
        """Undo an unpublished refresh and release the lock."""
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
    """Take in, build, audit and publish; raise RefreshFailed (nothing changed) on any failure."""
    with closing(Refresh(config, say)) as run:
        run.start()
        run.intake()
        run.build()
        run.audit()
        run.publish()
        return run.finish()
