"""Benchmark: the scheduler's path, `nps-warehouse refresh`, at 1M, 10M and 100M orders (a
script, not a test; its figures and findings are in docs/benchmarks.md).

Per size (customers and responses in the demo data's proportions; LARGE_SETTINGS from
LARGE_ORDERS on) it generates the raw data as Parquet, then measures each command in its own
process (wall time, peak RSS from wait4): a full refresh of a new warehouse (intake, dbt build
with every data test, the Great Expectations suites, publish; step times and dbt's profile from
the refresh's own records); with --second-build, a second full refresh over a copy of the raw
store, whose tables and views must all have the same checksums (run stamps left out), else exit
1; then one-day incremental refreshes with the generator's next days. With --engines, PostgreSQL
(database nps_bench) and Spark (SPARK_DIR under the work folder) load the same rows and build in
full and incrementally, a second table gives their ratios to DuckDB, and every mart must be
equal on every engine (compare-engines). It prints a table of the sizes with their ratios and
where the time goes at the largest, and writes results.json. Run it on an otherwise idle machine:

    nps-warehouse benchmark --sizes 1000000 10000000 100000000 --work /tmp/nps-bench
    nps-warehouse benchmark --sizes 1000000 --engines postgres spark
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The sizes of docs/benchmarks.md: the demo data's proportions when they ran (360 customers and
# 1,934 responses for 7,602 orders).
CUSTOMERS_PER_ORDER = 360 / 7602
RESPONSES_PER_ORDER = 1934 / 7602
GIB = 1024**3
# Columns that stamp the dbt run that computed a row: the only ones two builds may differ in.
RUN_STAMPS = ("checked_at", "computed_at")
# From this size on, the profile's defaults (memory_limit 2GB, two dbt threads) let the two
# largest models spill more than 50 GB to DuckDB's temp folder, which filled the disk at 100M;
# these settings ran it (docs/benchmarks.md, "Settings at 100M"). The caller's environment wins.
LARGE_ORDERS = 50_000_000
LARGE_SETTINGS = {"DUCKDB_MEMORY_LIMIT": "14GB", "DBT_THREADS": "1"}


def duckdb_settings(env: dict[str, str]) -> dict[str, str]:
    """The settings dbt uses with this environment, rendered from the profile's dev target as
    dbt renders them (env_var with the profile's defaults; printed with each size)."""
    import jinja2
    import yaml

    profiles = Path(env.get("DBT_PROFILES_DIR", REPO / "profiles")) / "profiles.yml"
    dev = yaml.safe_load(profiles.read_text())["nps_warehouse"]["outputs"]["dev"]
    settings = {
        "dbt threads": dev["threads"],
        "DuckDB threads": dev["settings"]["threads"],
        "memory_limit": dev["settings"]["memory_limit"],
    }
    jinja = jinja2.Environment()
    jinja.filters["as_number"] = str
    render = jinja.from_string
    return {name: render(str(value)).render(env_var=env.get) for name, value in settings.items()}


def size_environment(orders: int, env: dict[str, str]) -> dict[str, str]:
    """The environment of one size's runs: LARGE_SETTINGS from LARGE_ORDERS on, unless set."""
    return {**(LARGE_SETTINGS if orders >= LARGE_ORDERS else {}), **env}


@dataclass
class Step:
    seconds: float
    peak_bytes: int


@dataclass
class SizeResult:
    orders: int
    customers: int
    responses: int
    generate: Step
    full: Step
    incremental: Step  # the second one-day refresh: the steady state
    first_incremental: Step  # the first one after the full refresh: it copies the state
    # Each refresh's own record (its target/refresh.json): seconds per step (intake, candidate,
    # parse, build, audit, ...), rows loaded per raw table, the marts' checksums.
    full_record: dict
    first_incremental_record: dict
    incremental_record: dict
    full_profile: dict
    incremental_profile: dict
    # Per other engine, one record: the Steps of its raw load, full build, the day's load and
    # incremental build (load, full, load_day, incremental) and its builds' profiles.
    engines: dict[str, dict]
    # Tables and views compared between two full refreshes of the same raw store, and those
    # whose checksums differed (None: not compared).
    compared_tables: int | None = None
    differing_tables: list[str] | None = None


def _measure(args: list[str], env: dict[str, str], label: str) -> Step:
    """Run a command; its wall time and peak RSS (from wait4, so of that process tree)."""
    print(f"  {label} ...", flush=True)
    started = time.perf_counter()
    log = Path(env["BENCH_LOG_DIR"]) / f"{label.replace(' ', '_')}.log"
    with log.open("w") as output:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C, or a SIGTERM (see run): stop the measured command too
            process.terminate()
            process.wait()
            raise
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
    path_seconds, path = models_critical_path(results, run_results.parent / "manifest.json")
    return {
        "elapsed": results["elapsed_time"],
        "model_seconds": spent["model"],
        "test_seconds": spent["test"],
        "nodes": len(results["results"]),
        "slowest": [[_node_name(r["unique_id"]), r["execution_time"]] for r in slowest],
        "models_critical_path": [path_seconds, [_node_name(node) for node in path]],
    }


def models_critical_path(results: dict, manifest: Path) -> tuple[float, list[str]]:
    """The chain of models, each depending on the one before, with the most model seconds: the
    least a run of the models alone (dbt run) can take, however many threads it has."""
    seconds = {
        r["unique_id"]: r["execution_time"]
        for r in results["results"]
        if r["unique_id"].startswith("model.")
    }
    nodes = json.loads(manifest.read_text())["nodes"]
    longest: dict[str, tuple[float, list[str]]] = {}

    def chain(node: str) -> tuple[float, list[str]]:
        if node not in longest:
            parents = [p for p in nodes[node]["depends_on"]["nodes"] if p in seconds]
            before = max((chain(p) for p in parents), default=(0.0, []))
            longest[node] = (before[0] + seconds[node], [*before[1], node])
        return longest[node]

    return max((chain(node) for node in seconds), default=(0.0, []))


def _node_name(unique_id: str) -> str:
    """model.project.name -> name; test.project.name.hash -> name; unit_test.project.model.name
    -> model.name."""
    kind, _, *rest = unique_id.split(".")
    return rest[0] if kind == "test" else ".".join(rest)


def describe(label: str, spent: dict) -> str:
    slowest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent["slowest"])
    path_seconds, path = spent["models_critical_path"]
    return (
        f"{label}: dbt ran {spent['nodes']} nodes in {spent['elapsed']:.1f} s; node seconds "
        f"summed over its threads: models {spent['model_seconds']:.1f}, tests "
        f"{spent['test_seconds']:.1f}; slowest: {slowest}; models' critical path (the least "
        f"the models alone take) {path_seconds:.1f} s: {' > '.join(path)}"
    )


