"""Validation results kept on disk: the per-release results the catalog shows (`quality.check_results`)
and a cache by table content, so a table identical to one already validated (same content hash, same
suites, same previous row count) is not validated again: GX costs ~0.5 s per table, the check seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from quality.runner import QualityReport
from quality.tables import row_count_bounds

CHECK_NAME = "great_expectations"


@functools.cache
def _suites_fingerprint() -> str:
    import quality.expectations
    import quality.harmonised_suites
    import quality.raw_suites
    import quality.suites
    import quality.tables

    digest = hashlib.sha256()
    # Every module the suites are built from: an edit to any invalidates the cached reports.
    for module in (quality.suites, quality.raw_suites, quality.harmonised_suites, quality.expectations, quality.tables):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:12]


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(payload, out, indent=1, default=str)
    os.replace(temp, path)


def cache_path(cache_dir: Path, table: str, content_hash: str) -> Path:
    return Path(cache_dir) / table.replace("/", ".") / f"{content_hash[:32]}-{_suites_fingerprint()}.json"


def _row_count_dependent(report: dict[str, Any]) -> bool:
    return any("row_count" in str(row.get("expectation_type", "")) for row in report.get("warning_failures", []))


def cached_report(
    cache_dir: Path, table: str, release: str, content_hash: str | None, previous_row_count: int | None
) -> QualityReport | None:
    """The report of an earlier validation of identical content, re-labelled for `release`.

    Every expectation depends only on the rows, except the row-count change against the previous
    release: the cached report is reused when that comparison is the same (same previous row count),
    or when this release repeats the previous one (no change in rows at all) and the cached report did
    not fail on it."""
    if content_hash is None:
        return None
    path = cache_path(cache_dir, table, content_hash)
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    same_comparison = stored.get("previous_row_count") == previous_row_count
    unchanged_rows = previous_row_count == stored.get("row_count") and not _row_count_dependent(stored)
    if not (same_comparison or unchanged_rows):
        return None
    stored["previous_row_count"] = previous_row_count
    stored["row_count_bounds"] = row_count_bounds(previous_row_count) if previous_row_count is not None else None
    fields = {f.name for f in dataclasses.fields(QualityReport)}
    values = {key: value for key, value in stored.items() if key in fields}
    values["row_count_bounds"] = tuple(values["row_count_bounds"]) if values.get("row_count_bounds") else None
    values["data_docs_index"] = Path(values["data_docs_index"]) if values.get("data_docs_index") else None
    values["notes"] = [
        *values.get("notes", []),
        f"not re-validated: content identical to release {stored['release']} (hash {content_hash[:12]}), "
        "whose validation is reused",
    ]
    values["release"] = release
    return QualityReport(**values)


def store_report(cache_dir: Path, report: QualityReport, content_hash: str | None) -> None:
    if content_hash is None:
        return
    _write_json(cache_path(cache_dir, report.table, content_hash), dataclasses.asdict(report))


def write_check_results(reports_dir: Path, report: QualityReport) -> Path:
    """`<reports>/<release>/checks/<table>.json`: one row per expectation, for quality.check_results."""
    path = Path(reports_dir) / "checks" / f"{report.table.replace('/', '.')}.json"
    _write_json(
        path,
        {
            "table": report.table,
            "release": report.release,
            "check": CHECK_NAME,
            "results": [
                {
                    "expectation_type": row.get("expectation_type"),
                    "column": row.get("column"),
                    "severity": row.get("severity"),
                    "success": bool(row.get("success")),
                    "unexpected_count": row.get("unexpected_count"),
                }
                for row in report.results
            ],
        },
    )
    return path
