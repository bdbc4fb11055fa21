"""Validate the built warehouse with Great Expectations (GX) and build its Data Docs.

GX's SQL data source cannot read DuckDB (it fetches rows after closing the connection), so each
table is read through one read-only DuckDB connection into a pandas DataFrame and handed to GX
as the batch of a dataframe asset. The GX context is ephemeral: suites, validation definitions
and results live in memory; only the Data Docs (HTML) are written, to `<docs_dir>/data_docs/`.
The suites themselves are `nps_warehouse.suites`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from nps_warehouse import suites
from nps_warehouse.suites import Layer, SuiteSpec

DOCS_SITE = "warehouse"


class WarehouseUnavailableError(Exception):
    """The warehouse file is missing, unreadable or lacks a table the suites read."""


@dataclass(frozen=True)
class Failure:
    """One failed expectation: its type, the columns it checks and what was found.

    `detail` is what GX observed where that fits on a line: a column's type, a row count, the
    table's unexpected (+) and missing (-) columns, or `error` when the expectation could not be
    evaluated (e.g. a missing column).
    """

    expectation_type: str
    columns: tuple[str, ...]
    unexpected_count: int | None = None
    detail: str | None = None

    def __str__(self) -> str:
        details = list(self.columns)
        if self.unexpected_count:
            details.append(f"{self.unexpected_count} row{'s' * (self.unexpected_count != 1)}")
        if self.detail:
            details.append(self.detail)
        return f"{self.expectation_type}({', '.join(details)})"


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of one suite."""

    name: str
    layer: Layer
    strict: bool
    evaluated: int
    passed: int
    failures: tuple[Failure, ...]

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def success(self) -> bool:
        return not self.failures

    @property
    def status(self) -> str:
        """PASS or FAIL for a strict suite, REPORT for a report-only one."""
        if not self.strict:
            return "REPORT"
        return "PASS" if self.success else "FAIL"


def docs_index(docs_dir: Path) -> Path:
    """The Data Docs entry page that `run_all` builds under `docs_dir`."""
    return docs_dir / "data_docs" / "index.html"


def read_tables(warehouse_path: Path, tables: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Read each `schema.table` through one read-only connection."""
    if not warehouse_path.is_file():
        raise WarehouseUnavailableError(
            f"warehouse {warehouse_path} does not exist: run `make build` first"
        )
    try:
        connection = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        raise WarehouseUnavailableError(
            f"cannot open warehouse {warehouse_path} ({reason}): run `make build` first"
        ) from error
    frames = {}
    with connection:
        for table in sorted(set(tables)):
            try:
                frames[table] = connection.execute(f"select * from {table}").df()
            except duckdb.CatalogException as error:
                raise WarehouseUnavailableError(
                    f"warehouse {warehouse_path} has no table {table}: run `make build` first"
                ) from error
    return frames


def _context(docs_dir: Path | None) -> gx.data_context.EphemeralDataContext:
    """An in-memory context, with a Data Docs site under `docs_dir` unless it is None."""
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


def _columns(config: ExpectationConfiguration) -> tuple[str, ...]:
    if config.type.startswith("expect_table_columns_"):
        return ()  # its column list is the whole expected table: the detail says what differs
    columns: list[str] = []
    for argument in ("column", "column_A", "column_B", "column_list"):
        value = config.kwargs.get(argument)
        columns.extend([value] if isinstance(value, str) else value or [])
    return tuple(columns)


def _detail(outcome: ExpectationValidationResult) -> str | None:
    if not outcome.result:
        return "error"
    config = outcome.expectation_config
    observed = outcome.result.get("observed_value")
    if config.type.startswith("expect_table_columns_"):
        expected = config.kwargs["column_list"]
        changes = [f"+{column}" for column in observed if column not in expected]
        changes += [f"-{column}" for column in expected if column not in observed]
        return " ".join(changes) or "column order"
    if isinstance(observed, str | int | float):
        return f"observed {observed}"
    return None


def _failure(outcome: ExpectationValidationResult) -> Failure:
    return Failure(
        expectation_type=outcome.expectation_config.type,
        columns=_columns(outcome.expectation_config),
        unexpected_count=outcome.result.get("unexpected_count"),
        detail=_detail(outcome),
    )


def _summarise(spec: SuiteSpec, result: ExpectationSuiteValidationResult) -> SuiteResult:
    failures = tuple(_failure(outcome) for outcome in result.results if not outcome.success)
    evaluated = len(result.results)
    return SuiteResult(
        name=spec.name,
        layer=spec.layer,
        strict=spec.strict,
        evaluated=evaluated,
        passed=evaluated - len(failures),
        failures=failures,
    )


def validate(
    frames: dict[str, pd.DataFrame], specs: Sequence[SuiteSpec], docs_dir: Path | None
) -> list[SuiteResult]:
    """Validate each suite against its table's frame (or the frame derived from it).

    Builds the Data Docs under `docs_dir`, replacing earlier ones; None builds none.
    """
    context = _context(docs_dir)
    # SUMMARY adds samples of unexpected values, which only the Data Docs show; BASIC keeps the
    # counts and takes half the time.
    result_format = "BASIC" if docs_dir is None else "SUMMARY"
    data_source = context.data_sources.add_pandas("warehouse")
    results = []
    for spec in specs:
        frame = frames[spec.table]
        if spec.derive is not None:
            frame = spec.derive(frame)
        asset = data_source.add_dataframe_asset(spec.name)
        batch = asset.add_batch_definition_whole_dataframe(
            "whole table" if spec.derive is None else "derived frame"
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(
                name=spec.name, data=batch, suite=context.suites.add(spec.build())
            )
        )
        outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        results.append(_summarise(spec, outcome))
    if docs_dir is not None:
        shutil.rmtree(docs_index(docs_dir).parent, ignore_errors=True)
        context.build_data_docs(site_names=[DOCS_SITE])
    return results


def run_all(warehouse_path: Path, docs_dir: Path | None) -> list[SuiteResult]:
    """Validate every suite against the warehouse; build the Data Docs under `docs_dir`."""
    specs = suites.all_suites(today=date.today())
    frames = read_tables(warehouse_path, (spec.table for spec in specs))
    return validate(frames, specs, docs_dir)


def strict_failures(results: Iterable[SuiteResult]) -> list[SuiteResult]:
    return [result for result in results if result.strict and not result.success]
