"""Gene expression (RNA-seq STAR - Counts) of one release: the file documents, every file parsed into raw rows and
per-file QC, and the harmonised (case, sample, gene) table with the samples it uses.

Every rule is in transforms/expression_files.py (parsing) and transforms/expression.py (samples, size factors,
tiles); these assets download, read and write. Memory is bounded whatever the release's size: files stream through
a bounded queue (at most `2 x download_workers` parsed files in memory), and the harmonised table is written a block
of patients at a time.
"""

import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)

import transforms.expression
import transforms.expression_files
from assets.harmonised import _reason_counts
from assets.partitions import gdc_releases
from assets.raw import _RAW_CODE, _ingest_search, gdc_failures, gdc_release
from assets.resources import GdcApiResource, GenePanelResource, LakeResource
from assets.specs import (
    GDC_POOL,
    GDC_RETRY_POLICY,
    asset_key,
    source_version,
    table_asset_args,
    table_asset_spec,
    written_metadata,
)
from contracts.schemas import HARMONISED_EXPRESSION_SCHEMA, RAW_EXPRESSION_COUNTS_SCHEMA, RAW_EXPRESSION_FILE_QC_SCHEMA
from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_REJECTS,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_PATIENTS,
    RAW_EXPRESSION_COUNTS,
    RAW_EXPRESSION_FILE_QC,
    RAW_EXPRESSION_FILES,
)
from gdc.client import ArchiveFile, GdcClient
from gdc.queries import EXPRESSION_FILE_FIELDS, expression_file_filters
from lake.store import Lake, row_groups_by
from transforms.expression import (
    build_expression,
    built_from,
    expression_rejects,
    expression_samples,
    reconcile_expression_files,
)
from transforms.expression_files import ParsedExpressionFile, parse_star_counts, raw_expression_files_table

_THIS = sys.modules[__name__]
_PARSE_CODE = (transforms.expression_files, _THIS)
_HARMONISE_CODE = (transforms.expression, transforms.expression_files, _THIS)


def read_genes(store: Lake, release: str, by: str, genes: Iterable[str]) -> pl.DataFrame:
    """case_id, gene_id, gene_name, log2_normalised_count of the given genes (`by`: "gene_id" or "gene_name") for the
    sample used per patient. The predicate is pushed down to the tiled table, so a few genes do not read the rest."""
    used = store.read_table(HARMONISED_EXPRESSION_SAMPLES, release).filter(pl.col("used")).select("case_id")
    return (
        store.scan(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release)
        .filter(pl.col(by).is_in(list(genes)))
        .select("case_id", "gene_id", "gene_name", "log2_normalised_count")
        .collect()
        .join(used, on="case_id", how="semi")
    )


@asset(**table_asset_args(RAW_EXPRESSION_FILES, deps=[gdc_release], code=_RAW_CODE, gdc_facing=True))
def raw_gdc_expression_files(
    context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource, gene_panels: GenePanelResource
) -> MaterializeResult:
    return _ingest_search(
        context,
        gdc,
        lake,
        table=RAW_EXPRESSION_FILES,
        endpoint="files",
        filters=expression_file_filters(gene_panels.projects),
        sort="file_id:asc",
        fields=EXPRESSION_FILE_FIELDS,
        build=raw_expression_files_table,
    )


