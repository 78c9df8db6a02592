"""The Parquet lake: where each table of each release lives, and how it is written.

Layout: `<data_dir>/lake/<layer>/<table>/release=<label>/part-0.parquet`. A write goes to a hidden
temporary file in the same directory and is renamed into place (`os.replace` is atomic on POSIX), so a
reader sees the old file or the new one, never half of one; writing the same frame twice gives the
same table (idempotent).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

PART_FILE = "part-0.parquet"
# Parquet key-value metadata: a hash of the rows without the `release` column, so a table whose content
# did not change between releases is recognised from its footer and the work on it is not redone.
CONTENT_HASH_KEY = "glioma.content_hash"


def content_hash_update(digest: Any, frame: pl.DataFrame) -> None:
    """Feed a frame's content (columns, types and row hashes; not `release`) into `digest`."""
    content = frame.drop("release", strict=False)
    digest.update(repr(content.schema).encode())
    if content.height:
        digest.update(content.hash_rows(seed=0).to_numpy().tobytes())


def content_hash(frame: pl.DataFrame) -> str:
    digest = hashlib.sha256(f"polars-{pl.__version__}".encode())
    content_hash_update(digest, frame)
    return digest.hexdigest()
_RELEASE_DIR = re.compile(r"^release=(?P<label>.+)$")


@dataclass(frozen=True)
class WrittenTable:
    path: Path
    rows: int
    bytes: int


def release_sort_key(label: str) -> tuple:
    """Order release labels numerically (`9.0` < `10.1` < `45.0`); odd labels like `27.0-fix` sort after."""
    numbers = re.findall(r"\d+", label)
    return tuple(int(n) for n in numbers) + (label,)


class Lake:
    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir).resolve()
        self.root = self.data_dir / "lake"

    def table_dir(self, layer: str, table: str) -> Path:
        return self.root / layer / table

    def partition_dir(self, layer: str, table: str, release: str) -> Path:
        return self.table_dir(layer, table) / f"release={release}"

    def table_path(self, layer: str, table: str, release: str) -> Path:
        return self.partition_dir(layer, table, release) / PART_FILE

    def exists(self, layer: str, table: str, release: str) -> bool:
        return self.table_path(layer, table, release).exists()

    def write(self, frame: pl.DataFrame, layer: str, table: str, release: str) -> WrittenTable:
        target = self.table_path(layer, table, release)
        return write_parquet_atomic(frame, target)

    def sink(
        self, layer: str, table: str, release: str, schema: dict[str, pl.DataType],
        build: Callable[[list[Any]], pl.DataFrame],
    ) -> "ParquetPartitionSink":
        return ParquetPartitionSink(self.table_path(layer, table, release), schema, build)

    # Table-declaration forms (warehouse.tables.TableSpec, or anything with `layer` and `name`).
    def read_table(self, table: Any, release: str) -> pl.DataFrame:
        return self.read(table.layer, table.name, release)

    def write_table(self, table: Any, frame: pl.DataFrame, release: str) -> WrittenTable:
        missing = [column for column in table.schema if column not in frame.columns]
        if missing:
            raise ValueError(f"{table.layer}/{table.name} release {release}: declared columns missing: {missing}")
        return self.write(frame.select(list(table.schema)), table.layer, table.name, release)

    def read(self, layer: str, table: str, release: str) -> pl.DataFrame:
        path = self.table_path(layer, table, release)
        if not path.exists():
            raise FileNotFoundError(
                f"{layer}/{table} has no data for release {release}: {path} does not exist "
                "(materialise that asset for this release first)"
            )
        return pl.read_parquet(path)

    def content_hash(self, layer: str, table: str, release: str) -> str | None:
        """The content hash recorded in the partition's footer (None for files written before hashing)."""
        metadata = pq.read_metadata(self.table_path(layer, table, release)).metadata or {}
        value = metadata.get(CONTENT_HASH_KEY.encode())
        return value.decode() if value else None

    def row_count(self, layer: str, table: str, release: str) -> int:
        """Rows of a partition from the Parquet footer, without reading the data."""
        return pq.read_metadata(self.table_path(layer, table, release)).num_rows

    def releases(self, layer: str, table: str) -> list[str]:
        """Release labels with a written partition of this table, oldest first."""
        table_dir = self.table_dir(layer, table)
        if not table_dir.exists():
            return []
        labels = []
        for child in table_dir.iterdir():
            match = _RELEASE_DIR.match(child.name)
            if match and (child / PART_FILE).exists():
                labels.append(match["label"])
        return sorted(labels, key=release_sort_key)

    def previous_release(self, layer: str, table: str, release: str) -> str | None:
        earlier = [r for r in self.releases(layer, table) if release_sort_key(r) < release_sort_key(release)]
        return earlier[-1] if earlier else None

    def glob(self, layer: str, table: str) -> str:
        """A DuckDB/polars glob over every release of the table (hive-style `release=` directories)."""
        return str(self.table_dir(layer, table) / "release=*" / PART_FILE)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp(\.wal)?$")


