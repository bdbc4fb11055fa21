"""Run the Great Expectations suites (`nps_warehouse.suites`) and build their Data Docs.

GX's SQL data source cannot read DuckDB (it fetches rows after closing the connection), so
DuckDB computes each suite's frame (a sample of a delivery's file, or a summary of the marts)
and GX validates it as a pandas dataframe, in an ephemeral context that writes only the Data
Docs (HTML, `<docs_dir>/data_docs/`).
"""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

import duckdb
import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from nps_warehouse import rawfiles, suites
from nps_warehouse.contract import RAW_COLUMNS

DOCS_SITE = "warehouse"


class WarehouseUnavailableError(Exception):
    """The warehouse file is missing, unreadable or lacks a table the suites read."""


def docs_index(docs_dir: Path) -> Path:
    """The Data Docs entry page that a validation builds under `docs_dir`."""
    return docs_dir / "data_docs" / "index.html"


def _context(docs_dir: Path | None) -> gx.data_context.EphemeralDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    sites = {}
    if docs_dir is not None:
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_index(docs_dir).parent.resolve()),
            },
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _problem(frame: str, outcome) -> str:
    """One sentence about a failed expectation: what, where, how much, an example."""
    config = outcome.expectation_config
    column = config.kwargs.get("column")
    result = outcome.result or {}
    examples = ", ".join(
        f"{value:.3g}" if isinstance(value, float) else repr(value)
        for value in (result.get("partial_unexpected_list") or [])[:3]
    )
    where = f"{frame}.{column}" if column else frame
    share = result.get("unexpected_percent")
    if config.type == "expect_column_values_to_match_regex":
        means = (config.meta or {}).get("means", f"matching {config.kwargs['regex']}")
        return f"{where}: {share:.0f}% of the sampled values are not {means} (e.g. {examples})"
    if config.type == "expect_column_values_to_not_be_null":
        return f"{where}: {share:.0f}% of the sampled values are empty"
    bounds = " and ".join(
        f"{word} {config.kwargs[key]}"
        for key, word in (("min_value", "at least"), ("max_value", "at most"))
        if config.kwargs.get(key) is not None
    )
    if column and bounds and share is not None:
        return f"{where}: {share:.0f}% of the values are not {bounds} (e.g. {examples})"
    observed = result.get("observed_value")
    detail = f" (observed {observed})" if observed is not None else f" (e.g. {examples})"
    return f"{where}: {config.type.removeprefix('expect_').replace('_', ' ')}{detail}"


def validate(
    frames: dict[str, pd.DataFrame], specs: suites.Suites, docs_dir: Path | None
) -> list[str]:
    """Validate each suite on the frame its name ends with, if present: the problems."""
    context = _context(docs_dir)
    data_source = context.data_sources.add_pandas("warehouse")
    problems = []
    for name, expectations in specs.items():
        frame = name.rpartition(".")[2]
        if frame not in frames:
            continue
        batch = data_source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(frame)
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations()))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        outcome = definition.run(
            batch_parameters={"dataframe": frames[frame]}, result_format="SUMMARY"
        )
        problems += [_problem(frame, r) for r in outcome.results if not r.success]
    if docs_dir is not None:
        shutil.rmtree(docs_index(docs_dir).parent, ignore_errors=True)
        context.build_data_docs(site_names=[DOCS_SITE])
    return problems


def batch_frames(store: rawfiles.RawStore, batch: rawfiles.Batch) -> dict[str, pd.DataFrame]:
    """A batch's frames: a sample of each table's file (of MIN_ROWS_FOR_SHAPES rows or more),
    and its rows per covered day against the committed batches' median (recorded in
    `batch.daily_rates` for the batches after it)."""
    previous = [b.daily_rates for b in store.committed()]
    frames: dict[str, pd.DataFrame] = {}
    rates = []
    with duckdb.connect() as connection:
        for table, rows in batch.rows.items():
            path = store.batch_file(table, batch.batch_id)
            if rows >= suites.MIN_ROWS_FOR_SHAPES:
                columns = ", ".join(RAW_COLUMNS[table])
                frames[table] = connection.execute(
                    f"select {columns} from read_parquet(?) using sample reservoir"
                    f"({suites.SHAPE_SAMPLE_ROWS} rows) repeatable (2026)",
                    [str(path)],
                ).df()
            column = suites.DAY_COLUMNS.get(table)
            if column is None or not rows:
                continue
            in_file, days = connection.execute(
                f"select count(*), count(distinct left(trim({column}), 10)) from read_parquet(?)",
                [str(path)],
            ).fetchone()
            rate = in_file / days if days else 0.0
            batch.daily_rates[table] = rate
            if earlier := [p[table] for p in previous if p.get(table)]:
                ratio = rate / statistics.median(earlier)
                rates.append({"table": table, "rows_per_day": rate, "ratio_to_previous": ratio})
    if rates:
        frames["daily_rates"] = pd.DataFrame(rates)
    return frames


def validate_batch(
    store: rawfiles.RawStore, batch: rawfiles.Batch, docs_dir: Path | None = None
) -> list[str]:
    """The intake suites on a batch taken in but not committed: its problems, one sentence each."""
    return validate(batch_frames(store, batch), suites.INTAKE_SUITES, docs_dir)


MART_FRAMES = {
    # Segment All by month; the first month has no previous one, the newest may be partial.
    "monthly_responses": """
        with months as (
            select
                period_start,
                responses,
                lag(responses) over (order by period_start) as previous_responses,
                period_start = max(period_start) over () as is_newest
            from marts.nps_by_segment_period
            where segment = 'All' and period_grain = 'month'
        )
        select * exclude (is_newest), responses / previous_responses as ratio_to_previous_month
        from months
        where previous_responses > 0 and not is_newest
        order by period_start
    """,
    "segment_shares": """
        select segment, count(*) as customers, count(*) / sum(count(*)) over () as share
        from marts.customers
        group by segment
        order by segment
    """,
}


def _unavailable(what: str, error: Exception | None = None) -> WarehouseUnavailableError:
    reason = f" ({str(error).splitlines()[0]})" if error else ""
    return WarehouseUnavailableError(f"{what}{reason}: run `make build` first")


def mart_frames(warehouse: Path) -> dict[str, pd.DataFrame]:
    if not warehouse.is_file():
        raise _unavailable(f"warehouse {warehouse} does not exist")
    try:
        connection = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as error:
        raise _unavailable(f"cannot open warehouse {warehouse}", error) from error
    with connection:
        try:
            return {name: connection.execute(sql).df() for name, sql in MART_FRAMES.items()}
        except duckdb.CatalogException as error:
            raise _unavailable(f"warehouse {warehouse} lacks a mart", error) from error


def validate_marts(warehouse: Path, docs_dir: Path | None = None) -> list[str]:
    """The mart suites on a built warehouse: its problems, one sentence each."""
    return validate(mart_frames(warehouse), suites.MART_SUITES, docs_dir)