def _earlier_parses(lake: Lake, release: str) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(file_id, md5) -> (the newest earlier release that parsed it, its QC row): such files are not fetched again."""
    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for earlier in lake.releases(RAW_EXPRESSION_FILE_QC.layer, RAW_EXPRESSION_FILE_QC.name):
        if earlier == release or not lake.exists(RAW_EXPRESSION_COUNTS.layer, RAW_EXPRESSION_COUNTS.name, earlier):
            continue
        for row in lake.read_table(RAW_EXPRESSION_FILE_QC, earlier).iter_rows(named=True):
            found[(row["file_id"], row["md5sum"])] = (earlier, row)  # releases come oldest first: newest wins
    return found


@multi_asset(
    specs=[
        table_asset_spec(RAW_EXPRESSION_COUNTS, deps=[RAW_EXPRESSION_FILES], code=_PARSE_CODE),
        table_asset_spec(RAW_EXPRESSION_FILE_QC, deps=[RAW_EXPRESSION_FILES], code=_PARSE_CODE),
    ],
    partitions_def=gdc_releases,
    name="parse_expression_files",
    description="Download every expression file not already parsed by an earlier release (md5 checked, resumable), "
    "parse it as GDC writes it; unusable files are recorded with their first problem.",
    retry_policy=GDC_RETRY_POLICY,
    pool=GDC_POOL,
)
def raw_expression_counts(context: AssetExecutionContext, gdc: GdcApiResource, lake: LakeResource):
    release = context.partition_key
    started = time.monotonic()
    files = lake.lake.read_table(RAW_EXPRESSION_FILES, release).drop("document")
    earlier = _earlier_parses(lake.lake, release)
    qc_rows: list[dict[str, Any]] = []
    to_fetch: list[dict[str, Any]] = []
    for row in files.unique("file_id", keep="first", maintain_order=True).iter_rows(named=True):
        previous = earlier.get((row["file_id"], row["md5sum"]))
        if previous is None:
            to_fetch.append(row)
            continue
        # Parsed before: its QC row (with the release that holds its rows) is this release's too; nothing is copied.
        qc_rows.append({**previous[1], "release": release})
    fetched_bytes = sum(int(row["file_size"] or 0) for row in to_fetch)
    context.log.info(
        f"expression files for release {release}: {files.height} listed, {len(qc_rows)} parsed by an earlier release, "
        f"{len(to_fetch)} to fetch ({fetched_bytes / 1e6:.1f} MB)"
    )
    sink = lake.lake.sink(
        RAW_EXPRESSION_COUNTS.layer,
        RAW_EXPRESSION_COUNTS.name,
        release,
        dict(RAW_EXPRESSION_COUNTS_SCHEMA),
        lambda f: f,
        # one file per row group: its gene ids and names are unique there, a dictionary would only cost
        dictionary_columns=["release", "file_id", "md5sum", "gene_type"],
    )
    clients: list[GdcClient] = []
    try:
        with gdc_failures(f"expression files of release {release}"):
            for parsed in _download_and_parse(context, gdc, to_fetch, release, clients):
                sink.add(parsed.genes)
                qc_rows.append(parsed.qc)
        counts = sink.commit()
    except BaseException:
        sink.abort()
        raise
    qc = pl.DataFrame(qc_rows, schema=RAW_EXPRESSION_FILE_QC_SCHEMA, orient="row").sort("file_id")
    qc_written = lake.lake.write_table(RAW_EXPRESSION_FILE_QC, qc, release)
    problems = qc.filter(~pl.col("parsed")).group_by("problem_reason").len().sort("len", descending=True)
    elapsed = time.monotonic() - started
    yield MaterializeResult(
        asset_key=asset_key(RAW_EXPRESSION_COUNTS),
        metadata=written_metadata(
            counts,
            files_listed=files.height,
            files_downloaded=len(to_fetch),
            files_parsed_by_an_earlier_release=len(qc_rows) - len(to_fetch),
            bytes_downloaded=fetched_bytes,
            retries=sum(client.stats.retries for client in clients),
            duration_seconds=round(elapsed, 3),
            megabytes_per_second=round(fetched_bytes / 1e6 / elapsed, 1) if elapsed > 0 else None,
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(RAW_EXPRESSION_FILE_QC),
        metadata=written_metadata(
            qc_written,
            unusable_files=int((~qc["parsed"]).sum()) if qc.height else 0,
            problems=MetadataValue.md(
                "\n".join(f"- {r['problem_reason']}: {r['len']}" for r in problems.iter_rows(named=True)) or "none"
            ),
        ),
    )


def _download_and_parse(
    context: AssetExecutionContext,
    gdc: GdcApiResource,
    to_fetch: Sequence[Mapping[str, Any]],
    release: str,
    clients: list[GdcClient],
) -> Iterator[ParsedExpressionFile]:
    """Parsed files as the download threads finish them. Small files come many per archive, large ones one GET each
    (resumed with Range); a bounded queue keeps at most ~2 x workers parsed files in memory."""
    if not to_fetch:
        return
    per_thread = threading.local()
    workers = max(1, gdc.download_workers)
    results: queue.Queue = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()

    def client() -> GdcClient:
        if not hasattr(per_thread, "client"):
            per_thread.client = gdc.client(logger=context.log)
            clients.append(per_thread.client)
        return per_thread.client

    def parse(row: Mapping[str, Any], content: bytes) -> None:
        parsed = parse_star_counts(
            content, release=release, file_id=row["file_id"], md5=row["md5sum"], case=row["submitter_id"]
        )
        while not stop.is_set():
            try:
                results.put(parsed, timeout=0.5)
                return
            except queue.Full:
                continue

    def fetch_one(row: Mapping[str, Any]) -> None:
        parse(row, client().fetch_file(row["file_id"], md5=row["md5sum"], size=row["file_size"]))

    def fetch_archive(batch: list[Mapping[str, Any]]) -> None:
        by_id = {row["file_id"]: row for row in batch}
        wanted = [ArchiveFile(row["file_id"], row["md5sum"], row["file_size"]) for row in batch]
        for file_id, content in client().iter_archive_files(wanted):
            if stop.is_set():
                return
            parse(by_id[file_id], content)

    small_limit = gdc.archive_file_max_bytes if gdc.archive_batch_files > 1 else -1
    small = [row for row in to_fetch if row["file_size"] is not None and row["file_size"] <= small_limit]
    large = [row for row in to_fetch if not (row["file_size"] is not None and row["file_size"] <= small_limit)]
    # Archives of at most ~64 MB, so a broken stream costs little and the work spreads over the threads.
    per_archive = max(
        1, min(gdc.archive_batch_files, 64_000_000 // max(1, max((r["file_size"] for r in small), default=1)))
    )
    batches = [small[i : i + per_archive] for i in range(0, len(small), per_archive)]
    pool = ThreadPoolExecutor(max_workers=workers)
    jobs = [pool.submit(fetch_archive, batch) for batch in batches] + [pool.submit(fetch_one, row) for row in large]
    remaining = len(to_fetch)
    try:
        while remaining:
            try:
                parsed = results.get(timeout=0.5)
            except queue.Empty:
                parsed = None
            if parsed is None:
                failed = next((job for job in jobs if job.done() and job.exception() is not None), None)
                if failed is not None:
                    raise failed.exception()  # type: ignore[misc]
                if all(job.done() for job in jobs) and results.empty():
                    raise Failure(f"expression downloads of release {release} ended with {remaining} files missing")
                continue
            remaining -= 1
            if (len(to_fetch) - remaining) % 100 == 0:
                context.log.info(f"parsed {len(to_fetch) - remaining}/{len(to_fetch)} expression files")
            yield parsed
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _counts_reader(lake: Lake, where: Mapping[str, str]):
    """read_counts for transforms.expression.build_expression. `where`: file id -> the release whose partition holds
    its rows (raw/expression_file_qc.counts_release). Each partition's footer is read once (10,000 files are 10,000
    row groups), then each call reads the files' row groups partition by partition and splits them by file."""
    partitions: dict[str, tuple[Any, dict[str, list[int]]]] = {}

    def partition(release: str) -> tuple[Any, dict[str, list[int]]]:
        if release not in partitions:
            path = lake.table_path(RAW_EXPRESSION_COUNTS.layer, RAW_EXPRESSION_COUNTS.name, release)
            parquet = lake.open_parquet(path)
            partitions[release] = (parquet, row_groups_by(parquet, "file_id"))
        return partitions[release]

    def read_counts(file_ids: Sequence[str], columns: Sequence[str]) -> dict[str, pl.DataFrame]:
        found: dict[str, list[pl.DataFrame]] = {}
        by_release: dict[str, list[str]] = {}
        for file_id in file_ids:
            if file_id in where:
                by_release.setdefault(where[file_id], []).append(file_id)
        for release, ids in by_release.items():
            parquet, groups = partition(release)
            wanted = [(file_id, group) for file_id in ids for group in groups.get(file_id, [])]
            if not wanted:
                continue
            frame = pl.from_arrow(parquet.read_row_groups([g for _, g in wanted], columns=list(columns)))
            offset = 0
            for file_id, group in wanted:
                rows = parquet.metadata.row_group(group).num_rows
                found.setdefault(file_id, []).append(frame.slice(offset, rows))  # type: ignore[union-attr]
                offset += rows
        return {file_id: parts[0] if len(parts) == 1 else pl.concat(parts) for file_id, parts in found.items()}

    return read_counts


