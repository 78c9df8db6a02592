"""Raw layer: GDC documents of one data release, kept losslessly, as Parquet.

Each asset asks the GDC API (live or the stand-in) for one entity, checks that the release GDC serves
is the partition being built, and writes the documents with their key columns atomically.
"""

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

import transforms.raw_tables
from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource
from assets.specs import GDC_POOL, GDC_RETRY_POLICY, OWNERS, table_asset_args
from contracts.panels import MGMT_STP27_PROBES
from contracts.schemas import RAW_MGMT_PROBE_BETAS_SCHEMA
from contracts.tables import (
    RAW_CASES,
    RAW_CNV_OCCURRENCES,
    RAW_METHYLATION_FILES,
    RAW_MGMT_PROBE_BETAS,
    RAW_SSM_OCCURRENCES,
    TableSpec,
)
from gdc.client import ArchiveFile, GdcClient, GdcError, SearchResult
from gdc.errors import is_transient
from gdc.queries import (
    CASE_EXPAND,
    CASE_FIELDS,
    CNV_OCCURRENCE_FIELDS,
    METHYLATION_FILE_FIELDS,
    SSM_OCCURRENCE_FIELDS,
    case_filters,
    cnv_occurrence_filters,
    methylation_file_filters,
    ssm_occurrence_filters,
)
from lake.store import WrittenTable
from transforms.raw_tables import (
    extract_probe_betas,
    mgmt_probe_rows,
    raw_cases_table,
    raw_cnv_occurrences_table,
    raw_methylation_files_table,
    raw_ssm_occurrences_table,
)

RAW = "raw"
# The code that shapes raw tables: a change to it is a new code version of every raw asset.
_RAW_CODE = (transforms.raw_tables, sys.modules[__name__])


def _search_metadata(result: SearchResult, written: WrittenTable, started: float) -> dict[str, Any]:
    elapsed = time.monotonic() - started
    return {
        "dagster/row_count": written.rows,
        "rows": written.rows,
        "bytes": written.bytes,
        "pages": result.pages,
        "gdc_total": result.total,
        "retries": result.retries,
        "gdc_release": result.release,
        "duration_seconds": round(elapsed, 3),
        "rows_per_second": round(written.rows / elapsed, 1) if elapsed > 0 else None,
        "path": MetadataValue.path(str(written.path)),
    }


def _ingest_search(
    context: AssetExecutionContext,
    gdc: GdcApiResource,
    lake: LakeResource,
    *,
    table: TableSpec,
    endpoint: str,
    filters: dict[str, Any],
    sort: str,
    build: Callable[[list[dict[str, Any]], str], pl.DataFrame],
    fields: Sequence[str] | None = None,
    expand: Sequence[str] | None = None,
) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    client = gdc.client(logger=context.log)
    # Pages stream into the partition file as they arrive (memory stays at one page); the file is
    # published only once the search is complete and consistent.
    sink = lake.lake.sink(table.layer, table.name, release, dict(table.schema), lambda hits: build(hits, release))
    with gdc_failures(f"{endpoint} for release {release}"):
        try:
            result = client.search_all(
                endpoint,
                filters=filters,
                fields=list(fields) if fields else None,
                expand=list(expand) if expand else None,
                sort=sort,
                expected_release=release,
                sink=sink,
            )
            _require_release(release, result.release, endpoint)
            if sink.rows != result.total:
                # The client reconciles ids with `pagination.total`; this guards the table builders.
                raise Failure(
                    f"{endpoint} for release {release}: GDC reported total={result.total} but {sink.rows} rows "
                    "were built; nothing was written"
                )
            written = sink.commit()
        except BaseException:
            sink.abort()
            raise
    context.log.info(f"{table.path} release {release}: {written.rows} rows, {written.bytes} bytes -> {written.path}")
    return MaterializeResult(metadata=_search_metadata(result, written, started))


def _as_failure(error: GdcError, what: str) -> Failure:
    transient = is_transient(error)
    return Failure(
        description=f"{what}: {error}" + ("" if transient else " (not transient: the step is not retried)"),
        metadata={"error_class": type(error).__name__, "transient": transient},
        allow_retries=transient,
    )


@contextlib.contextmanager
def gdc_failures(what: str) -> Iterator[None]:
    """The one mapping every raw asset uses: a GdcError becomes a Dagster Failure that the step's retry policy
    retries only when the error is transient (gdc.errors.is_transient); a 4xx, the API's own 500 or a
    malformed answer fails the run at once."""
    try:
        yield
    except GdcError as error:
        raise _as_failure(error, what) from error


