"""Command-line entry point: `nps-warehouse <command> --help`."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import TypeVar

from nps_warehouse import benchmark, engines, generator

# Great Expectations imports PySpark when it is installed (it is, for the spark dbt target), and
# PySpark 4.3 warns on import that it does not fully support pandas 3. This project uses no
# pandas API on Spark; the warning would only bury the one-line messages of these commands.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

Config = TypeVar("Config")
Handler = Callable[[argparse.Namespace], int]


def _config(cls: type[Config], args: argparse.Namespace) -> Config:
    """A config dataclass from the options of the same names."""
    return cls(**{field.name: getattr(args, field.name) for field in fields(cls)})


def _generate(args: argparse.Namespace) -> int:
    """write deterministic demo raw data (the CSV seeds, or CSV or Parquet at any size)

    Write raw_customers, raw_orders and raw_survey_responses as CSV or Parquet files at any
    size, or append the next N days of the same model (--append-days). The same seed and sizes
    always give the same data, in either format."""
    if args.append_days is not None:
        generator.append_days(
            args.out, args.append_days, seed=args.seed, fmt=args.format or "parquet"
        )
        return 0
    generator.generate(_config(generator.GeneratorConfig, args), args.out, fmt=args.format or "csv")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    """take in a delivery, build, audit and publish the serving warehouse (what a scheduler calls)

    Take in a delivery of raw files (--new-data) into the raw store, apply it to the
    warehouse state incrementally (models whose code changed are rebuilt with everything
    downstream), run every gate (dbt's data tests, the Great Expectations suites) on the
    candidate, and only if all pass publish the serving file by an atomic rename. Without
    --new-data it rebuilds from what the raw store holds. Exit codes: 0 published, 1 a gate
    failed, 2 the delivery was refused, 3 the refresh could not run (disk, permissions, another
    refresh)."""
    from nps_warehouse import refresh

    try:
        result = refresh.refresh(_config(refresh.RefreshConfig, args))
    except refresh.RefreshFailed as failure:
        print(f"refresh FAILED (exit {failure.exit_code}): {failure.summary}", file=sys.stderr)
        return failure.exit_code
    rows = sum(result.loaded_rows.values())
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.steps.items())
    print(
        f"refresh OK ({result.mode}): build {result.build_id} published to {result.serving} in "
        f"{result.seconds:.0f} s ({rows:,} delivered rows taken in, {len(result.checksums)} "
        f"marts; {steps})"
    )
    for table, checksum in result.checksums.items():
        print(f"  {table:<30} {checksum}")
    print("source freshness: " + "; ".join(result.freshness))
    return refresh.EXIT_OK


def _load(args: argparse.Namespace) -> int:
    """load a folder of raw files into the raw tables of the postgres or spark target

    Check every raw file of a folder (named <table>[_<suffix>].csv or .parquet), then append
    them to the raw tables of the dbt target postgres (in one transaction) or spark (no
    transactions there), or with --replace instead of what the tables held. Then build with
    `dbt build --selector without_seeds --target <engine>`. (The DuckDB warehouse takes
    deliveries only through `nps-warehouse refresh`.) Exit 0 loaded, 2 a file was refused, 3 the
    engine failed."""
    from nps_warehouse import rawfiles

    started = time.perf_counter()
    try:
        files = rawfiles.check_delivery(args.folder)
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


def _compare_engines(args: argparse.Namespace) -> int:
    """compare every mart built on PostgreSQL or Spark with DuckDB's

    Read every table of schema marts from the DuckDB warehouse and from each engine's build
    of the same seeds; they must have the same columns and rows, numbers equal within 1e-9
    relative. Build first: `dbt build` and `dbt build --target postgres` or `--target spark`.
    Exit 0 all equal, 1 a mart differs or is missing, 2 nothing to compare."""
    return engines.compare_engines(args.warehouse, args.engine)


def _validate(args: argparse.Namespace) -> int:
    """run the Great Expectations suites on a warehouse's marts or on a delivery

    Run the mart suites (distributions no dbt test checks) on a built warehouse, or with
    --delivery the intake suites (the shapes of the delivered text) on a folder of raw files
    without taking it in; build the Data Docs. Exit 0 when every suite passes, 1 when one fails,
    2 when the warehouse or the delivery cannot be read."""
    # Imported here: Great Expectations takes seconds to import, other commands don't need it.
    import tempfile
    from datetime import UTC, datetime

    from nps_warehouse import rawfiles, validation

    try:
        if args.delivery is not None:
            with tempfile.TemporaryDirectory() as scratch:
                store = rawfiles.RawStore(Path(scratch))
                files = rawfiles.check_delivery(args.delivery)
                batch = store.take_in(files, "check", datetime.now(UTC))
                problems = validation.validate_batch(store, batch, args.docs_dir)
            what = f"delivery {args.delivery}"
        else:
            problems = validation.validate_marts(args.warehouse, args.docs_dir)
            what = f"marts of {args.warehouse}"
    except (validation.WarehouseUnavailableError, rawfiles.RawFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"FAIL  {problem}")
    print(
        f"result: {'FAIL' if problems else 'PASS'} ({what}); Data Docs: "
        f"{validation.docs_index(args.docs_dir)}"
    )
    return 1 if problems else 0


def _dashboard(args: argparse.Namespace) -> int:
    """render a static HTML dashboard of the marts (one file, works offline)

    Read the marts (read-only) and write one self-contained HTML file: NPS trend per segment
    with its 95% margin of error, category shares, retention and churn, CLV per segment, revenue
    per respondent category, and blind-spot accounts. plotly.js is inlined, so the file opens
    without a server or network. With --screenshot it is also opened in headless Chromium
    (install it with scripts/browser-up) and saved as a full-page PNG. Exit 0 written, 1 the
    page showed errors in the browser, 2 the warehouse cannot be read (missing file or empty
    marts: run dbt build), 3 the browser could not run."""
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


def _warehouse_option(parser: argparse.ArgumentParser, also: str = "") -> None:
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb")),
        help=f"DuckDB file, opened read-only (env DUCKDB_PATH, else warehouse/dev.duckdb){also}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nps-warehouse", description="Tooling for the NPS, retention and CLV warehouse."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, handler: Handler) -> argparse.ArgumentParser:
        """A sub-command; its handler's docstring is its summary, a blank line, its description."""
        summary, _, description = (handler.__doc__ or "").partition("\n\n")
        sub = commands.add_parser(name, help=summary, description=description)
        sub.set_defaults(handler=handler)
        return sub

    gen = command("generate", _generate)
    gen.add_argument("--out", type=Path, default=Path("seeds"), help="output folder (seeds)")
    model = generator.GeneratorConfig()  # the defaults
    gen.add_argument("--seed", type=int, default=model.seed, help="random seed (%(default)s)")
    gen.add_argument(
        "--customers", type=int, default=model.customers, help="number of customers (%(default)s)"
    )
    gen.add_argument(
        "--start-date", type=date.fromisoformat, default=model.start_date, help="first day"
    )
    gen.add_argument("--end-date", type=date.fromisoformat, default=model.end_date, help="last day")
    gen.add_argument(
        "--no-dirty",
        action="store_false",
        dest="include_dirty",
        help="leave out the dirty demo rows",
    )
    gen.add_argument(
        "--format",
        choices=("csv", "parquet"),
        help="csv (default; the seeds) or parquet (zstd); with --append-days the format of "
        "the new files (default parquet)",
    )
    gen.add_argument("--orders", type=int, help="target number of orders (default: the model's)")
    gen.add_argument(
        "--responses", type=int, help="target number of responses (default: the model's)"
    )
    gen.add_argument(
        "--append-days",
        type=int,
        metavar="N",
        help="append the next N days of orders and responses to the raw data in --out as new "
        "files raw_orders_append_<first>_<last>.<format> (reads Parquet and CSV)",
    )

    ref = command("refresh", _refresh)
    ref.add_argument(
        "--new-data",
        type=Path,
        help="folder of new raw files (raw_orders*.csv|.parquet, raw_customers*, "
        "raw_survey_responses*, raw_erasure_requests*)",
    )
    ref.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild everything from the whole raw store (a repair, a weekly run)",
    )
    for flag, default, text in (
        ("--serving", "warehouse/analytics.duckdb", "the serving file BI tools read"),
        ("--state", "warehouse/state", "the warehouse state between refreshes, never read by BI"),
        ("--raw-store", "warehouse/raw_store", "every accepted delivery, as Parquet per raw table"),
    ):
        ref.add_argument(flag, type=Path, default=Path(default), help=f"{text} ({default})")

    load = command("load", _load)
    load.add_argument("folder", type=Path, help="folder of raw files")
    load.add_argument(
        "--replace", action="store_true", help="empty the tables the files feed before loading"
    )
    load.add_argument(
        "--engine",
        choices=["postgres", "spark"],
        required=True,
        help="the dbt target whose raw tables to load (connection settings from the profile's "
        "environment variables)",
    )

    bench = command("benchmark", benchmark.run)
    benchmark.add_arguments(bench)

    cmp = command("compare-engines", _compare_engines)
    cmp.add_argument(
        "--engine",
        action="append",
        choices=sorted(engines.READERS),
        required=True,
        help="engine to compare with DuckDB (repeatable)",
    )
    _warehouse_option(cmp)

    dash = command("dashboard", _dashboard)
    _warehouse_option(dash, "; the serving file warehouse/analytics.duckdb also works")
    dash.add_argument(
        "--out",
        type=Path,
        default=Path("target/dashboard.html"),
        help="HTML file to write (target/dashboard.html)",
    )
    dash.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="also open the page in headless Chromium, check that every chart rendered "
        "without errors, and save a full-page screenshot 1200 px wide here "
        "(e.g. docs/dashboard.png)",
    )

    val = command("validate", _validate)
    _warehouse_option(val)
    val.add_argument("--delivery", type=Path, help="instead: a folder of raw files to check")
    val.add_argument(
        "--docs-dir",
        type=Path,
        default=Path("target/gx"),
        help="folder for the Data Docs (target/gx; they go to <folder>/data_docs)",
    )
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