def _cli(*args: str, **options: object) -> list[str]:
    """An nps-warehouse command line: args, then each option as --name value."""
    for name, value in options.items():
        args += (f"--{name.replace('_', '-')}", str(value))
    return [str(BIN / "nps-warehouse"), *args]


def compare_builds(first: Path, second: Path) -> tuple[int, list[str]]:
    """Checksums of every table and view of two warehouse files, run stamps and the stored
    manifest left out: how many relations were compared and which differ. The checksums run
    in a fresh process: DuckDB's memory would stay with this one, and every command started
    after it would report this process's peak as its own (wait4 counts a child's memory from
    the fork; 11.1 GiB for a 2 GiB step after a 100M comparison)."""
    from nps_warehouse.refresh import STATE_MANIFEST

    code = "import sys; from nps_warehouse.benchmark import print_checksums as p; p(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(first), str(second)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark: comparing {first} and {second} failed:\n{done.stderr}")
    one, two = json.loads(done.stdout)
    names = (one.keys() | two.keys()) - {STATE_MANIFEST}
    return len(names), sorted(name for name in names if one.get(name) != two.get(name))


def print_checksums(paths: list[str]) -> None:
    """compare_builds' fresh process: the files' checksums, run stamps left out, as JSON."""
    from nps_warehouse.refresh import table_checksums

    print(json.dumps([table_checksums(Path(path), ignored_columns=RUN_STAMPS) for path in paths]))


