"""Great Expectations suites (quality/) run as Dagster asset checks, one pair per lake table.

Each table gets two checks from ONE validation run: `blocking_expectations` (keys, ids, ranges that
would corrupt what is downstream: a failure stops downstream assets) and `warning_expectations`
(vocabulary drift, row-count change against the previous release: shown, not blocking). The check
metadata lists every expectation with its unexpected count and examples; GX Data Docs (HTML) for the
release are written under `<DATA_DIR>/reports/<release>/gx/`.
"""

import warnings
from collections.abc import Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, LakeResource
from assets.specs import asset_key
from contracts.tables import HARMONISED_PATIENTS, HARMONISED_QUARANTINE, RAW_CASES, TABLES_BY_PATH, TableSpec
from quality.cache import cached_report, store_report, write_check_results
from quality.runner import validate_table
from quality.tables import QUALITY_TABLES
from transforms.patients import reconcile_case_counts

# Partitioned asset checks are "preview" in Dagster 1.13; they are what per-release checks need.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

BLOCKING_CHECK = "blocking_expectations"
WARNING_CHECK = "warning_expectations"


def build_quality_checks(table: TableSpec):
    key = asset_key(table)
    layer, name = table.key
    table_name = table.path
    specs = [
        AssetCheckSpec(
            BLOCKING_CHECK,
            asset=key,
            blocking=True,
            partitions_def=gdc_releases,
            description=f"Critical Great Expectations expectations on {table_name}; failure blocks downstream.",
        ),
        AssetCheckSpec(
            WARNING_CHECK,
            asset=key,
            partitions_def=gdc_releases,
            description=f"Warning-level Great Expectations expectations on {table_name} (drift, row-count change).",
        ),
    ]

    # can_subset: either check can be run on its own from the UI (one GX validation serves both).
    @multi_asset_check(specs=specs, name=f"{layer}_{name}_expectations", can_subset=True)
    def quality_checks(context: AssetCheckExecutionContext, lake: LakeResource) -> Iterator[AssetCheckResult]:
        release = context.partition_key
        selected = context.selected_asset_check_keys
        previous = lake.lake.previous_release(layer, name, release)
        previous_rows = lake.lake.row_count(layer, name, previous) if previous is not None else None
        content = lake.lake.content_hash(layer, name, release)
        cache_dir = lake.root / "reports" / "_validation_cache"
        report = cached_report(cache_dir, table_name, release, content, previous_rows)
        releases_in_file = lake.lake.scan(layer, name, release).select("release").unique().collect()["release"]
        if report is None or releases_in_file.to_list() not in ([release], []):
            # Lazy: the runner reads only the columns the suite checks (and of a `document` it only checks
            # for nulls, the null mask), not the whole partition.
            frame = lake.lake.scan(layer, name, release)
            report = validate_table(
                table_name,
                frame,
                release=release,
                previous_row_count=previous_rows,
                data_docs_dir=lake.reports_dir(release) / "gx",
            )
            store_report(cache_dir, report, content)
        write_check_results(lake.reports_dir(release), report)
        metadata = report.to_metadata()
        metadata["results_markdown"] = MetadataValue.md(metadata["results_markdown"])
        if report.data_docs_index is not None:
            metadata["data_docs_index"] = MetadataValue.path(str(report.data_docs_index))
        metadata = {field: value for field, value in metadata.items() if value is not None}
        if AssetCheckKey(key, BLOCKING_CHECK) in selected:
            yield AssetCheckResult(
                asset_key=key,
                check_name=BLOCKING_CHECK,
                passed=report.success,
                severity=AssetCheckSeverity.ERROR,
                metadata=metadata,
            )
        if AssetCheckKey(key, WARNING_CHECK) not in selected:
            return
        yield AssetCheckResult(
            asset_key=key,
            check_name=WARNING_CHECK,
            passed=report.warnings_passed,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "warnings_failed": len(report.warning_failures),
                "failed_warnings": MetadataValue.md(
                    "\n".join(
                        f"- `{row['expectation_type']}` {row.get('column') or ''}: "
                        f"{row.get('unexpected_count')} unexpected, e.g. {row.get('unexpected_examples')}"
                        for row in report.warning_failures
                    )
                    or "none"
                ),
                "notes": MetadataValue.md("\n".join(f"- {note}" for note in report.notes) or "none"),
            },
        )

    return quality_checks


# Every table that has a Great Expectations suite (quality/tables.py) gets its pair of checks.
QUALITY_GUARDED_TABLES: tuple[TableSpec, ...] = tuple(TABLES_BY_PATH[name] for name in QUALITY_TABLES)


def build_all_quality_checks() -> list:
    return [build_quality_checks(table) for table in QUALITY_GUARDED_TABLES]


@asset_check(
    asset=asset_key(HARMONISED_QUARANTINE),
    name="raw_cases_reconcile",
    blocking=True,
    partitions_def=gdc_releases,
    additional_deps=[asset_key(RAW_CASES), asset_key(HARMONISED_PATIENTS)],
    description="Every raw case is in exactly one of harmonised/patients or the quarantine: raw = patients + quarantined.",
)
def raw_cases_reconcile(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    release = context.partition_key

    def read(table: TableSpec, columns: list[str]) -> pl.DataFrame:  # what reconcile_case_counts reads
        return lake.lake.scan(table.layer, table.name, release).select(columns).collect()

    counts = reconcile_case_counts(
        read(RAW_CASES, ["release", "case_id"]),
        read(HARMONISED_PATIENTS, ["release", "case_id"]),
        read(HARMONISED_QUARANTINE, ["release", "table", "case_id", "reason"]),
    )
    return AssetCheckResult(
        passed=bool(counts["reconciles"]),
        metadata={
            "equation": f"{counts['raw_cases']} raw cases = {counts['patients']} patients + "
            f"{counts['quarantined_cases']} quarantined cases",
            **{k: v for k, v in counts.items() if isinstance(v, (int, bool))},
            **{k: ", ".join(map(str, v)) for k, v in counts.items() if isinstance(v, list) and v},
        },
    )


@asset_check(
    asset=AssetKey(["gdc_release"]),
    name="gdc_release_is_current",
    description=(
        "Fails when GDC's /status serves a newer data release than the newest release whose scores are published "
        "(the refresh is missing or failed). Run it on its own from the UI, or by the daily freshness schedule."
    ),
)
def gdc_release_is_current(
    context: AssetCheckExecutionContext, gdc: GdcApiResource, lake: LakeResource
) -> AssetCheckResult:
    from contracts.tables import SCORES_GRADING
    from lake.store import release_sort_key

    published = lake.lake.releases(SCORES_GRADING.layer, SCORES_GRADING.name)
    newest = published[-1] if published else None
    served, said = gdc.served_release(context.log)
    if served is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "gdc_status_url": f"{gdc.base_url}/status",
                "error": said[:500],
                "newest_materialised_release": newest or "none",
            },
            description=said,
        )
    behind = newest is None or release_sort_key(served) > release_sort_key(newest)
    return AssetCheckResult(
        passed=not behind,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "gdc_serves": served,
            "newest_materialised_release": newest or "none",
            "gdc_status_url": f"{gdc.base_url}/status",
        },
        description=(f"GDC serves {served}; newest materialised release is {newest or 'none'}"),
    )