def temporary_file(target: Path) -> Path:
    """A hidden temporary beside `target` named with this process's pid (`.<name>.<pid>.<random>.tmp`),
    so a later writer can tell the leftovers of a killed process from a write in progress."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    os.chmod(temp_name, 0o644)  # mkstemp makes 0600; published files are for every reader
    return Path(temp_name)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete temporaries of `target` (and their DuckDB WAL) whose writing process is gone (kill -9, OOM)."""
    removed = []
    for candidate in target.parent.glob(f".{target.name}.*.tmp*"):
        match = _TEMPORARY.match(candidate.name)
        if match is None or match["name"] != target.name:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or process_alive(pid):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


def write_parquet_atomic(frame: pl.DataFrame, target: Path) -> WrittenTable:
    temp_path = temporary_file(target)
    try:
        # Statistics on, zstd: small files and fast predicate push-down for the analysts' views.
        frame.write_parquet(temp_path, compression="zstd", statistics=True,
                            metadata={CONTENT_HASH_KEY: content_hash(frame)})
        size = temp_path.stat().st_size
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return WrittenTable(path=target, rows=frame.height, bytes=size)


def write_bytes_atomic(data: bytes, target: Path) -> Path:
    temp_name = str(temporary_file(target))
    try:
        with open(temp_name, "wb") as out:
            out.write(data)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


class ParquetPartitionSink:
    """Streams chunks of rows into one partition file and publishes it atomically on `commit()`.

    Memory stays at one chunk whatever the table's size. `reset()` drops everything written so far
    (the GDC client calls it when a search starts over); nothing is visible until `commit()`.
    Implements the GDC client's `HitSink` protocol, with `build` turning a page of hits into rows.
    """

    def __init__(
        self,
        target: Path,
        schema: dict[str, pl.DataType],
        build: Callable[[list[Any]], pl.DataFrame],
    ) -> None:
        self.target = target
        self.schema = schema
        self.build = build
        self.arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._temp: Path | None = None
        self._digest = hashlib.sha256(f"polars-{pl.__version__}".encode())

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._temp = temporary_file(self.target)
            self._writer = pq.ParquetWriter(self._temp, self.arrow_schema, compression="zstd")
        return self._writer

    def reset(self) -> None:
        self.abort()
        self.rows = 0
        self._digest = hashlib.sha256(f"polars-{pl.__version__}".encode())

    def add(self, hits: list[Any]) -> None:
        frame = self.build(hits)
        if frame.height == 0:
            return
        frame = frame.select(list(self.schema))
        self._open().write_table(frame.to_arrow().cast(self.arrow_schema))
        content_hash_update(self._digest, frame)
        self.rows += frame.height

    def commit(self) -> WrittenTable:
        writer = self._open()  # an empty result still publishes a valid, empty table
        writer.add_key_value_metadata({CONTENT_HASH_KEY: self._digest.hexdigest()})
        writer.close()
        self._writer = None
        assert self._temp is not None
        size = self._temp.stat().st_size
        os.replace(self._temp, self.target)
        self._temp = None
        return WrittenTable(path=self.target, rows=self.rows, bytes=size)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
