"""Command-line entry point: `nps-warehouse <command> --help`."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import duckdb

from nps_warehouse import benchmark, engines, generator

# Great Expectations imports PySpark when it is installed (it is, for the spark dbt target), and
# PySpark 4.3 warns on import that it does not fully support pandas 3. This project uses no
# pandas API on Spark; the warning would only bury the one-line messages of these commands.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)


def _generate(args: argparse.Namespace) -> int:
    if args.append_days is not None:
        from nps_warehouse import bulk

        bulk.append_days(args.out, args.append_days, seed=args.seed, fmt=args.format or "parquet")
        return 0
    if args.format == "parquet":
        from nps_warehouse import bulk

        bulk.generate_parquet(
            bulk.BulkConfig(
                seed=args.seed,
                customers=args.customers,
                orders=args.orders,
                responses=args.responses,
                start_date=args.start_date,
                end_date=args.end_date,
                include_dirty=not args.no_dirty,
            ),
            args.out,
        )
        return 0
    if args.orders is not None or args.responses is not None:
        print("--orders/--responses need --format parquet", file=sys.stderr)
        return 2
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
    print("source freshness: " + "; ".join(result.freshness))
    return refresh.EXIT_OK


def _load(args: argparse.Namespace) -> int:
    from nps_warehouse import rawfiles

    started = time.perf_counter()
    if args.engine != "duckdb":
        return _load_other_engine(args, started)
    try:
        loaded = rawfiles.load_folder(args.warehouse, args.folder, replace=args.replace)
    except rawfiles.RawFileError as error:
        print(f"error: {error}. Nothing was loaded; fix the file, then run again.", file=sys.stderr)
        return 2
    except duckdb.IOException as error:
        print(
            f"error: cannot open {args.warehouse} for writing ({error}). Is dbt or a reader "
            "using it? Nothing was loaded; run again when it is free.",
            file=sys.stderr,
        )
        return 3
    total = sum(loaded.values())
    print(
        f"loaded {total:,} rows into {len(loaded)} raw table(s) of {args.warehouse} in "
        f"{time.perf_counter() - started:.1f} s; next: dbt build --selector without_seeds "
        "(dbt build would reload the seeds over them)"
    )
    return 0


def _load_other_engine(args: argparse.Namespace, started: float) -> int:
    """`load --engine postgres|spark`: the same structural check, then that engine's loader."""
    from nps_warehouse import engines, rawfiles

    try:
        files = rawfiles.check_delivery(args.folder)
        if not files:
            raise rawfiles.RawFileError(f"{args.folder}: no raw files (.csv or .parquet) to load")
    except rawfiles.RawFileError as error:
        print(f"error: {error}. Nothing was loaded; fix the file, then run again.", file=sys.stderr)
        return 2
    try:
        loaded = engines.LOADERS[args.engine](files, args.replace)
    except Exception as error:  # the driver's or dbt's error, whatever its class
        first = str(error).strip().splitlines()[0]
        print(
            f"error: loading into {args.engine} failed ({first}). Is it running "
            "(scripts/engines-up)? Check the message, then run again.",
            file=sys.stderr,
        )
        return 3
    print(
        f"loaded {sum(loaded.values()):,} rows into {len(loaded)} raw table(s) of the "
        f"{args.engine} target in {time.perf_counter() - started:.1f} s; next: dbt build "
        f"--selector without_seeds --target {args.engine}"
    )
    return 0


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


