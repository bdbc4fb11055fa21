"""Command-line entry point: `nps-warehouse <command> --help`."""

from __future__ import annotations

import argparse
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
