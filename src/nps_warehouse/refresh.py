"""The scheduled refresh: write, audit, publish.

One call builds a complete new warehouse into its own build file, runs every gate on it (dbt's
unit and data tests, then the strict Great Expectations suites) and only then publishes it as
the serving file by an atomic rename. BI readers hold the serving file read-only; they never
block a refresh, and a refresh never changes a file a reader has open. On any failure the
serving file stays as it was and the failed build file is kept for inspection.

Raw data of a build = the committed seeds + every delivery published so far (the raw store)
+ the new delivery, if any. A delivery is structurally checked before anything is built
(rawfiles.check_delivery) and enters the raw store only once its build is published.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from nps_warehouse import rawfiles

REPO = Path(__file__).resolve().parents[2]
# Schemas a BI tool may read in the serving file; everything else (raw data with personal
# data, staging views over it, stored test failures) is dropped before publishing.
SERVING_SCHEMAS = ("marts", "quarantine")
QUARANTINED = ("customers", "orders", "survey_responses")
BUILD_INFO = "marts.build_info"
KEPT_FAILED_BUILDS = 3
# dbt errors that mean the machine, not the data, failed.
INFRASTRUCTURE_ERRORS = re.compile(
    r"IO Error|No space left|File too large|Permission denied|Read-only file system", re.I
)

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3


class RefreshFailed(Exception):
    """A refresh that published nothing; `summary` is the one paragraph an operator reads."""

    def __init__(self, summary: str, exit_code: int) -> None:
        super().__init__(summary)
        self.summary = summary
        self.exit_code = exit_code


@dataclass(frozen=True)
class RefreshConfig:
    serving: Path = REPO / "warehouse" / "analytics.duckdb"
    builds: Path = REPO / "warehouse" / "builds"
    raw_store: Path = REPO / "warehouse" / "raw_store"
    new_data: Path | None = None
    target_path: Path = REPO / "target" / "refresh"


@dataclass
class RefreshResult:
    build_id: str
    built_at: datetime
    serving: Path
    loaded_rows: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    freshness: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _say(message: str) -> None:
    print(f"[refresh] {message}", flush=True)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One refresh at a time; the OS releases the lock if the process dies."""
    try:
        handle = lock_path.open("w")
    except OSError as error:
        raise RefreshFailed(
            f"Cannot write the lock file {lock_path} ({error.strerror}); nothing was built and "
            "the serving file is untouched. Fix the folder's permissions, then run again.",
            EXIT_INFRASTRUCTURE,
        ) from error
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RefreshFailed(
                f"Another refresh holds {lock_path}; nothing was built. Let it finish, then "
                "run this one again.",
                EXIT_INFRASTRUCTURE,
            ) from error
        yield


def _dbt(args: list[str], build_file: Path, config: RefreshConfig) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DUCKDB_PATH": str(build_file),
        "DBT_PROFILES_DIR": str(REPO / "profiles"),
    }
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(REPO),
        "--target-path",
        str(config.target_path),
        "--log-path",
        str(config.target_path / "logs"),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def _failed_nodes(config: RefreshConfig) -> list[tuple[str, str]]:
    """(node, message) of every node that failed or errored in dbt's last run."""
    results_path = config.target_path / "run_results.json"
    if not results_path.exists():
        return []
    results = json.loads(results_path.read_text())["results"]
    return [
        (_node_name(result["unique_id"]), result.get("message") or "")
        for result in results
        if result["status"] in ("error", "fail")
    ]


def _node_name(unique_id: str) -> str:
    """test.project.<name>.<hash> or model.project.<name> -> <name>."""
    parts = unique_id.split(".")
    return parts[-2] if re.fullmatch(r"[0-9a-f]{10}", parts[-1]) else parts[-1]


