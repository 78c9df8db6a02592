"""Writing a version file: a frame written whole to a hidden temporary and installed by rename, or pages of rows
streamed into one file and installed on commit; either way with the content hash of its rows (and any other
metadata) in the Parquet footer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from lake.integrity import CONTENT_HASH_KEY, content_hash
from lake.object_store import LakeStorage, LocalStorage


@dataclass(frozen=True)
class WrittenTable:
    path: PurePath
    rows: int
    bytes: int


def write_parquet_atomic(
    frame: pl.DataFrame,
    target: PurePath,
    storage: LakeStorage | None = None,
    *,
    row_group_size: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> WrittenTable:
    """`metadata`: extra footer key-value pairs (e.g. what the rows were computed from); the content hash is
    always this frame's, so a caller cannot record one that does not match the rows."""
    if metadata and CONTENT_HASH_KEY in metadata:
        raise ValueError(f"{CONTENT_HASH_KEY} is computed from the frame written, not given")
    storage = storage or LocalStorage(Path(target).parent)
    temp_path = storage.staging_file(target)
    try:
        # Statistics on, zstd: small files and fast predicate push-down for the analysts' views.
        frame.write_parquet(
            temp_path,
            compression="zstd",
            statistics=True,
            row_group_size=row_group_size,
            metadata={**(metadata or {}), CONTENT_HASH_KEY: content_hash(frame)},
        )
        size = storage.install(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return WrittenTable(path=target, rows=frame.height, bytes=size)


class ParquetPartitionSink:
    """Streams chunks of rows into one partition file and publishes it atomically on `commit()`.

    Memory stays at one chunk whatever the table's size. `reset()` drops everything written so far
    (the GDC client calls it when a search starts over); nothing is visible until `commit()`.
    Implements the GDC client's `HitSink` protocol, with `build` turning a page of hits into rows.
    """

    def __init__(
        self,
        target: PurePath,
        schema: dict[str, pl.DataType],
        build: Callable[[list[Any]], pl.DataFrame],
        storage: LakeStorage | None = None,
        dictionary_columns: list[str] | None = None,
    ) -> None:
        """`dictionary_columns`: dictionary-encode only these (default: every column). Columns whose values are
        unique within a chunk (e.g. gene ids of one expression file) only cost time and bytes in a dictionary."""
        self.dictionary_columns = dictionary_columns
        self.target = target
        self.storage = storage or LocalStorage(Path(target).parent)
        self.schema = schema
        self.build = build
        self.arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._temp: Path | None = None
        self._digest = self._new_digest()

    def _new_digest(self) -> Any:
        """The content hash of the whole table, fed chunk by chunk: the same digest `content_hash` gives the rows
        read back (schema once, then every row's hash), so a read can verify the file."""
        digest = hashlib.sha256(f"polars-{pl.__version__}".encode())
        digest.update(repr(pl.DataFrame(schema=self.schema).drop("release", strict=False).schema).encode())
        return digest

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._temp = self.storage.staging_file(self.target)
            # Decimals of up to 18 digits as 64-bit integers (exact, and they compress like integers).
            self._writer = pq.ParquetWriter(
                self._temp,
                self.arrow_schema,
                compression="zstd",
                store_decimal_as_integer=True,
                use_dictionary=self.dictionary_columns if self.dictionary_columns is not None else True,
            )
        return self._writer

    def reset(self) -> None:
        self.abort()
        self.rows = 0
        self._digest = self._new_digest()

    def add(self, hits: list[Any]) -> None:
        frame = self.build(hits)
        if frame.height == 0:
            return
        frame = frame.select(list(self.schema)).cast(self.schema)  # type: ignore[arg-type]
        self._open().write_table(frame.to_arrow().cast(self.arrow_schema))
        self._digest.update(frame.drop("release", strict=False).hash_rows(seed=0).to_numpy().tobytes())
        self.rows += frame.height

    def commit(self, metadata: Mapping[str, str] | None = None) -> WrittenTable:
        """`metadata`: extra footer key-value pairs (e.g. what the rows were built from), as in write_parquet_atomic."""
        if metadata and CONTENT_HASH_KEY in metadata:
            raise ValueError(f"{CONTENT_HASH_KEY} is computed from the rows written, not given")
        writer = self._open()  # an empty result still publishes a valid, empty table
        writer.add_key_value_metadata({**(metadata or {}), CONTENT_HASH_KEY: self._digest.hexdigest()})
        writer.close()
        self._writer = None
        assert self._temp is not None
        temp, self._temp = self._temp, None
        size = self.storage.install(temp, self.target)
        return WrittenTable(path=self.target, rows=self.rows, bytes=size)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