def _require_release(partition: str, served: str, what: str) -> None:
    if served != partition:
        raise Failure(
            f"{what}: GDC serves data release {served}, but partition {partition} was requested. "
            "GDC only serves its current release; raw data of a past release cannot be fetched again "
            "(already written partitions are kept).",
            allow_retries=False,
        )


@asset(
    key=["gdc_release"],
    partitions_def=gdc_releases,
    group_name="raw",
    kinds={"python"},
    owners=OWNERS["raw"],
    tags={"layer": "raw"},
    retry_policy=GDC_RETRY_POLICY,
    pool=GDC_POOL,
    description="The GDC data release this partition is built from (`/status`), checked before any fetch.",
)
def gdc_release(context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource) -> MaterializeResult:
    with gdc_failures("/status"):
        status = gdc.client(logger=context.log).status()
    _require_release(context.partition_key, status.data_release_label, "/status")
    path = lake.lake.partition_dir(RAW, "gdc_release", context.partition_key) / "status.json"
    lake.lake.write_object(json.dumps(status.raw, indent=2, sort_keys=True).encode(), path)
    return MaterializeResult(
        metadata={
            "data_release": status.raw.get("data_release"),
            "api_tag": status.raw.get("tag"),
            "commit": status.raw.get("commit"),
            "path": MetadataValue.path(str(path)),
        }
    )


@asset(**table_asset_args(RAW_CASES, deps=[gdc_release], code=_RAW_CODE, gdc_facing=True))
def raw_gdc_cases(
    context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource, gene_panels: GenePanelResource
) -> MaterializeResult:
    return _ingest_search(
        context,
        gdc,
        lake,
        table=RAW_CASES,
        endpoint="cases",
        filters=case_filters(gene_panels.projects),
        sort="case_id:asc",
        fields=CASE_FIELDS,
        expand=CASE_EXPAND,
        build=raw_cases_table,
    )


@asset(**table_asset_args(RAW_SSM_OCCURRENCES, deps=[gdc_release], code=_RAW_CODE, gdc_facing=True))
def raw_gdc_ssm_occurrences(
    context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource, gene_panels: GenePanelResource
) -> MaterializeResult:
    genes = gene_panels.ssm_genes
    return _ingest_search(
        context,
        gdc,
        lake,
        table=RAW_SSM_OCCURRENCES,
        endpoint="ssm_occurrences",
        filters=ssm_occurrence_filters(gene_panels.projects, genes),
        sort="ssm_occurrence_id:asc",
        fields=SSM_OCCURRENCE_FIELDS,
        build=lambda hits, release: raw_ssm_occurrences_table(hits, release, genes),
    )


@asset(**table_asset_args(RAW_CNV_OCCURRENCES, deps=[gdc_release], code=_RAW_CODE, gdc_facing=True))
def raw_gdc_cnv_occurrences(
    context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource, gene_panels: GenePanelResource
) -> MaterializeResult:
    genes = gene_panels.cnv_genes
    return _ingest_search(
        context,
        gdc,
        lake,
        table=RAW_CNV_OCCURRENCES,
        endpoint="cnv_occurrences",
        filters=cnv_occurrence_filters(gene_panels.projects, genes),
        sort="cnv_occurrence_id:asc",
        fields=CNV_OCCURRENCE_FIELDS,
        build=lambda hits, release: raw_cnv_occurrences_table(hits, release, genes),
    )


@asset(**table_asset_args(RAW_METHYLATION_FILES, deps=[gdc_release], code=_RAW_CODE, gdc_facing=True))
def raw_gdc_methylation_files(
    context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource, gene_panels: GenePanelResource
) -> MaterializeResult:
    return _ingest_search(
        context,
        gdc,
        lake,
        table=RAW_METHYLATION_FILES,
        endpoint="files",
        filters=methylation_file_filters(gene_panels.projects),
        sort="file_id:asc",
        fields=METHYLATION_FILE_FIELDS,
        build=raw_methylation_files_table,
    )


