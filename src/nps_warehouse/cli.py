"""Command-line entry point: `nps-warehouse <command> --help`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from nps_warehouse import generator


def _generate(args: argparse.Namespace) -> int:
    config = generator.GeneratorConfig(
        seed=args.seed,
        customers=args.customers,
        start_date=args.start_date,
        end_date=args.end_date,
        include_dirty=not args.no_dirty,
    )
    started = time.perf_counter()
    print(f"generating {config.customers:,} customers, seed {config.seed} ...", flush=True)
    dataset = generator.generate(config)
    paths = generator.write_csv(dataset, args.out)
    frames = {
        "raw_customers": dataset.customers,
        "raw_orders": dataset.orders,
        "raw_survey_responses": dataset.responses,
    }
    for table, path in paths.items():
        print(f"  {table:<22} {len(frames[table]):>10,} rows  -> {path}")
    elapsed = time.perf_counter() - started
    print(f"done in {elapsed:.1f} s: {len(dataset.dirty)} documented dirty rows included")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from nps_warehouse import refresh

    config = refresh.RefreshConfig(
        serving=args.serving,
        builds=args.builds,
        raw_store=args.raw_store,
        new_data=args.new_data,
    )
    try:
        result = refresh.refresh(config)
    except refresh.RefreshFailed as failure:
        print(f"refresh FAILED (exit {failure.exit_code}): {failure.summary}", file=sys.stderr)
        return failure.exit_code
    rows = sum(result.loaded_rows.values())
    print(
        f"refresh OK: build {result.build_id} published to {result.serving} in "
        f"{result.seconds:.0f} s ({rows:,} delivered rows loaded, "
        f"{len(result.checksums)} marts)"
    )
    for table, checksum in result.checksums.items():
        print(f"  {table:<30} {checksum}")
    return refresh.EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    # Imported here: Great Expectations takes seconds to import, other commands don't need it.
    from nps_warehouse import validation

    try:
        results = validation.run_all(args.warehouse, args.docs_dir)
    except validation.WarehouseUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    width = max(len(result.name) for result in results)
    for result in results:
        line = f"{result.status:<6}  {result.name:<{width}}  {result.passed:>3}/{result.evaluated}"
        failures = ", ".join(str(failure) for failure in result.failures)
        print(f"{line} expectations" + (f": {failures}" if failures else ""))
    strict = [result for result in results if result.strict]
    failed = validation.strict_failures(results)
    reported = [result for result in results if not result.strict]
    print(
        f"result: {'FAIL' if failed else 'PASS'}, {len(strict) - len(failed)}/{len(strict)} strict "
        f"suites passed; report-only: {sum(result.failed for result in reported)} failed "
        f"expectations in {len(reported)} raw suites (reported, not fatal)"
    )
    print(f"Data Docs: {validation.docs_index(args.docs_dir)}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nps-warehouse",
        description="Tooling for the NPS, retention and CLV warehouse.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    gen = commands.add_parser(
        "generate",
        help="write deterministic demo raw data (CSV) for the seeds",
        description="Write raw_customers, raw_orders and raw_survey_responses as CSV files. "
        "The same seed and sizes always give the same bytes.",
    )
    gen.add_argument("--out", type=Path, default=Path("seeds"), help="output folder (seeds)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (42)")
    gen.add_argument("--customers", type=int, default=360, help="number of customers (360)")
    gen.add_argument(
        "--start-date", type=date.fromisoformat, default=date(2024, 1, 1), help="first day"
    )
    gen.add_argument(
        "--end-date", type=date.fromisoformat, default=date(2026, 6, 30), help="last day"
    )
    gen.add_argument("--no-dirty", action="store_true", help="leave out the dirty demo rows")
    gen.set_defaults(handler=_generate)

    ref = commands.add_parser(
        "refresh",
        help="build, audit and publish the serving warehouse (what a scheduler calls)",
        description="Build a new warehouse from the seeds, the raw store and an optional "
        "delivery of new raw files into its own file, run dbt's tests and the strict Great "
        "Expectations suites, and only if all pass publish it as the serving file by an atomic "
        "rename. Exit codes: 0 published, 1 a gate failed, 2 the delivery was refused, "
        "3 the build could not run (disk, permissions, another refresh).",
    )
    ref.add_argument(
        "--new-data",
        type=Path,
        default=None,
        help="folder of new raw files (raw_orders*.csv, raw_customers*.csv, "
        "raw_survey_responses*.csv, raw_erasure_requests*.csv)",
    )
    ref.add_argument(
        "--serving",
        type=Path,
        default=Path("warehouse/analytics.duckdb"),
        help="the serving file BI tools read (warehouse/analytics.duckdb)",
    )
    ref.add_argument("--builds", type=Path, default=Path("warehouse/builds"), help="build folder")
    ref.add_argument(
        "--raw-store",
        type=Path,
        default=Path("warehouse/raw_store"),
        help="where published deliveries are kept (warehouse/raw_store)",
    )
    ref.set_defaults(handler=_refresh)

    val = commands.add_parser(
        "validate",
        help="validate the built warehouse with Great Expectations and build Data Docs",
        description="Validate every raw, staging and mart table against the suites in "
        "nps_warehouse.suites and build the Data Docs. Exit 0 when every strict suite passes "
        "(raw suites only report), 1 when one fails, 2 when the warehouse cannot be read.",
    )
    val.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb")),
        help="DuckDB file, opened read-only (env DUCKDB_PATH, else warehouse/dev.duckdb)",
    )
    val.add_argument(
        "--docs-dir",
        type=Path,
        default=Path("target/gx"),
        help="folder for the Data Docs (target/gx; they go to <folder>/data_docs)",
    )
    val.set_defaults(handler=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