def _dashboard(args: argparse.Namespace) -> int:
    from nps_warehouse import dashboard

    print(f"dashboard of {args.warehouse} ...", flush=True)
    try:
        result = dashboard.render(
            args.warehouse, args.out, progress=lambda line: print(line, flush=True)
        )
    except dashboard.DashboardError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 2
    print(
        f"wrote {result.path} ({result.size_bytes / 1e6:.1f} MB, {result.charts} charts, "
        f"plotly.js inlined: works offline) in {result.seconds:.1f} s"
    )
    if args.screenshot is None:
        return 0
    try:
        check = dashboard.check_in_browser(result.path, screenshot=args.screenshot)
    except dashboard.DashboardError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 3
    problems = check.errors + [f"blocked request: {url}" for url in check.blocked_requests]
    print(
        f"screenshot {args.screenshot}: {check.rendered_charts}/{check.chart_containers} charts "
        f"rendered in headless chromium, {len(problems)} problem(s)"
    )
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems or check.rendered_charts != check.chart_containers else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nps-warehouse",
        description="Tooling for the NPS, retention and CLV warehouse.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    gen = commands.add_parser(
        "generate",
        help="write deterministic demo raw data (CSV seeds, or Parquet at any size)",
        description="Write raw_customers, raw_orders and raw_survey_responses as CSV files, "
        "or with --format parquet at any size, or append the next N days (--append-days). "
        "The same seed and sizes always give the same data.",
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
    gen.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default=None,
        help="csv (default; the byte-identical seeds) or parquet (fast, any size, via DuckDB); "
        "with --append-days the format of the new files (default parquet)",
    )
    gen.add_argument(
        "--orders", type=int, default=None, help="target number of orders (parquet only)"
    )
    gen.add_argument(
        "--responses", type=int, default=None, help="target number of responses (parquet only)"
    )
    gen.add_argument(
        "--append-days",
        type=int,
        default=None,
        metavar="N",
        help="append the next N days of orders and responses to the raw data in --out as new "
        "files raw_orders_append_<first>_<last>.<format> (reads Parquet and CSV)",
    )
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

    load = commands.add_parser(
        "load",
        help="load a folder of raw files (CSV or Parquet) into the warehouse's raw tables",
        description="Check every raw file of a folder (named <table>[_<suffix>].csv or "
        ".parquet), then load them into the raw tables that dbt seed fills, in one "
        "transaction: appended, or with --replace instead of what the tables held. Then build "
        "with `dbt build --selector without_seeds`. With --engine postgres or spark, into "
        "that dbt target's raw tables instead (PostgreSQL in one transaction; Spark has none). "
        "Exit 0 loaded, 2 a file was refused, 3 the warehouse file is busy or the engine "
        "failed.",
    )
    load.add_argument("folder", type=Path, help="folder of raw files")
    load.add_argument(
        "--replace", action="store_true", help="empty the tables the files feed before loading"
    )
    load.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb")),
        help="DuckDB file (env DUCKDB_PATH, else warehouse/dev.duckdb)",
    )
    load.add_argument(
        "--engine",
        choices=["duckdb", "postgres", "spark"],
        default="duckdb",
        help="where to load: the DuckDB file (default), or the raw tables of the dbt target "
        "postgres or spark (connection settings from the profile's environment variables)",
    )
    load.set_defaults(handler=_load)

    bench = commands.add_parser(
        "benchmark",
        help="measure full build and incremental refresh at 100k/1M/10M orders",
        description="Generate, load and build the warehouse at several sizes; print full "
        "dbt build and incremental refresh wall time and peak memory with their ratios and "
        "where the time goes, and check that two full builds of the same data give identical "
        "tables. Takes about half an hour for the default sizes; run it on an otherwise idle "
        "machine.",
    )
    benchmark.add_arguments(bench)
    bench.set_defaults(handler=benchmark.run)

    cmp = commands.add_parser(
        "compare-engines",
        help="compare every mart built on PostgreSQL or Spark with DuckDB's",
        description="Read every table of schema marts from the DuckDB warehouse and from each "
        "engine's build of the same seeds; they must have the same columns and rows, numbers "
        "equal within 1e-9 relative. Build first: `dbt build` and `dbt build --target "
        "postgres` or `--target spark`. Exit 0 all equal, 1 a mart differs or is missing, "
        "2 nothing to compare.",
    )
    cmp.add_argument(
        "--engine",
        action="append",
        choices=sorted(engines.READERS),
        required=True,
        help="engine to compare with DuckDB (repeatable)",
    )
    cmp.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb")),
        help="DuckDB file, opened read-only (env DUCKDB_PATH, else warehouse/dev.duckdb)",
    )
    cmp.set_defaults(handler=lambda args: engines.compare_engines(args.warehouse, args.engine))

    dash = commands.add_parser(
        "dashboard",
        help="render a static HTML dashboard of the marts (one file, works offline)",
        description="Read the marts (read-only) and write one self-contained HTML file: NPS "
        "trend per segment with its 95% margin of error, category shares, retention and "
        "churn, CLV per segment, revenue per respondent category, and blind-spot accounts. "
        "plotly.js is inlined, so the file opens without a server or network. With "
        "--screenshot it is also opened in headless Chromium (install it with "
        "scripts/browser-up) and saved as a full-page PNG. Exit 0 written, 1 the page showed "
        "errors in the browser, 2 the warehouse cannot be read (missing file or empty marts: "
        "run dbt build), 3 the browser could not run.",
    )
    dash.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb")),
        help="DuckDB file, opened read-only (env DUCKDB_PATH, else warehouse/dev.duckdb); "
        "the serving file warehouse/analytics.duckdb also works",
    )
    dash.add_argument(
        "--out",
        type=Path,
        default=Path("target/dashboard.html"),
        help="HTML file to write (target/dashboard.html)",
    )
    dash.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help="also open the page in headless Chromium, check that every chart rendered "
        "without errors, and save a full-page screenshot 1200 px wide here "
        "(e.g. docs/dashboard.png)",
    )
    dash.set_defaults(handler=_dashboard)

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
