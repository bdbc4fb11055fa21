"""The Dagster code location (`dagster dev -m nps_warehouse.orchestration`, make dagster): one
run of the job `refresh` is one refresh.Refresh, its steps as assets in one process: intake, the
dbt build of the candidate (its data tests are asset checks), audit and serving_file (the
publish). Only infrastructure failures (exit code 3) are retried. The sensor `deliveries` starts
a run per new folder in the incoming folder; schedules refresh daily and rebuild weekly. Paths
come from NPS_SERVING, NPS_STATE, NPS_RAW_STORE_DIR and NPS_INCOMING (defaults under warehouse/).
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from pydantic import PrivateAttr

from nps_warehouse import refresh as refreshing

REPO = refreshing.REPO
# Every refresh run carries this tag; dagster.yaml queues runs so that one runs at a time.
CONCURRENCY_TAG = {"nps/refresh": "warehouse"}


@dataclass(frozen=True)
class Paths:
    serving: Path
    state: Path
    raw_store: Path
    incoming: Path

    @classmethod
    def from_env(cls) -> "Paths":
        def path(variable: str, default: Path) -> Path:
            return Path(os.environ.get(variable) or default).resolve()

        refresh = refreshing.RefreshConfig()  # the defaults of `nps-warehouse refresh`
        return cls(
            serving=path("NPS_SERVING", refresh.serving),
            state=path("NPS_STATE", refresh.state),
            raw_store=path("NPS_RAW_STORE_DIR", refresh.raw_store),
            incoming=path("NPS_INCOMING", refresh.raw_store.parent / "incoming"),
        )


class RefreshRun(dg.ConfigurableResource):
    """The refresh of the current run: created by intake, used by every later step, closed
    (undone unless published, the lock released) when the run ends."""

    serving: str
    state: str
    raw_store: str
    _run: refreshing.Refresh | None = PrivateAttr(default=None)

    def begin(self, new_data: str | None, full_refresh: bool, say) -> refreshing.Refresh:
        if self._run is None:
            config = refreshing.RefreshConfig(
                **{name: Path(path) for name, path in self.model_dump().items()},
                new_data=Path(new_data) if new_data else None,
                full_refresh=full_refresh,
            )
            self._run = refreshing.Refresh(config, say)
        return self._run

    @property
    def run(self) -> refreshing.Refresh:
        if self._run is None:
            raise dg.Failure(
                description="The refresh's steps run together, intake first: launch the job "
                "refresh or materialize all assets (intake did not run in this run).",
                allow_retries=False,
            )
        return self._run

    def teardown_after_execution(self, context) -> None:
        if self._run is not None:
            self._run.close()
            self._run = None


class Delivery(dg.Config):
    """What a run takes in: a delivery folder (the sensor sets it), or nothing (a refresh
    without new data); full_refresh rebuilds the state from the whole raw store."""

    new_data: str | None = None
    full_refresh: bool = False


def retry_policy() -> dg.RetryPolicy:
    """For infrastructure failures only (see as_dagster_failure): three more tries, 2, 4 then 8
    minutes apart by default (NPS_RETRY_DELAY_SECONDS sets the first delay)."""
    delay = float(os.environ.get("NPS_RETRY_DELAY_SECONDS", "120"))
    return dg.RetryPolicy(max_retries=3, delay=delay, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def as_dagster_failure() -> Iterator[None]:
    """RefreshFailed as a Failure with its summary, retried only when the machine failed (a
    refused delivery or a failed gate stays failed until new data comes)."""
    try:
        yield
    except refreshing.RefreshFailed as error:
        raise dg.Failure(
            description=error.summary,
            metadata={"exit code": error.exit_code},
            allow_retries=error.exit_code == refreshing.EXIT_INFRASTRUCTURE,
        ) from error


class Layers(DagsterDbtTranslator):
    """Asset groups by layer (raw, staging, intermediate, marts); demo seeds keyed apart."""

    def get_asset_key(self, dbt_resource_props) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "seed":
            return dg.AssetKey(["demo_seeds", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props) -> str | None:
        groups = {"source": "raw", "seed": "demo_seeds"}
        return groups.get(dbt_resource_props["resource_type"]) or dbt_resource_props["fqn"][1]


def parse_manifest(target_path: Path) -> Path:
    """dbt's manifest, parsed into target_path (partial parsing keeps a reload quick)."""
    from dbt.cli.main import dbtRunner

    project = ["--project-dir", str(REPO), "--profiles-dir", str(REPO / "profiles")]
    result = dbtRunner().invoke(["parse", *project, "--target-path", str(target_path), "--quiet"])
    if not result.success:
        raise RuntimeError(f"dbt could not parse the project: {result.exception}")
    return target_path / "manifest.json"


