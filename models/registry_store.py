"""The model registry's DuckDB file (`<DATA_DIR>/model_registry.duckdb`): short-lived connections only. (The file
is not named `registry`: DuckDB would take that as the catalog name and confuse it with the `registry` schema.)

DuckDB allows one writing process per file. Training steps of different tasks may run in parallel
processes, so opening the file retries for a while when another process holds it; every connection
is closed as soon as its few statements are done. Analysts read the registry through the catalog
(`registry.models` in warehouse.duckdb), which holds a copy, and never touch this file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from models.registry import ensure_registry

LOCK_WAIT_SECONDS = 120.0


@contextmanager
def registry_connection(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        # Nothing registered yet: an empty registry answers "no champion" instead of failing to open.
        with registry_connection(path) as connection:
            pass
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2 + random.random() * 0.3)  # another process writes the registry: wait briefly
    try:
        if not read_only:
            ensure_registry(connection)
        yield connection
    finally:
        connection.close()