def _dbt_step(name: str, args: list[str], build_file: Path, config: RefreshConfig) -> None:
    _say(f"dbt {name} ...")
    (config.target_path / "run_results.json").unlink(missing_ok=True)
    completed = _dbt(args, build_file, config)
    if completed.returncode == 0:
        return
    failed = _failed_nodes(config)
    if not failed or any(INFRASTRUCTURE_ERRORS.search(message) for _, message in failed):
        detail = next(
            (message for _, message in failed if message),
            " ".join(completed.stdout.strip().splitlines()[-3:]),
        )
        raise RefreshFailed(
            f"dbt {name} could not write the build file {build_file} ({detail.strip()[:300]}); "
            f"the serving file is untouched. Check that {build_file.parent} is writable and has "
            "free space, then run the refresh again.",
            EXIT_INFRASTRUCTURE,
        )
    names = [node for node, _ in failed]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    raise RefreshFailed(
        f"dbt {name} failed on {len(names)} node(s): {shown}. Nothing was published; the "
        f"serving file is untouched. The failing tests' rows are stored in schema "
        f"test_failures of the kept build file {build_file} (open it read-only), and dbt's "
        f"results are in {config.target_path / 'run_results.json'}.",
        EXIT_GATE_FAILED,
    )


def published_at(path: Path) -> datetime:
    """When a raw-store file was first published: the build id in its name
    (<table>__<build id>__<file name>, as refresh stores it), else its modification time."""
    match = re.search(r"__(\d{8}T\d{6}Z)-[0-9a-f]{8}__", path.name)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _seeds_arrived_at() -> datetime:
    """When the committed seed files arrived here: the newest one's modification time."""
    newest = max(path.stat().st_mtime for path in (REPO / "seeds").glob("*.csv"))
    return datetime.fromtimestamp(newest, UTC)


def _freshness(build_file: Path, config: RefreshConfig) -> list[str]:
    """`dbt source freshness` on the build (before _finalise drops the raw tables): one line
    per raw table with a freshness rule. Stale data is reported, not refused: the build is
    still the newest complete picture, and the thresholds are in models/staging/raw_sources.yml.
    """
    _say("dbt source freshness ...")
    sources = config.target_path / "sources.json"
    sources.unlink(missing_ok=True)
    completed = _dbt(["source", "freshness"], build_file, config)
    if not sources.exists():
        last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
        return [f"freshness unknown: dbt source freshness failed ({last.strip()})"]
    lines = []
    for result in json.loads(sources.read_text())["results"]:
        table = result["unique_id"].split(".")[-1]
        age = result.get("max_loaded_at_time_ago_in_s")
        detail = f"newest rows loaded {age / 3600:.1f} h ago" if age is not None else "no rows"
        lines.append(f"{table}: {result['status']} ({detail})")
    return lines


def _validate(build_file: Path, config: RefreshConfig) -> None:
    from nps_warehouse import validation

    _say("Great Expectations suites ...")
    results = validation.run_all(build_file, config.target_path / "gx")
    failed = [result for result in results if result.strict and not result.success]
    if failed:
        names = ", ".join(result.name for result in failed)
        raise RefreshFailed(
            f"Great Expectations: strict suite(s) {names} failed on {build_file}. Nothing was "
            f"published; the serving file is untouched. See the Data Docs under "
            f"{config.target_path / 'gx'} and run `nps-warehouse validate --warehouse "
            f"{build_file}` for the failing expectations.",
            EXIT_GATE_FAILED,
        )


def mart_checksums(path: Path) -> dict[str, str]:
    """An order-independent checksum of every mart's rows (build_info excluded)."""
    checksums = table_checksums(path, ("marts",))
    checksums.pop("build_info", None)
    return {name.removeprefix("marts."): checksum for name, checksum in checksums.items()}


def table_checksums(
    path: Path, schemas: tuple[str, ...] | None = None, ignored_columns: tuple[str, ...] = ()
) -> dict[str, str]:
    """An order-independent checksum (row count and summed row hashes) of every table and
    view of the given schemas (all when None), keyed schema.table, leaving out the columns
    named in ignored_columns (e.g. the stamps of the run that computed a row)."""
    with duckdb.connect(str(path), read_only=True) as connection:
        columns: dict[str, list[str]] = {}
        for schema, table, column in connection.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() order by table_schema, table_name, "
            "ordinal_position"
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


