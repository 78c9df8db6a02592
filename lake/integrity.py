"""Verify what is read: a version file whose Parquet footer cannot be read (truncated, overwritten) or whose rows
no longer hash to the content hash its writer recorded (a bit flip) is corrupt, and the error names the file, the
table and the release instead of pyarrow's "magic bytes not found". `glioma verify` checks every committed file.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Any

import polars as pl
import pyarrow.parquet as pq

CONTENT_HASH_KEY = "glioma.content_hash"
VERIFY_COMMAND = "glioma verify"


class LakeCorruptionError(RuntimeError):
    """A committed or readable version file is damaged; `path`, `table` and `release` say which."""

    def __init__(self, path: PurePath, table: str, release: str, problem: str) -> None:
        super().__init__(
            f"{table} release {release}: {path} is corrupted ({problem}); `{VERIFY_COMMAND}` lists every damaged file"
        )
        self.path, self.table, self.release, self.problem = path, table, release, problem


def content_hash_update(digest: Any, frame: pl.DataFrame) -> None:
    """Feed a frame's content (columns, types and row hashes; not `release`) into `digest`."""
    content = frame.drop("release", strict=False)
    digest.update(repr(content.schema).encode())
    if content.height:
        digest.update(content.hash_rows(seed=0).to_numpy().tobytes())


def content_hash(frame: pl.DataFrame) -> str:
    """Recorded in every version's footer (CONTENT_HASH_KEY): a table whose content did not change between releases is
    recognised from its footer and the work on it is not redone, and a damaged file is recognised on read."""
    digest = hashlib.sha256(f"polars-{pl.__version__}".encode())
    content_hash_update(digest, frame)
    return digest.hexdigest()


def _streamed_hash(source: Any) -> str:
    """The hash a streamed partition written before this version of the lake recorded: schema and rows fed once per
    chunk, and each chunk is one row group of the file."""
    digest = hashlib.sha256(f"polars-{pl.__version__}".encode())
    parquet = pq.ParquetFile(source)
    for group in range(parquet.num_row_groups):
        content_hash_update(digest, pl.from_arrow(parquet.read_row_group(group)))  # type: ignore[arg-type]
    return digest.hexdigest()


def footer_problem(source: Any) -> str | None:
    """Why the file's footer cannot be read, or None when it can."""
    try:
        pq.read_metadata(source)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged footer
        return f"unreadable Parquet footer: {error}"
    return None


def read_verified(source: Any, path: PurePath, table: str, release: str) -> pl.DataFrame:
    """The file's rows, checked against the content hash in its footer (files written before hashing are read
    as they are). The footer is read once: it names the problem of a truncated file and holds the hash."""
    try:
        footer = pq.read_metadata(source).metadata or {}
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged footer
        raise LakeCorruptionError(path, table, release, f"unreadable Parquet footer: {error}") from error
    try:
        frame = pl.read_parquet(source)
    except Exception as error:  # a damaged page: decompression or decoding fails
        raise LakeCorruptionError(path, table, release, f"unreadable data: {error}") from error
    recorded = footer.get(CONTENT_HASH_KEY.encode())
    expected = recorded.decode() if recorded else None
    if expected is not None and content_hash(frame) != expected and _streamed_hash(source) != expected:
        raise LakeCorruptionError(path, table, release, "its rows no longer match the content hash in its footer")
    return frame
