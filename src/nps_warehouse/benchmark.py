"""Benchmark: the warehouse at 100k, 1M and 10M orders (a script, not a test).

Per size (orders; customers and responses in the demo data's proportions) it generates the
raw data as Parquet, loads it into a fresh DuckDB file, then measures in separate processes:

- full:  `dbt build --full-refresh --selector without_seeds` (every model, unit and data
         test), wall time and peak memory (max RSS of the dbt process);
- determinism: the same full build again, on a second copy of the freshly loaded raw file;
         every table and view of the two files must have the same checksum (the columns that
         stamp the run that computed a row left out), else the benchmark exits 1;
- incremental: the generator appends the next day, the loader appends it, and
         `dbt build --selector without_seeds` runs incrementally.

It prints one table with the ratio incremental / full measured in the same run,
and writes the figures as JSON next to the data. Run it on an otherwise idle machine:

    nps-warehouse benchmark --sizes 100000 1000000 10000000 --work /tmp/nps-bench

With --engines postgres spark, the same raw rows also go into PostgreSQL (database nps_bench)
and Spark (SPARK_DIR under the work folder), each gets the same full build and, after the same
appended day, the same incremental build, and a second table gives their times and ratios to
DuckDB; at the end every mart must be equal on every engine (compare-engines):

    nps-warehouse benchmark --sizes 1000000 --engines postgres spark
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Demo data proportions: 360 customers and 1,934 responses for 7,602 orders.
CUSTOMERS_PER_ORDER = 360 / 7602
RESPONSES_PER_ORDER = 1934 / 7602
GIB = 1024**3
# Columns that stamp the dbt run that computed a row: the only ones two builds may differ in.
RUN_STAMPS = ("checked_at", "computed_at")


def duckdb_settings() -> dict[str, str]:
    """The DuckDB settings dbt uses: profiles/profiles.yml reads them from these variables,
    with these defaults (printed with the results)."""
    return {
        "threads": os.environ.get("DUCKDB_THREADS", "2"),
        "memory_limit": os.environ.get("DUCKDB_MEMORY_LIMIT", "3GB"),
        "preserve_insertion_order": os.environ.get("DUCKDB_PRESERVE_INSERTION_ORDER", "true"),
    }


@dataclass
class Step:
    seconds: float
    peak_bytes: int


@dataclass
class EngineRun:
    """One other engine's figures on the same data: raw load, full build, the appended day's
    load and the incremental build."""

    engine: str
    load: Step
    full: Step
    load_day: Step
    incremental: Step
    full_profile: dict
    incremental_profile: dict


@dataclass
class SizeResult:
    orders: int
    customers: int
    responses: int
    generate: Step
    load: Step
    full: Step
    append: Step
    load_day: Step
    incremental: Step
    full_profile: dict
    incremental_profile: dict
    engines: list[EngineRun]
    # Tables and views compared between two full builds of the same raw data, and those whose
    # checksums differed (None: not compared).
    compared_tables: int | None = None
    differing_tables: list[str] | None = None


def _measure(args: list[str], env: dict[str, str], label: str) -> Step:
    """Run a command; its wall time and peak RSS (from wait4, so of that process tree)."""
    print(f"  {label} ...", flush=True)
    started = time.perf_counter()
    log = Path(env["BENCH_LOG_DIR"]) / f"{label.replace(' ', '_')}.log"
    with log.open("w") as output:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text()[-2000:]
        raise SystemExit(f"benchmark: `{' '.join(args)}` failed (log {log}):\n{tail}")
    step = Step(seconds, usage.ru_maxrss * 1024)
    print(f"  {label}: {seconds:.1f} s, peak {step.peak_bytes / GIB:.2f} GiB", flush=True)
    return step


def profile(run_results: Path, keep_as: Path) -> dict:
    """Where a dbt run's time went, from its run_results.json (kept as keep_as): the run's
    elapsed seconds, the summed node seconds of models and of tests, and the slowest nodes."""
    shutil.copyfile(run_results, keep_as)
    results = json.loads(run_results.read_text())
    spent = {"model": 0.0, "test": 0.0}
    for result in results["results"]:
        kind = "model" if result["unique_id"].startswith("model.") else "test"
        spent[kind] += result["execution_time"]
    slowest = sorted(results["results"], key=lambda result: -result["execution_time"])[:6]
    return {
        "elapsed": results["elapsed_time"],
        "model_seconds": spent["model"],
        "test_seconds": spent["test"],
        "nodes": len(results["results"]),
        "slowest": [[_node_name(r["unique_id"]), r["execution_time"]] for r in slowest],
    }


def _node_name(unique_id: str) -> str:
    """model.project.name -> name; test.project.name.hash -> name; unit_test.project.model.name
    -> model.name."""
    kind, _, *rest = unique_id.split(".")
    return rest[0] if kind == "test" else ".".join(rest)


def describe(label: str, spent: dict) -> str:
    slowest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent["slowest"])
    return (
        f"{label}: dbt ran {spent['nodes']} nodes in {spent['elapsed']:.1f} s; node seconds "
        f"summed over its threads: models {spent['model_seconds']:.1f}, tests "
        f"{spent['test_seconds']:.1f}; slowest: {slowest}"
    )


def _dbt(*args: str) -> list[str]:
    return [str(BIN / "dbt"), *args]


def _cli(*args: str) -> list[str]:
    return [str(BIN / "nps-warehouse"), *args]


def compare_builds(first: Path, second: Path) -> tuple[int, list[str]]:
    """Checksums of every table and view of two warehouse files, run stamps left out: how many
    relations were compared and which differ."""
    from nps_warehouse.refresh import table_checksums

    one = table_checksums(first, ignored_columns=RUN_STAMPS)
    two = table_checksums(second, ignored_columns=RUN_STAMPS)
    return len(one.keys() | two.keys()), sorted(
        name for name in one.keys() | two.keys() if one.get(name) != two.get(name)
    )


def same_builds(compared: int, differing: list[str]) -> str:
    outcome = f"{len(differing)} differ: {', '.join(differing)}" if differing else "all identical"
    return f"{compared} tables and views compared, {outcome}"


def bench_size(
    orders: int, work: Path, env: dict[str, str], engines: list[str], second_build: bool
) -> SizeResult:
    customers = max(50, round(orders * CUSTOMERS_PER_ORDER))
    responses = round(orders * RESPONSES_PER_ORDER)
    folder = work / f"orders_{orders}"
    shutil.rmtree(folder, ignore_errors=True)
    raw, delivery, logs = folder / "raw", folder / "delivery", folder / "logs"
    for path in (raw, delivery, logs):
        path.mkdir(parents=True)
    warehouse = folder / "warehouse.duckdb"
    twin = folder / "twin" / "warehouse.duckdb"
    twin.parent.mkdir()
    env = {
        **env,
        "DUCKDB_PATH": str(warehouse),
        "BENCH_LOG_DIR": str(logs),
        "POSTGRES_DB": "nps_bench",
        "SPARK_DIR": str(folder / "spark"),
    }
    target = ["--target-path", str(folder / "target"), "--log-path", str(logs)]
    print(f"{orders:,} orders ({customers:,} customers, {responses:,} responses)", flush=True)
    generate = _measure(
        _cli(
            "generate",
            "--format",
            "parquet",
            "--out",
            str(raw),
            "--customers",
            str(customers),
            "--orders",
            str(orders),
            "--responses",
            str(responses),
        ),
        env,
        "generate",
    )
    load = _measure(_cli("load", str(raw), "--replace", "--warehouse", str(warehouse)), env, "load")
    if second_build:
        shutil.copyfile(warehouse, twin)
    full_args = ("build", "--full-refresh", "--selector", "without_seeds")
    full_build = _dbt(*full_args, *target)
    full = _measure(full_build, env, "full build")
    run_results = folder / "target" / "run_results.json"
    full_profile = profile(run_results, logs / "full_build_run_results.json")
    compared, differing = None, None
    if second_build:
        _measure(
            _dbt(*full_args, "--target-path", str(folder / "target_twin"), "--log-path", str(logs)),
            {**env, "DUCKDB_PATH": str(twin)},
            "second full build",
        )
        compared, differing = compare_builds(warehouse, twin)
        print(f"  two full builds: {same_builds(compared, differing)}", flush=True)
    others = {}
    for engine in engines:
        engine_target = ["--target", engine, "--target-path", str(folder / f"target_{engine}")]
        others[engine] = {
            "load": _measure(
                _cli("load", str(raw), "--replace", "--engine", engine), env, f"{engine} load"
            ),
            "full": _measure(
                _dbt("build", "--full-refresh", "--selector", "without_seeds", *engine_target),
                env,
                f"{engine} full build",
            ),
            "full_profile": profile(
                folder / f"target_{engine}" / "run_results.json",
                logs / f"{engine}_full_build_run_results.json",
            ),
        }
    append = _measure(
        _cli("generate", "--append-days", "1", "--format", "parquet", "--out", str(raw)),
        env,
        "append one day",
    )
    for path in raw.glob("*append*"):
        shutil.move(path, delivery / path.name)
    load_day = _measure(_cli("load", str(delivery), "--warehouse", str(warehouse)), env, "load day")
    incremental = _measure(
        _dbt("build", "--selector", "without_seeds", *target), env, "incremental build"
    )
    incremental_profile = profile(run_results, logs / "incremental_build_run_results.json")
    runs = []
    for engine, measured in others.items():
        engine_target = ["--target", engine, "--target-path", str(folder / f"target_{engine}")]
        load_engine_day = _measure(
            _cli("load", str(delivery), "--engine", engine), env, f"{engine} load day"
        )
        incremental_engine = _measure(
            _dbt("build", "--selector", "without_seeds", *engine_target),
            env,
            f"{engine} incremental build",
        )
        runs.append(
            EngineRun(
                engine=engine,
                load=measured["load"],
                full=measured["full"],
                load_day=load_engine_day,
                incremental=incremental_engine,
                full_profile=measured["full_profile"],
                incremental_profile=profile(
                    folder / f"target_{engine}" / "run_results.json",
                    logs / f"{engine}_incremental_build_run_results.json",
                ),
            )
        )
    if engines:
        compared = [argument for engine in engines for argument in ("--engine", engine)]
        _measure(
            _cli("compare-engines", *compared, "--warehouse", str(warehouse)),
            env,
            "compare engines",
        )
    return SizeResult(
        orders=orders,
        customers=customers,
        responses=responses,
        generate=generate,
        load=load,
        full=full,
        append=Step(append.seconds + load_day.seconds, max(append.peak_bytes, load_day.peak_bytes)),
        load_day=load_day,
        incremental=incremental,
        full_profile=full_profile,
        incremental_profile=incremental_profile,
        engines=runs,
        compared_tables=compared,
        differing_tables=differing,
    )


def table(results: list[SizeResult]) -> str:
    header = (
        "| orders | customers | generate s | load s | full build s | model node s | test node s "
        "| full peak GiB | incremental s | incr. peak GiB | incremental / full |"
    )
    lines = [header, "|" + "|".join("---:" for _ in range(header.count("|") - 1)) + "|"]
    for r in results:
        lines.append(
            f"| {r.orders:,} | {r.customers:,} | {r.generate.seconds:.1f} | {r.load.seconds:.1f} "
            f"| {r.full.seconds:.1f} | {r.full_profile['model_seconds']:.1f} "
            f"| {r.full_profile['test_seconds']:.1f} | {r.full.peak_bytes / GIB:.2f} "
            f"| {r.incremental.seconds:.1f} "
            f"| {r.incremental.peak_bytes / GIB:.2f} "
            f"| {r.incremental.seconds / r.full.seconds:.2f} |"
        )
    return "\n".join(lines)


def engine_table(result: SizeResult) -> str:
    """The engines at one size: load, full build and incremental refresh, ratios to DuckDB."""
    header = (
        "| engine | load raw s | full build s | full / DuckDB | load day s | incremental s "
        "| incremental / DuckDB |"
    )
    lines = [header, "|---|" + "|".join("---:" for _ in range(header.count("|") - 2)) + "|"]
    duck = EngineRun(
        "duckdb",
        result.load,
        result.full,
        result.load_day,
        result.incremental,
        result.full_profile,
        result.incremental_profile,
    )
    for run in [duck, *result.engines]:
        lines.append(
            f"| {run.engine} | {run.load.seconds:.1f} | {run.full.seconds:.1f} "
            f"| {run.full.seconds / duck.full.seconds:.2f} | {run.load_day.seconds:.1f} "
            f"| {run.incremental.seconds:.1f} "
            f"| {run.incremental.seconds / duck.incremental.seconds:.2f} |"
        )
    return "\n".join(lines)


def bench_clv(customers: int) -> int:
    """Fit BG/NBD and Gamma-Gamma on `customers` customers drawn from the models with the CDNOW
    estimates (ages up to 78 weeks), then predict for all of them; prints the seconds of each
    step, the peak memory of this process and the recovered parameters next to the true ones."""
    import resource

    import numpy as np

    from nps_warehouse import predictive_clv

    purchases = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    spend = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    started = time.perf_counter()
    drawn = predictive_clv.simulate(purchases, spend, customers, 78.0, np.random.default_rng(2026))
    steps = {"draw": time.perf_counter() - started}
    print(f"{customers:,} customers drawn ({(drawn.frequency > 0).sum():,} with a repeat purchase)")
    started = time.perf_counter()
    bgnbd = predictive_clv.fit_bgnbd(drawn.frequency, drawn.recency, drawn.customer_age)
    steps["fit BG/NBD"] = time.perf_counter() - started
    started = time.perf_counter()
    gamma_gamma = predictive_clv.fit_gamma_gamma(drawn.frequency, drawn.mean_repeat_value)
    steps["fit Gamma-Gamma"] = time.perf_counter() - started
    started = time.perf_counter()
    value = predictive_clv.expected_average_value(
        gamma_gamma.params, drawn.frequency, drawn.mean_repeat_value
    )
    predictive_clv.probability_alive(
        bgnbd.params, drawn.frequency, drawn.recency, drawn.customer_age
    )
    predictive_clv.clv(
        bgnbd.params,
        value,
        np.full(customers, 0.3),
        drawn.frequency,
        drawn.recency,
        drawn.customer_age,
        units_per_month=365.25 / 12 / 7,
        monthly_rate=0.008,  # about 10% a year
    )
    steps["predict (P alive, 12-month CLV)"] = time.perf_counter() - started
    for step, seconds in steps.items():
        print(f"  {step}: {seconds:.1f} s")
    fitted = steps["fit BG/NBD"] + steps["fit Gamma-Gamma"]
    print(
        f"fit both models: {fitted:.1f} s; fit and predict: "
        f"{fitted + steps['predict (P alive, 12-month CLV)']:.1f} s; peak memory "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB"
    )
    for fit, truth in ((bgnbd, purchases), (gamma_gamma, spend)):
        recovered = ", ".join(
            f"{name} {fit.params[name]:.3f} (true {value:.3f})" for name, value in truth.items()
        )
        print(f"{fit.model}: {recovered}; converged {fit.converged} in {fit.iterations} iterations")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000, 10_000_000],
        help="order counts (100000 1000000 10000000)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/nps-bench"),
        help="scratch folder for data and warehouse files (/tmp/nps-bench)",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=["postgres", "spark"],
        default=[],
        help="also build on these engines (PostgreSQL database nps_bench, Spark under the work "
        "folder) and compare them with DuckDB; starts PostgreSQL with scripts/engines-up",
    )
    parser.add_argument(
        "--second-build",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="build each size's data twice in full and compare every table's checksum "
        "(default: on; --no-second-build skips it)",
    )
    parser.add_argument(
        "--clv-customers",
        type=int,
        metavar="N",
        help="instead: time fitting BG/NBD and Gamma-Gamma on N customers drawn from the models "
        "(e.g. 1000000) and predicting for them",
    )


def run(args: argparse.Namespace) -> int:
    if args.clv_customers:
        return bench_clv(args.clv_customers)
    args.work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(REPO / "profiles"),
        "DBT_PROJECT_DIR": str(REPO),
    }
    started = time.perf_counter()
    if args.engines:
        subprocess.run(
            [str(REPO / "scripts" / "engines-up")],
            env={**env, "POSTGRES_DB": "nps_bench"},
            check=True,
        )
    results = [
        bench_size(orders, args.work, env, args.engines, args.second_build) for orders in args.sizes
    ]
    print()
    settings = ", ".join(f"{name} {value}" for name, value in duckdb_settings().items())
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}; DuckDB {settings}")
    print(table(results))
    largest = results[-1]
    print(f"where the time goes at {largest.orders:,} orders:")
    print("- " + describe("full build", largest.full_profile))
    print("- " + describe("incremental build", largest.incremental_profile))
    if len(results) > 1:
        small, large = results[-2], results[-1]
        print(
            f"incremental at {large.orders:,} vs {small.orders:,} orders of history: "
            f"{large.incremental.seconds / small.incremental.seconds:.2f}x"
        )
    (args.work / "results.json").write_text(
        json.dumps([asdict(result) for result in results], indent=2)
    )
    for result in results:
        if result.engines:
            print(f"engines at {result.orders:,} orders (every mart equal on every engine):")
            print(engine_table(result))
            for run in result.engines:
                print("- " + describe(f"{run.engine} full build", run.full_profile))
                print("- " + describe(f"{run.engine} incremental build", run.incremental_profile))
    for result in results:
        if result.compared_tables is not None:
            print(
                f"two full builds at {result.orders:,} orders: "
                + same_builds(result.compared_tables, result.differing_tables)
            )
    print(f"done in {time.perf_counter() - started:.0f} s; figures in {args.work / 'results.json'}")
    return 1 if any(result.differing_tables for result in results) else 0