def _previous_extractions(lake: LakeResource, release: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(file_id, md5) -> probe rows already extracted in an earlier release: such files are not fetched again."""
    earlier = [r for r in lake.lake.releases(RAW_MGMT_PROBE_BETAS.layer, RAW_MGMT_PROBE_BETAS.name) if r != release]
    if not earlier:
        return {}
    frame = pl.concat([lake.lake.read_table(RAW_MGMT_PROBE_BETAS, r) for r in earlier], how="diagonal_relaxed")
    frame = frame.unique(subset=["file_id", "md5sum", "probe_id"], keep="last", maintain_order=True)
    reused: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        reused.setdefault((row["file_id"], row["md5sum"]), []).append(row)
    return reused


@asset(**table_asset_args(RAW_MGMT_PROBE_BETAS, deps=[raw_gdc_methylation_files], code=_RAW_CODE, gdc_facing=True))
def raw_mgmt_probe_betas(context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    files = lake.lake.read_table(RAW_METHYLATION_FILES, release)
    reusable = _previous_extractions(lake, release)
    # requests.Session is not guaranteed thread-safe: one client per download thread.
    per_thread = threading.local()
    clients: list[GdcClient] = []

    def thread_client() -> GdcClient:
        if not hasattr(per_thread, "client"):
            per_thread.client = gdc.client(logger=context.log)
            clients.append(per_thread.client)
        return per_thread.client

    to_fetch = [row for row in files.iter_rows(named=True) if (row["file_id"], row["md5sum"]) not in reusable]
    rows: list[dict[str, Any]] = []
    reused_files = 0
    for row in files.iter_rows(named=True):
        previous = reusable.get((row["file_id"], row["md5sum"]))
        if previous is not None:
            reused_files += 1
            rows.extend({**prior, "release": release} for prior in previous)

    def fetch_one(file_row: Mapping[str, Any]) -> list[dict[str, Any]]:
        # Large files (real 450k arrays are ~12 MB) stream line by line; only the MGMT probes are kept.
        lines = thread_client().iter_file_lines(file_row["file_id"], md5=file_row["md5sum"], size=file_row["file_size"])
        betas = extract_probe_betas(lines, MGMT_STP27_PROBES, file_id=file_row["file_id"])
        return mgmt_probe_rows(file_row, betas, release)

    def fetch_archive(batch: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        by_id = {row["file_id"]: row for row in batch}
        wanted = [ArchiveFile(row["file_id"], row["md5sum"], row["file_size"]) for row in batch]
        out: list[dict[str, Any]] = []
        for file_id, content in thread_client().iter_archive_files(wanted):
            betas = extract_probe_betas(content.splitlines(), MGMT_STP27_PROBES, file_id=file_id)
            out.extend(mgmt_probe_rows(by_id[file_id], betas, release))
        return out

    small_limit = gdc.archive_file_max_bytes if gdc.archive_batch_files > 1 else -1
    small = [row for row in to_fetch if row["file_size"] is not None and row["file_size"] <= small_limit]
    large = [row for row in to_fetch if not (row["file_size"] is not None and row["file_size"] <= small_limit)]
    batches = [small[i : i + gdc.archive_batch_files] for i in range(0, len(small), max(1, gdc.archive_batch_files))]
    fetched_bytes = sum(int(row["file_size"] or 0) for row in to_fetch)
    context.log.info(
        f"methylation files for release {release}: {files.height} listed, {reused_files} already extracted "
        f"in an earlier release, {len(to_fetch)} to fetch ({fetched_bytes / 1e6:.1f} MB): "
        f"{len(small)} small ones in {len(batches)} archives, {len(large)} streamed one by one"
    )
    done = 0
    with (
        gdc_failures(f"methylation files of release {release}"),
        ThreadPoolExecutor(max_workers=max(1, gdc.download_workers)) as pool,
    ):
        jobs = [pool.submit(fetch_archive, batch) for batch in batches] + [pool.submit(fetch_one, row) for row in large]
        try:
            for job in jobs:
                rows.extend(job.result())
                done += 1
                if done % 50 == 0:
                    context.log.info(f"fetched {done}/{len(jobs)} methylation downloads")
        except BaseException:
            # Fail now: the downloads not yet started would only delay the failure.
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    frame = pl.DataFrame(rows, schema=RAW_MGMT_PROBE_BETAS_SCHEMA).sort(["file_id", "probe_id"])
    written = lake.lake.write_table(RAW_MGMT_PROBE_BETAS, frame, release)
    elapsed = time.monotonic() - started
    return MaterializeResult(
        metadata={
            "dagster/row_count": written.rows,
            "rows": written.rows,
            "bytes": written.bytes,
            "files_listed": files.height,
            "files_downloaded": len(to_fetch),
            "archive_requests": len(batches),
            "files_reused_from_earlier_release": reused_files,
            "bytes_downloaded": fetched_bytes,
            "retries": sum(client.stats.retries for client in clients),
            "duration_seconds": round(elapsed, 3),
            "path": MetadataValue.path(str(written.path)),
        }
    )


RAW_ASSETS = [
    gdc_release,
    raw_gdc_cases,
    raw_gdc_ssm_occurrences,
    raw_gdc_cnv_occurrences,
    raw_gdc_methylation_files,
    raw_mgmt_probe_betas,
]
