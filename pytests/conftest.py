"""Shared fixtures: the warehouse that `dbt build` wrote, opened read-only; dbt on a copy of it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]

# pytest-xdist's workers run under a __main__ module without __spec__ or __file__, which
# PySpark (imported by Great Expectations whenever it is installed) takes for a doctest run
# and exits. Name the file, as any script's __main__ has one.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "pytest-xdist-worker"


def warehouse_path() -> Path:
    path = Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb"))
    return path if path.is_absolute() else REPO / path


def run_dbt(warehouse: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real dbt of this environment, run from the repository on the DuckDB file
    `warehouse` (a test's copy of the built warehouse, or a scratch file)."""
    env = {**os.environ, "DUCKDB_PATH": str(warehouse), "DBT_PROFILES_DIR": str(REPO / "profiles")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    path = warehouse_path()
    if not path.exists():
        pytest.fail(f"{path} does not exist: build the warehouse first (`make build`)")
    connection = duckdb.connect(str(path), read_only=True)
    yield connection
    connection.close()
