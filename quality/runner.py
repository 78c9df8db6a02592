"""Run a table's Great Expectations suite on a polars frame; the one call the Dagster asset checks make.

    report = validate_table("harmonised/patients", frame, release="45.0", previous_row_count=780,
                            data_docs_dir=data_dir / "reports" / "45.0" / "gx")
    AssetCheckResult(passed=report.success, metadata=report.to_metadata(), ...)

Speed: importing GX costs seconds once per process; after that the GX context, datasource, batch
definitions and suites are built once per process and reused (`_workspace`). Only the columns the
suite reads are converted polars -> pandas (never the big `document` JSON unless the suite parses it).

Memory: `frame` may be a LazyFrame (the asset checks pass a scan of the partition file): only the columns
the suite reads are then materialised. A text column that the suite only checks for nulls (no row
condition, not a row key: e.g. the occurrences' `document`, ~0.7 GB of JSON for 1.35M cnv occurrences)
reaches pandas as its null mask — "" where a value is present, None where it is missing — which is all a
not-null expectation reads (its unexpected values are the nulls), so the results are the same. After each
validation the batches GX caches are dropped (`_release_batches`), so a process that runs every check (a
refresh with Dagster's in-process executor) does not keep a pandas copy of every table it validated.

A failing validation never raises: it returns `success=False`. Misuse raises: an unknown table name
(`UnknownTableError`), a frame missing a column the suite reads (`MissingColumnError`).

Results: each expectation's outcome is turned into a plain JSON-able row, and the rows into the markdown
the Dagster UI shows, by quality.results.

Data Docs: with `data_docs_dir`, the validation runs through a GX Checkpoint with an
`UpdateDataDocsAction` whose site lives in that directory. Validation results are stored as JSON under
`<data_docs_dir>/.validation_results/`, so the site's index lists every table validated into that
directory, also by other processes (Dagster runs each step in its own process).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

# quality.suites imports Great Expectations (seconds): imported inside the functions that validate.
from quality.results import result_row, results_markdown, short_label
from quality.tables import (
    BLOCKING,
    DEFAULT_ROW_COUNT_RELATIVE_BOUND,
    MAX_ROW_COUNT_PARAMETER,
    MIN_ROW_COUNT_PARAMETER,
    RELEASE_PARAMETER,
    ROW_KEY_COLUMNS,
    WARNING,
    UnknownTableError,
    check_table_name,
    row_count_bounds,
    suite_name_for,
)

__all__ = ["MissingColumnError", "QualityReport", "UnknownTableError", "results_markdown", "validate_table"]

# GX collects this many unexpected values / row keys per expectation; we keep the first distinct few.
_PARTIAL_UNEXPECTED_COUNT = 50
_BASIC_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": _PARTIAL_UNEXPECTED_COUNT}
_NO_ROW_COUNT_SUFFIX = ".without_row_count_change"
_DATASOURCE_NAME = "lake"
_DOCS_SITE_NAME = "glioma_lakehouse"
_VALIDATION_RESULTS_SUBDIR = ".validation_results"


class MissingColumnError(KeyError):
    """The frame lacks a column the table's suite reads (a wiring mistake, not a data-quality failure)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class QualityReport:
    table: str
    release: str
    suite_name: str
    success: bool  # every blocking expectation passed
    row_count: int
    # One plain dict per expectation, in suite order: expectation_type, columns, column (joined),
    # row_condition (text or None), parameters, severity, why, success, element_count, unexpected_count,
    # unexpected_percent (of non-null values, as GX counts), unexpected_examples (<= 5 distinct values),
    # unexpected_row_keys (<= 5 {key column: value} of offending rows), observed_value, error (GX's
    # message when the expectation itself raised, e.g. a text column compared with numbers).
    results: list[dict[str, Any]]
    blocking_failures: list[dict[str, Any]]
    warning_failures: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    previous_row_count: int | None = None
    row_count_bounds: tuple[int, int] | None = None
    data_docs_index: Path | None = None
    validation_seconds: float = 0.0

    @property
    def warnings_passed(self) -> bool:
        return not self.warning_failures

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-able values for Dagster check metadata (`results_markdown` is markdown text)."""
        return {
            "table": self.table,
            "release": self.release,
            "suite": self.suite_name,
            "success": self.success,
            "row_count": self.row_count,
            "previous_row_count": self.previous_row_count,
            "row_count_bounds": list(self.row_count_bounds) if self.row_count_bounds else None,
            "expectations_evaluated": len(self.results),
            "expectations_failed": sum(1 for row in self.results if not row["success"]),
            "blocking_failed": len(self.blocking_failures),
            "warnings_failed": len(self.warning_failures),
            "failed_expectations": [short_label(row) for row in self.results if not row["success"]],
            "notes": list(self.notes),
            "results_markdown": results_markdown(self.results, self.notes),
            "data_docs_index": str(self.data_docs_index) if self.data_docs_index else None,
            "validation_seconds": round(self.validation_seconds, 3),
        }


# --- GX workspace: one context per process (plus one per Data Docs directory) ----------------------------

_LOCK = threading.RLock()  # a GX context is not thread-safe; Dagster may run checks in threads


# GX's page views with Jinja templates compiled once per process (quality.docs_views).
_PAGE_VIEW = {"module_name": "quality.docs_views", "class_name": "CompiledOncePageView"}
_INDEX_VIEW = {"module_name": "quality.docs_views", "class_name": "CompiledOnceIndexPageView"}


class _Workspace:
    """A GX context with one pandas datasource, a dataframe asset per table, and the suites, lazily."""

    def __init__(self, docs_dir: Path | None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False),
            analytics_enabled=False,  # no network from checks
        )
        if docs_dir is not None:
            config.stores[config.validation_results_store_name]["store_backend"] = {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir / _VALIDATION_RESULTS_SUBDIR),
            }
            config.data_docs_sites = {
                _DOCS_SITE_NAME: {
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": _INDEX_VIEW},
                    "site_section_builders": {
                        section: {"view": _PAGE_VIEW} for section in ("expectations", "validations", "profiling")
                    },
                }
            }
        self.gx = gx
        self.docs_dir = docs_dir
        self.context = gx.get_context(project_config=config, mode="ephemeral")
        self.datasource = self.context.data_sources.add_pandas(_DATASOURCE_NAME)
        self._batch_definitions: dict[str, Any] = {}
        self._suites: dict[tuple[str, bool], Any] = {}
        self._checkpoints: dict[tuple[str, bool], Any] = {}

    def batch_definition(self, table_name: str) -> Any:
        if table_name not in self._batch_definitions:
            # GX store keys may not contain '/', so the asset is named like the suite (raw.gdc_cases).
            asset = self.datasource.add_dataframe_asset(name=suite_name_for(table_name))
            self._batch_definitions[table_name] = asset.add_batch_definition_whole_dataframe("whole_partition")
        return self._batch_definitions[table_name]

    def suite(self, table_name: str, with_row_count_change: bool) -> Any:
        key = (table_name, with_row_count_change)
        if key not in self._suites:
            from quality.suites import build_suite

            suite = build_suite(table_name, with_row_count_change=with_row_count_change)
            if not with_row_count_change:
                suite.name = suite.name + _NO_ROW_COUNT_SUFFIX
            self._suites[key] = self.context.suites.add(suite)
        return self._suites[key]

    def checkpoint(self, table_name: str, with_row_count_change: bool, result_format: Mapping[str, Any]) -> Any:
        key = (table_name, with_row_count_change)
        if key not in self._checkpoints:
            gx = self.gx
            suite = self.suite(table_name, with_row_count_change)
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=self.batch_definition(table_name), suite=suite)
            )
            self._checkpoints[key] = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{suite.name}.checkpoint",
                    validation_definitions=[definition],
                    actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=[_DOCS_SITE_NAME])],
                    result_format=dict(result_format),
                )
            )
        return self._checkpoints[key]


_WORKSPACES: dict[Path | None, _Workspace] = {}


def _workspace(docs_dir: Path | None) -> _Workspace:
    key = docs_dir.resolve() if docs_dir is not None else None
    if key not in _WORKSPACES:
        if key is not None:
            key.mkdir(parents=True, exist_ok=True)
        _WORKSPACES[key] = _Workspace(key)
    return _WORKSPACES[key]


# --- the public call -----------------------------------------------------------------------------------------


def validate_table(
    table_name: str,
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    release: str,
    previous_row_count: int | None = None,
    data_docs_dir: Path | None = None,
    row_count_relative_bound: float = DEFAULT_ROW_COUNT_RELATIVE_BOUND,
) -> QualityReport:
    """Validate one release partition of a lake table with its GX suite (see module docstring)."""
    try:
        return _validate_table(
            table_name,
            frame,
            release=release,
            previous_row_count=previous_row_count,
            data_docs_dir=data_docs_dir,
            row_count_relative_bound=row_count_relative_bound,
        )
    finally:
        _release_batches()


# A full garbage collection costs ~0.15 s in a process holding Dagster and GX, more than validating a small table:
# it runs once this much validated data (polars' estimate, before the pandas copy) has gone through GX since the
# last one, so at most this much of freed batches waits for Python's own collector.
COLLECT_AFTER_VALIDATED_BYTES = 64 * 2**20
_VALIDATED_BYTES = [0]


def _release_batches() -> None:
    """Drop the batches GX keeps and give the freed heap back to the operating system.

    GX's execution engine keeps the last batch (its pandas frame) of every data asset for the life of the
    process: in a refresh that runs every check in one process that is a pandas copy of each validated table
    (GBs at 100k cases), and the freed Python strings of the conversion stay in the C heap, where polars (its
    own allocator) cannot reuse them. Called once the report is built, when nothing reads the batch any more."""
    with _LOCK:
        for workspace in _WORKSPACES.values():
            for datasource in workspace.context.data_sources.all().values():
                batch_manager = datasource.get_execution_engine().batch_manager
                batch_manager.reset_batch_cache()
                batch_manager.batch_data_cache.clear()
        if _VALIDATED_BYTES[0] >= COLLECT_AFTER_VALIDATED_BYTES:
            _VALIDATED_BYTES[0] = 0
            gc.collect()
            _trim_c_heap()


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


def _trim_c_heap() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _validate_table(
    table_name: str,
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    release: str,
    previous_row_count: int | None,
    data_docs_dir: Path | None,
    row_count_relative_bound: float,
) -> QualityReport:
    started = time.perf_counter()
    frame = _validated_columns(table_name, frame)
    with _LOCK:
        _VALIDATED_BYTES[0] += frame.estimated_size()
    row_count = frame.height
    # pandas holds a nullable integer column as float64; report its values as the integers they are.
    integer_columns = frozenset(name for name, dtype in frame.schema.items() if dtype.is_integer())
    with_row_count_change = previous_row_count is not None
    parameters: dict[str, Any] = {RELEASE_PARAMETER: [release]}
    notes: list[str] = []
    bounds: tuple[int, int] | None = None
    if previous_row_count is not None:
        bounds = row_count_bounds(previous_row_count, row_count_relative_bound)
        parameters[MIN_ROW_COUNT_PARAMETER], parameters[MAX_ROW_COUNT_PARAMETER] = bounds
    else:
        notes.append(
            f"row-count change of {table_name} not checked for release {release}: no previous release to compare with"
        )

    key_columns = [column for column in ROW_KEY_COLUMNS[table_name] if column in frame.columns]
    # One conversion per call, of the columns the suite reads only; the polars copy is not needed after it.
    pandas_frame = frame.to_pandas()
    del frame

    with _LOCK:
        workspace = _workspace(data_docs_dir)
        suite = workspace.suite(table_name, with_row_count_change)
        batch_definition = workspace.batch_definition(table_name)
        batch = None
        docs_index: Path | None = None
        # Pass 1, the whole suite in BASIC format (counts and sample values). GX's SUMMARY format costs
        # 2-3x more on a 100k-row table, so only failed expectations get it, in pass 2.
        if data_docs_dir is None:
            batch = batch_definition.get_batch(batch_parameters={"dataframe": pandas_frame})
            suite_result = batch.validate(suite, result_format=_BASIC_FORMAT, expectation_parameters=parameters)
        else:
            from great_expectations.core.run_identifier import RunIdentifier

            checkpoint = workspace.checkpoint(table_name, with_row_count_change, _BASIC_FORMAT)
            checkpoint_result = checkpoint.run(
                batch_parameters={"dataframe": pandas_frame},
                expectation_parameters=parameters,
                run_id=RunIdentifier(run_name=f"release-{release}"),
            )
            (suite_result,) = checkpoint_result.run_results.values()
            assert workspace.docs_dir is not None
            docs_index = workspace.docs_dir / "index.html"

        # Pass 2: re-run each failed row-level expectation alone to get the offending rows' keys.
        by_id = {expectation.id: expectation for expectation in suite.expectations}
        offending_keys: dict[str, list[Any]] = {}
        detail_format = {**_BASIC_FORMAT, "result_format": "SUMMARY", "unexpected_index_column_names": key_columns}
        for result in suite_result.results:
            expectation = by_id.get(result.expectation_config.id)
            if result.success or expectation is None or "unexpected_count" not in (result.result or {}):
                continue
            if batch is None:  # the checkpoint made its own batch; the detail pass needs one too
                batch = batch_definition.get_batch(batch_parameters={"dataframe": pandas_frame})
            detail = batch.validate(expectation, result_format=detail_format, expectation_parameters=parameters)
            offending_keys[expectation.id] = [
                {key: row.get(key) for key in key_columns} if isinstance(row, Mapping) else row
                for row in (detail.result or {}).get("partial_unexpected_index_list") or []
            ]

    order = {expectation.id: position for position, expectation in enumerate(suite.expectations)}
    ordered = sorted(suite_result.results, key=lambda result: order.get(result.expectation_config.id, len(order)))
    results = [
        result_row(result, offending_keys.get(result.expectation_config.id, []), integer_columns) for result in ordered
    ]
    return QualityReport(
        table=table_name,
        release=release,
        suite_name=suite_result.suite_name,
        success=all(row["success"] for row in results if row["severity"] == BLOCKING),
        row_count=row_count,
        results=results,
        blocking_failures=[row for row in results if row["severity"] == BLOCKING and not row["success"]],
        warning_failures=[row for row in results if row["severity"] == WARNING and not row["success"]],
        notes=notes,
        previous_row_count=previous_row_count,
        row_count_bounds=bounds,
        data_docs_index=docs_index,
        validation_seconds=time.perf_counter() - started,
    )


def _columns_to_validate(table_name: str, names: Sequence[str]) -> list[str]:
    check_table_name(table_name)
    from quality.suites import required_columns

    needed = required_columns(table_name)
    missing = [column for column in needed if column not in names]
    if missing:
        raise MissingColumnError(
            f"table {table_name}: column(s) {', '.join(repr(c) for c in missing)} missing from the frame "
            f"(its suite reads {', '.join(needed)}; the frame has {', '.join(names) or 'no columns'})"
        )
    keys = [column for column in ROW_KEY_COLUMNS[table_name] if column in names]
    return list(dict.fromkeys([*needed, *keys]))


@functools.cache
def _null_checked_only(table_name: str) -> frozenset[str]:
    """Columns the suite reads only through unconditional not-null expectations, row keys excepted."""
    import great_expectations.expectations as gxe

    from quality.suites import build_suite, expectation_columns

    null_only: dict[str, bool] = {}
    for expectation in build_suite(table_name, with_row_count_change=False).expectations:
        plain_not_null = isinstance(expectation, gxe.ExpectColumnValuesToNotBeNull) and not expectation.row_condition
        for column in expectation_columns(expectation):
            null_only[column] = null_only.get(column, True) and plain_not_null
    return frozenset(column for column, only in null_only.items() if only) - set(ROW_KEY_COLUMNS[table_name])


def _validated_columns(table_name: str, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The columns the suite reads (and the row keys) of `frame`, null-checked-only text as its null mask."""
    schema = frame.collect_schema()
    columns = _columns_to_validate(table_name, schema.names())
    masked = _null_checked_only(table_name)
    selection = [
        pl.when(pl.col(column).is_not_null()).then(pl.lit("")).alias(column)
        if column in masked and schema[column] == pl.String
        else pl.col(column)
        for column in columns
    ]
    if isinstance(frame, pl.LazyFrame):
        return frame.select(selection).collect(engine="streaming")
    return frame.select(selection)
