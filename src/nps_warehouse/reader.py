"""A tiny reader for BI-style access to the serving file (README, "Connecting a BI tool").

It holds one read-only connection and, before each query, checks whether a refresh has renamed
a new file into place (a new inode behind the path); if so it reopens. A query thus always sees
one complete build, and readers never take a lock a refresh would wait for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd


class ServingReader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._inode: int | None = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        inode = os.stat(self.path).st_ino
        if self._connection is None or inode != self._inode:
            self.close()
            self._connection = duckdb.connect(str(self.path), read_only=True)
            # The file may have been replaced between stat and connect: remember what we opened.
            self._inode = inode if os.stat(self.path).st_ino == inode else None
        return self._connection

    def query(self, sql: str, parameters: list[Any] | None = None) -> pd.DataFrame:
        """Run one query on the current serving file and return its rows."""
        return self._connect().execute(sql, parameters or []).df()

    def snapshot(self) -> duckdb.DuckDBPyConnection:
        """The connection to the current serving file: several queries on it see one build."""
        return self._connect()

    def build_id(self) -> str:
        return str(self.query("select build_id from marts.build_info")["build_id"].iloc[0])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._inode = None

    def __enter__(self) -> ServingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