def build_definitions(paths: Paths) -> dg.Definitions:
    manifest = json.loads(parse_manifest(paths.state / "target" / "dagster").read_text())
    translator = Layers()
    sources = [
        dg.AssetSpec(
            translator.get_asset_key(source),
            group_name="raw",
            description=source["description"],
            skippable=False,
        )
        for source in manifest["sources"].values()
    ]
    # In the demo the seeds feed staging (`dbt build`); in a refresh they are a delivery.
    seeds = [
        dg.AssetSpec(
            translator.get_asset_key(seed),
            group_name="demo_seeds",
            description=f"{seed['description']} Not built by a refresh: deliver the seeds "
            "folder into the incoming folder instead.",
        )
        for seed in manifest["nodes"].values()
        if seed["resource_type"] == "seed"
    ]

    @dg.multi_asset(specs=sources, name="intake", retry_policy=retry_policy())
    def intake(context: dg.AssetExecutionContext, config: Delivery, refresh: RefreshRun):
        """Take the lock, then check and take in the delivery (uncommitted until publish)."""
        run = refresh.begin(config.new_data, config.full_refresh, say)
        with as_dagster_failure():
            run.start()
            run.intake()
        batch = run.batch.batch_id if run.batch else "none"
        for spec in sources:
            yield dg.MaterializeResult(
                asset_key=spec.key,
                metadata={
                    "delivery": config.new_data or "none",
                    "batch (committed by the publish)": batch,
                    "rows taken in": run.result.loaded_rows.get(spec.key.path[-1], 0),
                },
            )

    @dbt_assets(
        manifest=manifest,
        selector="refresh",
        dagster_dbt_translator=translator,
        name="candidate_build",
        retry_policy=retry_policy(),
    )
    def candidate_build(context: dg.AssetExecutionContext, refresh: RefreshRun):
        """The candidate state built by dbt: every model and data test (the tests are this
        asset's checks); a failing test fails the step, and the run publishes nothing."""
        run = refresh.run
        with as_dagster_failure():
            try:
                run.build()
            except refreshing.RefreshFailed:
                yield from dbt_events(context, manifest, translator, run)
                raise
        yield from dbt_events(context, manifest, translator, run)

    marts = [key for key in candidate_build.keys if key.path[0] == "marts"]

    @dg.asset(deps=marts, group_name="serving", retry_policy=retry_policy())
    def audit(context: dg.AssetExecutionContext, refresh: RefreshRun) -> dg.MaterializeResult:
        """The Great Expectations suites on the candidate's marts, and dbt source freshness
        (stale data is reported, not refused)."""
        run = refresh.run
        with as_dagster_failure():
            run.audit()
        freshness = "\n".join(f"- {line}" for line in run.result.freshness) or "- none"
        return dg.MaterializeResult(metadata={"freshness": dg.MetadataValue.md(freshness)})

    @dg.asset(deps=[audit], group_name="serving", retry_policy=retry_policy())
    def serving_file(
        context: dg.AssetExecutionContext, refresh: RefreshRun
    ) -> dg.MaterializeResult:
        """warehouse/analytics.duckdb, what BI reads: the marts and quarantine of the audited
        candidate, swapped into place whole; the delivery is committed with it."""
        run = refresh.run
        with as_dagster_failure():
            run.publish()
            result = run.finish()
        return dg.MaterializeResult(
            metadata={
                "path": str(result.serving),
                "build_id": result.build_id,
                "mode": result.mode,
                "rebuilt in full": ", ".join(result.rebuilt) or "none",
                "seconds per step": dg.MetadataValue.json(
                    {name: round(seconds, 1) for name, seconds in result.steps.items()}
                ),
                "mart checksums": dg.MetadataValue.json(result.checksums),
            }
        )

    job = dg.define_asset_job(
        "refresh",
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        tags=CONCURRENCY_TAG,
        description="One refresh: intake, the candidate's dbt build, audit, publish.",
    )

    @dg.sensor(job=job, minimum_interval_seconds=60)
    def deliveries(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """One run per new folder in the incoming folder; the folder's name is the run key.
        Names starting with '.' or '_' are ignored: write a delivery there, then rename it."""
        ready = delivery_folders(paths.incoming)
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        requests = [
            dg.RunRequest(
                run_key=folder.name,
                run_config={"ops": {"intake": {"config": {"new_data": str(folder)}}}},
                tags={"nps/delivery": folder.name},
            )
            for folder in ready
            if folder.name not in seen
        ]
        # The cursor holds the folders still there, so it stays as small as the folder.
        return dg.SensorResult(
            run_requests=requests, cursor=json.dumps(sorted(f.name for f in ready))
        )

    daily = dg.ScheduleDefinition(
        name="daily_refresh",
        job=job,
        cron_schedule="0 6 * * *",
        execution_timezone="Europe/Berlin",
        description="A refresh without new data: republishes and reports freshness.",
    )
    weekly = dg.ScheduleDefinition(
        name="weekly_full_refresh",
        job=job,
        cron_schedule="0 3 * * 0",
        execution_timezone="Europe/Berlin",
        run_config={"ops": {"intake": {"config": {"full_refresh": True}}}},
        description="The state rebuilt from the whole raw store, Sundays at 03:00.",
    )
    return dg.Definitions(
        assets=[*seeds, intake, candidate_build, audit, serving_file],
        jobs=[job],
        sensors=[deliveries],
        schedules=[daily, weekly],
        # The steps share one refresh (its lock, its candidate): one process per run, also for
        # a materialization launched from the UI.
        executor=dg.in_process_executor,
        resources={
            "refresh": RefreshRun(
                serving=str(paths.serving), state=str(paths.state), raw_store=str(paths.raw_store)
            )
        },
    )


def delivery_folders(incoming: Path) -> list[Path]:
    """The delivery folders ready in incoming, by name."""
    if not incoming.is_dir():
        return []
    return sorted(path for path in incoming.iterdir() if path.is_dir() and path.name[0] not in "._")


def dbt_events(
    context: dg.AssetExecutionContext, manifest: dict, translator: Layers, run: refreshing.Refresh
) -> Iterator:
    """The build's node results as dagster-dbt translates them: materializations, checks."""
    if run.dbt is None:
        return
    selected = context.op_execution_context.selected_output_names
    for raw_event in run.dbt.node_events:
        message = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
        for event in message.to_default_asset_events(manifest, translator, context):
            if not (isinstance(event, dg.Output) and event.output_name not in selected):
                yield event


def say(message: str) -> None:
    """The refresh's progress lines, in the step's event log."""
    dg.get_dagster_logger().info(message)


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev` loads (lazily: importing this module parses nothing)."""
    return build_definitions(Paths.from_env())