BUILT_FROM_KEY = "glioma.expression_built_from"
SIZE_FACTOR_METHOD_KEY = "glioma.size_factor_method"
_HARMONISE_VERSION = source_version(*_HARMONISE_CODE)


def _same_build_earlier(store: Lake, release: str, source: str) -> str | None:
    """The previous release, when its harmonised/expression was built from the same files, patients and code."""
    previous = store.previous_release(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release)
    samples = HARMONISED_EXPRESSION_SAMPLES
    if previous is None or not store.exists(samples.layer, samples.name, previous):
        return None
    path = store.table_path(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, previous)
    return previous if store.footer_metadata(path).get(BUILT_FROM_KEY) == source else None


def _copy_build(store: Lake, previous: str, release: str, samples: pl.DataFrame, sink: Any) -> tuple[pl.DataFrame, str]:
    """The previous release's tiles, one row group at a time, with this release's label; its size factors."""
    path = store.table_path(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, previous)
    parquet = store.open_parquet(path)  # one footer read for all its tiles
    for group in range(parquet.metadata.num_row_groups):
        tile = pl.from_arrow(parquet.read_row_group(group, columns=list(HARMONISED_EXPRESSION_SCHEMA)))
        sink.add(tile.with_columns(pl.lit(release).alias("release")))  # type: ignore[union-attr]
    method = (parquet.metadata.metadata or {}).get(SIZE_FACTOR_METHOD_KEY.encode(), b"").decode()
    factors = store.read_table(HARMONISED_EXPRESSION_SAMPLES, previous).filter(pl.col("used"))
    size_factor = dict(zip(factors["file_id"], factors["size_factor"], strict=True))
    samples = samples.with_columns(
        pl.col("file_id").replace_strict(size_factor, default=None, return_dtype=pl.Float64).alias("size_factor")
    )
    return samples, method or "median_of_ratios"


