"""Shared fixtures: the warehouse that `dbt build` wrote, opened read-only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]


def warehouse_path() -> Path:
    path = Path(os.environ.get("DUCKDB_PATH", "warehouse/dev.duckdb"))
    return path if path.is_absolute() else REPO / path


@pytest.fixture(scope="session")
def warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    path = warehouse_path()
    if not path.exists():
        pytest.fail(f"{path} does not exist: build the warehouse first (`make build`)")
    connection = duckdb.connect(str(path), read_only=True)
    yield connection
    connection.close()