def same_builds(compared: int, differing: list[str]) -> str:
    outcome = f"{len(differing)} differ: {', '.join(differing)}" if differing else "all identical"
    return f"{compared} tables and views compared, {outcome}"


def next_day(raw: Path, delivery: Path, env: dict[str, str]) -> Path:
    """The generator's next day after the raw files (earlier appended days included), copied
    into its own delivery folder (returned)."""
    before = set(raw.iterdir())
    command = _cli("generate", append_days=1, format="parquet", out=raw)
    _measure(command, env, f"generate the day for {delivery.name}")
    delivery.mkdir(exist_ok=True)
    for path in set(raw.iterdir()) - before:
        shutil.copy(path, delivery / path.name)
    return delivery


def _refresh(
    warehouse: Path, env: dict[str, str], label: str, new_data: Path | None = None
) -> tuple[Step, dict]:
    """One `nps-warehouse refresh` of the warehouse folder (with new data, else in full): its
    Step and its own record."""
    folders = {name: warehouse / name for name in ("state", "raw_store")}
    command = _cli("refresh", serving=warehouse / "analytics.duckdb", **folders)
    extra = ["--new-data", str(new_data)] if new_data else ["--full-refresh"]
    step = _measure(command + extra, env, label)
    return step, json.loads((warehouse / "state" / "target" / "refresh.json").read_text())


def _engine_build(
    engine: str, kind: str, folder: Path, env: dict[str, str], *args: str
) -> tuple[Step, dict]:
    """One `dbt build` on another engine (kind: full or incremental; args: dbt's options): its
    Step and its profile."""
    target = folder / f"target_{engine}"
    step = _measure(
        [str(BIN / "dbt"), "build", *args, "--selector", "without_seeds", "--target", engine]
        + ["--target-path", str(target)],
        env,
        f"{engine} {kind} build",
    )
    keep_as = Path(env["BENCH_LOG_DIR"]) / f"{engine}_{kind}_build_run_results.json"
    return step, profile(target / "run_results.json", keep_as)