_HARMONISED_DEPS = [RAW_EXPRESSION_FILES, RAW_EXPRESSION_COUNTS, RAW_EXPRESSION_FILE_QC, HARMONISED_PATIENTS]


@multi_asset(
    specs=[
        table_asset_spec(table, deps=_HARMONISED_DEPS, code=_HARMONISE_CODE)
        for table in (HARMONISED_EXPRESSION, HARMONISED_EXPRESSION_SAMPLES, HARMONISED_EXPRESSION_REJECTS)
    ],
    partitions_def=gdc_releases,
    name="harmonise_expression",
    description="One expression sample per patient (primary tumour first, then aliquot barcode), DESeq2 size "
    "factors over the release, the long (case, sample, gene) table in tiles; every other file set aside with its reason.",
)
def harmonised_expression(context: AssetExecutionContext, lake: LakeResource):
    release = context.partition_key
    started = time.monotonic()
    store = lake.lake
    files = store.read_table(RAW_EXPRESSION_FILES, release)
    qc = store.read_table(RAW_EXPRESSION_FILE_QC, release)
    patients = store.scan(HARMONISED_PATIENTS.layer, HARMONISED_PATIENTS.name, release).select("case_id").collect()
    samples = expression_samples(files, qc, patients["case_id"].to_list())
    where = {r["file_id"]: r["counts_release"] for r in qc.iter_rows(named=True) if r["counts_release"] is not None}
    read_counts = _counts_reader(store, where)
    used = samples.filter(pl.col("used"))
    reference = pl.DataFrame(schema={"gene_id": pl.String, "gene_name": pl.String, "gene_type": pl.String})
    if used.height:
        first = used["file_id"][0]
        reference = read_counts([first], ["gene_id", "gene_name", "gene_type"])[first]
    sink = store.sink(
        HARMONISED_EXPRESSION.layer,
        HARMONISED_EXPRESSION.name,
        release,
        dict(HARMONISED_EXPRESSION_SCHEMA),
        lambda f: f,
    )
    source = built_from(samples, _HARMONISE_VERSION)
    previous = _same_build_earlier(store, release, source)
    try:
        if previous is not None:
            # Same files, patients and code as that release: its rows are this release's (copied, not recomputed).
            samples, method = _copy_build(store, previous, release, samples, sink)
            context.log.info(f"harmonised/expression of release {release} copied from {previous}: same files and code")
        else:
            samples, method = build_expression(samples, reference, read_counts, sink.add)
        expression = sink.commit({BUILT_FROM_KEY: source, SIZE_FACTOR_METHOD_KEY: method or ""})
    except BaseException:
        sink.abort()
        raise
    rejects = expression_rejects(samples, files, qc)
    rejects_written = store.write_table(HARMONISED_EXPRESSION_REJECTS, rejects, release)
    samples_written = store.write_table(HARMONISED_EXPRESSION_SAMPLES, samples, release)
    elapsed = time.monotonic() - started
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_EXPRESSION),
        metadata=written_metadata(
            expression,
            patients_with_expression=used.height,
            genes=reference.height,
            size_factor_method=method or "none (no expression in this release)",
            copied_from_release=previous or "none (computed)",
            duration_seconds=round(elapsed, 3),
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_EXPRESSION_SAMPLES),
        metadata=written_metadata(
            samples_written,
            files=samples.height,
            used=used.height,
            set_aside=samples.height - used.height,
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_EXPRESSION_REJECTS),
        metadata=written_metadata(rejects_written, rejected_reasons=_reason_counts(rejects)),
    )


