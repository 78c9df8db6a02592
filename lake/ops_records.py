"""Operations records in the lake: one Parquet file per failed run (`ops/run_failures/<run_id>.parquet`).

One file per run keeps each write atomic and idempotent (a sensor that sees the same failure twice
rewrites the same file) and never needs a writer lock; the catalog lists the files when it publishes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

import polars as pl

from contracts.tables import OPS_RUN_FAILURES
from lake.store import Lake, write_parquet_atomic

_SAFE_RUN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_ERROR_CHARS = 4000


def run_failure_path(lake: Lake, run_id: str) -> PurePath:
    if not _SAFE_RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} is not a Dagster run id")
    return lake.table_dir(OPS_RUN_FAILURES.layer, OPS_RUN_FAILURES.name) / f"{run_id}.parquet"


def record_run_failure(
    lake: Lake,
    *,
    run_id: str,
    job_name: str,
    release: str | None,
    failed_steps: list[str],
    error: str,
    failed_at: datetime,
) -> PurePath:
    row: dict[str, Any] = {
        "run_id": run_id,
        "job_name": job_name,
        "release": release,
        "failed_steps": ", ".join(failed_steps),
        "error": error[:MAX_ERROR_CHARS],
        "failed_at": failed_at.astimezone(UTC),
        "recorded_at": datetime.now(UTC),
    }
    frame = pl.DataFrame([row], schema=dict(OPS_RUN_FAILURES.schema))
    return write_parquet_atomic(frame, run_failure_path(lake, run_id), lake.storage).path


def read_run_failures(lake: Lake) -> pl.DataFrame:
    files = lake.table_files(OPS_RUN_FAILURES.layer, OPS_RUN_FAILURES.name)
    if not files:
        return pl.DataFrame(schema=dict(OPS_RUN_FAILURES.schema))
    return pl.concat([lake.read_file(f) for f in files]).sort("failed_at")