def bench_size(
    orders: int, work: Path, env: dict[str, str], engines: list[str], second_build: bool
) -> SizeResult:
    customers = max(50, round(orders * CUSTOMERS_PER_ORDER))
    responses = round(orders * RESPONSES_PER_ORDER)
    folder = work / f"orders_{orders}"
    shutil.rmtree(folder, ignore_errors=True)
    raw, logs, warehouse, twin = (folder / name for name in ("raw", "logs", "warehouse", "twin"))
    for path in (raw, logs, warehouse):
        path.mkdir(parents=True)
    env = {
        **size_environment(orders, env),
        "BENCH_LOG_DIR": str(logs),
        "POSTGRES_DB": "nps_bench",
        "SPARK_DIR": str(folder / "spark"),
    }
    settings = ", ".join(f"{name} {value}" for name, value in duckdb_settings(env).items())
    print(
        f"{orders:,} orders ({customers:,} customers, {responses:,} responses); {settings}",
        flush=True,
    )
    counts = {"customers": customers, "orders": orders, "responses": responses}
    # SizeResult's fields, filled in as they are measured
    result: dict[str, Any] = {**counts, "engines": {engine: {} for engine in engines}}
    result["generate"] = _measure(
        _cli("generate", format="parquet", out=raw, **counts), env, "generate"
    )
    run_results = warehouse / "state" / "target" / "build_run_results.json"
    result["full"], result["full_record"] = _refresh(warehouse, env, "full refresh", raw)
    result["full_profile"] = profile(run_results, logs / "full_refresh_run_results.json")
    if second_build:
        twin.mkdir()
        shutil.copytree(warehouse / "raw_store", twin / "raw_store")
        _refresh(twin, env, "second full refresh")
        compared, differing = compare_builds(
            warehouse / "state" / "active.duckdb", twin / "state" / "active.duckdb"
        )
        print(f"  two full refreshes: {same_builds(compared, differing)}", flush=True)
        result["compared_tables"], result["differing_tables"] = compared, differing
        shutil.rmtree(twin)
    for engine, record in result["engines"].items():
        command = _cli("load", str(raw), "--replace", engine=engine)
        record["load"] = _measure(command, env, f"{engine} load")
        record["full"], record["full_profile"] = _engine_build(
            engine, "full", folder, env, "--full-refresh"
        )
    day = next_day(raw, folder / "delivery", env)
    result["first_incremental"], result["first_incremental_record"] = _refresh(
        warehouse, env, "first one-day refresh", day
    )
    for engine, record in result["engines"].items():
        command = _cli("load", str(day), engine=engine)
        record["load_day"] = _measure(command, env, f"{engine} load day")
        record["incremental"], record["incremental_profile"] = _engine_build(
            engine, "incremental", folder, env
        )
    if engines:
        compared_engines = [argument for engine in engines for argument in ("--engine", engine)]
        serving = warehouse / "analytics.duckdb"
        command = _cli("compare-engines", *compared_engines, warehouse=serving)
        _measure(command, env, "compare engines")
    # The first refresh after a full one copies the active state (there is no standby yet);
    # from the next one on, the standby is one refresh behind and nothing is copied.
    day = next_day(raw, folder / "delivery_2", env)
    result["incremental"], result["incremental_record"] = _refresh(
        warehouse, env, "one-day refresh", day
    )
    result["incremental_profile"] = profile(run_results, logs / "one_day_refresh_run_results.json")
    return SizeResult(**result)


def _steps(record: dict) -> str:
    steps = record["steps"].items()
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps if seconds >= 0.05)


def table(results: list[SizeResult]) -> str:
    rows = [
        {
            "orders": f"{r.orders:,}",
            "customers": f"{r.customers:,}",
            "generate s": f"{r.generate.seconds:.1f}",
            "full refresh s": f"{r.full.seconds:.1f}",
            "full peak GiB": f"{r.full.peak_bytes / GIB:.2f}",
            "one-day orders": f"{r.incremental_record['loaded_rows'].get('raw_orders', 0):,}",
            "first one-day s": f"{r.first_incremental.seconds:.1f}",
            "one-day refresh s": f"{r.incremental.seconds:.1f}",
            "one-day peak GiB": f"{r.incremental.peak_bytes / GIB:.2f}",
            "one-day / full": f"{r.incremental.seconds / r.full.seconds:.2f}",
        }
        for r in results
    ]
    return tabulate(rows, "keys", "pipe", disable_numparse=True, stralign="right")