EXPRESSION_ASSETS = [raw_gdc_expression_files, raw_expression_counts, harmonised_expression]


@asset_check(
    asset=asset_key(HARMONISED_EXPRESSION_SAMPLES),
    name="expression_files_reconcile",
    blocking=True,
    partitions_def=gdc_releases,
    additional_deps=[asset_key(RAW_EXPRESSION_FILES), asset_key(HARMONISED_EXPRESSION_REJECTS)],
    description="Every raw expression file is used or set aside, exactly once, and every set-aside file is in the "
    "quarantine with its reason: raw files = used + set aside.",
)
def expression_files_reconcile(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    release = context.partition_key

    def read(table: Any, columns: list[str]) -> pl.DataFrame:
        return lake.lake.scan(table.layer, table.name, release).select(columns).collect()

    counts = reconcile_expression_files(
        read(RAW_EXPRESSION_FILES, ["file_id"]),
        read(HARMONISED_EXPRESSION_SAMPLES, ["file_id", "used"]),
        read(HARMONISED_EXPRESSION_REJECTS, ["record"]),
    )
    return AssetCheckResult(
        passed=bool(counts["reconciles"]),
        metadata={
            "equation": f"{counts['raw_files']} raw files = {counts['used']} used + {counts['set_aside']} set aside "
            f"({counts['quarantined_files']} of them in the quarantine)",
            **{k: v for k, v in counts.items() if isinstance(v, (int, bool))},
            **{k: ", ".join(v) for k, v in counts.items() if isinstance(v, list) and v},
        },
    )


EXPRESSION_CHECKS = [expression_files_reconcile]