def _finalise(
    build_file: Path, build_id: str, built_at: datetime, raw_rows: dict[str, int]
) -> None:
    """Keep only what BI may read, stamp the build, and checkpoint so no WAL remains.

    The quarantine is kept as tables in schema quarantine (raw values with personal data
    already pseudonymised or dropped), so operators see rejected rows next to the marts.
    """
    with duckdb.connect(str(build_file)) as connection:
        connection.execute("create schema quarantine")
        for entity in QUARANTINED:
            connection.execute(
                f"create table quarantine.{entity}_rejected as "
                f"select * from staging.stg_{entity}_rejected"
            )
        schemas = [
            name
            for (name,) in connection.execute(
                "select schema_name from information_schema.schemata "
                "where catalog_name = current_database()"
            ).fetchall()
        ]
        for schema in schemas:
            if schema not in (*SERVING_SCHEMAS, "main", "information_schema", "pg_catalog"):
                connection.execute(f'drop schema "{schema}" cascade')
        connection.execute(
            f"create table {BUILD_INFO} as select ? as build_id, ? as built_at, ? as raw_rows_json",
            [build_id, built_at.replace(tzinfo=None), json.dumps(raw_rows, sort_keys=True)],
        )
        connection.execute("checkpoint")


def _prune_failed_builds(builds: Path) -> None:
    stale = sorted(builds.glob("*.duckdb"), key=lambda path: path.stat().st_mtime)
    for path in stale[:-KEPT_FAILED_BUILDS]:
        path.unlink(missing_ok=True)
        path.with_suffix(".duckdb.wal").unlink(missing_ok=True)


def refresh(config: RefreshConfig) -> RefreshResult:
    """Build, audit and publish; raise RefreshFailed (serving file untouched) on any failure."""
    started = time.perf_counter()
    built_at = datetime.now(UTC)
    build_id = f"{built_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    try:
        config.builds.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RefreshFailed(
            f"Cannot create the build folder {config.builds} ({error.strerror}); nothing was "
            "built and the serving file is untouched. Fix its permissions, then run again.",
            EXIT_INFRASTRUCTURE,
        ) from error
    with _exclusive(config.builds / "refresh.lock"):
        try:
            new_files = rawfiles.check_delivery(config.new_data) if config.new_data else []
            stored = [rawfiles.check_file(path) for path in rawfiles.stored_files(config.raw_store)]
        except rawfiles.RawFileError as error:
            raise RefreshFailed(
                f"Refused the delivery: {error}. Nothing was built and the serving file is "
                "untouched; fix the file and run the refresh again.",
                EXIT_BAD_INPUT,
            ) from error
        _say(f"build {build_id}: {len(new_files)} new and {len(stored)} stored raw file(s)")
        build_file = config.builds / f"{build_id}.duckdb"
        _dbt_step("seed", ["seed"], build_file, config)
        try:
            with duckdb.connect(str(build_file)) as connection:
                seeded_at = _seeds_arrived_at()
                for table in rawfiles.RAW_COLUMNS:
                    connection.execute(
                        f"update raw.{table} set {rawfiles.LOADED_AT} = ?", [seeded_at]
                    )
                loaded_at = {raw.path: published_at(raw.path) for raw in stored}
                loaded_at.update({raw.path: built_at for raw in new_files})
                loaded = rawfiles.load(connection, stored + new_files, loaded_at)
                erased = rawfiles.erased_ids(connection)
                rawfiles.scrub_tables(connection, erased)
                raw_rows = {
                    table: connection.execute(f"select count(*) from raw.{table}").fetchone()[0]
                    for table in rawfiles.RAW_COLUMNS
                }
        except duckdb.Error as error:
            raise RefreshFailed(
                f"Loading raw files into {build_file} failed: {error}. Nothing was published; "
                "the serving file is untouched.",
                EXIT_BAD_INPUT,
            ) from error
        _say(f"loaded {sum(loaded.values()):,} delivered raw row(s)")
        _dbt_step("build", ["build", "--selector", "without_seeds"], build_file, config)
        _validate(build_file, config)
        freshness = _freshness(build_file, config)
        for line in freshness:
            _say(f"freshness {line}")
        _finalise(build_file, build_id, built_at, raw_rows)
        os.replace(build_file, config.serving)
        _say(f"published {config.serving}")
        config.raw_store.mkdir(parents=True, exist_ok=True)
        for raw in new_files:
            shutil.copy2(raw.path, config.raw_store / f"{raw.table}__{build_id}__{raw.path.name}")
        for path in rawfiles.stored_files(config.raw_store):
            if rawfiles.scrub_file(rawfiles.check_file(path), erased):
                _say(f"erased personal data in {path}")
        _prune_failed_builds(config.builds)
    return RefreshResult(
        build_id=build_id,
        built_at=built_at,
        serving=config.serving,
        loaded_rows=loaded,
        checksums=mart_checksums(config.serving),
        freshness=freshness,
        seconds=time.perf_counter() - started,
    )