def engine_table(result: SizeResult) -> str:
    """The engines at one size: load, full build and incremental refresh, ratios to DuckDB."""
    duckdb = {  # its loads: the refreshes' intake steps
        "load": Step(result.full_record["steps"].get("intake", 0.0), 0),
        "full": result.full,
        "load_day": Step(result.incremental_record["steps"].get("intake", 0.0), 0),
        "incremental": result.incremental,
    }
    rows = [
        {
            "engine": engine,
            "load raw s": f"{r['load'].seconds:.1f}",
            "full build s": f"{r['full'].seconds:.1f}",
            "full / DuckDB": f"{r['full'].seconds / result.full.seconds:.2f}",
            "load day s": f"{r['load_day'].seconds:.1f}",
            "incremental s": f"{r['incremental'].seconds:.1f}",
            "incremental / DuckDB": f"{r['incremental'].seconds / result.incremental.seconds:.2f}",
        }
        for engine, r in {"duckdb": duckdb, **result.engines}.items()
    ]
    return tabulate(
        rows, "keys", "pipe", disable_numparse=True, stralign="right", colalign=("left",)
    )


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
    history = (drawn.frequency, drawn.recency, drawn.customer_age)
    spending = (drawn.frequency, drawn.mean_repeat_value)
    started = time.perf_counter()
    bgnbd = predictive_clv.fit_bgnbd(*history)
    steps["fit BG/NBD"] = time.perf_counter() - started
    started = time.perf_counter()
    gamma_gamma = predictive_clv.fit_gamma_gamma(*spending)
    steps["fit Gamma-Gamma"] = time.perf_counter() - started
    started = time.perf_counter()
    value = predictive_clv.expected_average_value(gamma_gamma.params, *spending)
    predictive_clv.probability_alive(bgnbd.params, *history)
    predictive_clv.clv(
        bgnbd.params,
        value,
        np.full(customers, 0.3),
        *history,
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
        default=[1_000_000, 10_000_000, 100_000_000],
        help="order counts (1000000 10000000 100000000); from 50000000 on with "
        "DUCKDB_MEMORY_LIMIT=14GB DBT_THREADS=1 unless the environment sets them",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/nps-bench"),
        help="scratch folder for data and warehouse files (%(default)s)",
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
        help="refresh each size's raw store twice in full and compare every table's checksum "
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
    """measure full build and incremental refresh at 1M/10M/100M orders

    Generate, load and build the warehouse at several sizes; print full dbt build and
    incremental refresh wall time and peak memory with their ratios and where the time goes, and
    check that two full builds of the same data give identical tables. Takes about 70 minutes
    for the default sizes (100M orders alone about an hour); run it on an otherwise idle machine."""
    # `kill <pid>` of the benchmark stops the command it is measuring as well (see _measure).
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    if args.clv_customers:
        return bench_clv(args.clv_customers)
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DBT_PROFILES_DIR": str(REPO / "profiles"), "DBT_PROJECT_DIR": str(REPO)}
    started = time.perf_counter()
    if args.engines:
        engines_up = [str(REPO / "scripts" / "engines-up")]
        subprocess.run(engines_up, env={**env, "POSTGRES_DB": "nps_bench"}, check=True)
    results = [
        bench_size(orders, args.work, env, args.engines, args.second_build) for orders in args.sizes
    ]
    largest = results[-1]
    print(f"\nmachine: {os.cpu_count()} cores, {platform.platform()}")
    print(table(results))
    print(f"where the time goes at {largest.orders:,} orders:")
    print(f"- full refresh steps (s): {_steps(largest.full_record)}")
    print("- " + describe("its dbt build", largest.full_profile))
    print(f"- first one-day refresh steps (s): {_steps(largest.first_incremental_record)}")
    print(f"- one-day refresh steps (s): {_steps(largest.incremental_record)}")
    print("- " + describe("its dbt build", largest.incremental_profile))
    for small, large in zip(results, results[1:], strict=False):
        print(
            f"one-day refresh at {large.orders:,} vs {small.orders:,} orders of history: "
            f"{large.incremental.seconds / small.incremental.seconds:.2f}x"
        )
    figures = args.work / "results.json"
    figures.write_text(json.dumps([asdict(result) for result in results], indent=2))
    for result in results:
        if result.engines:
            print(f"engines at {result.orders:,} orders (every mart equal on every engine):")
            print(engine_table(result))
            for engine, record in result.engines.items():
                print("- " + describe(f"{engine} full build", record["full_profile"]))
                print("- " + describe(f"{engine} incremental build", record["incremental_profile"]))
    for result in results:
        if result.compared_tables is not None:
            print(
                f"two full refreshes at {result.orders:,} orders: "
                + same_builds(result.compared_tables, result.differing_tables)
            )
    print(f"done in {time.perf_counter() - started:.0f} s; figures in {figures}")
    return 1 if any(result.differing_tables for result in results) else 0
