"""Great Expectations suites (quality/) run as Dagster asset checks, one pair per lake table.

Each table gets two checks from ONE validation run: `blocking_expectations` (keys, ids, ranges that
would corrupt what is downstream: a failure stops downstream assets) and `warning_expectations`
(vocabulary drift, row-count change against the previous release: shown, not blocking). The check
metadata lists every expectation with its unexpected count and examples; GX Data Docs (HTML) for the
release are written under `<DATA_DIR>/reports/<release>/gx/`.
"""

import warnings
from collections.abc import Iterator, Sequence

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from orchestration.partitions import gdc_releases
from orchestration.resources import LakeResource
from quality.runner import validate_table
from transforms.patients import reconcile_case_counts

# Partitioned asset checks are "preview" in Dagster 1.13; they are what per-release checks need.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

BLOCKING_CHECK = "blocking_expectations"
WARNING_CHECK = "warning_expectations"


def _table_name(key: AssetKey) -> str:
    return "/".join(key.path)


def build_quality_checks(asset: AssetsDefinition):
    key = asset.key
    layer, table = key.path
    table_name = _table_name(key)
    specs = [
        AssetCheckSpec(
            BLOCKING_CHECK, asset=key, blocking=True, partitions_def=gdc_releases,
            description=f"Critical Great Expectations expectations on {table_name}; failure blocks downstream.",
        ),
        AssetCheckSpec(
            WARNING_CHECK, asset=key, partitions_def=gdc_releases,
            description=f"Warning-level Great Expectations expectations on {table_name} (drift, row-count change).",
        ),
    ]

    @multi_asset_check(specs=specs, name=f"{layer}_{table}_expectations")
    def quality_checks(context: AssetCheckExecutionContext, lake: LakeResource) -> Iterator[AssetCheckResult]:
        release = context.partition_key
        frame = lake.lake.read(layer, table, release)
        previous = lake.lake.previous_release(layer, table, release)
        previous_rows = lake.lake.row_count(layer, table, previous) if previous is not None else None
        report = validate_table(
            table_name, frame, release=release, previous_row_count=previous_rows,
            data_docs_dir=lake.reports_dir(release) / "gx",
        )
        metadata = report.to_metadata()
        metadata["results_markdown"] = MetadataValue.md(metadata["results_markdown"])
        if report.data_docs_index is not None:
            metadata["data_docs_index"] = MetadataValue.path(str(report.data_docs_index))
        metadata = {name: value for name, value in metadata.items() if value is not None}
        yield AssetCheckResult(
            asset_key=key,
            check_name=BLOCKING_CHECK,
            passed=report.success,
            severity=AssetCheckSeverity.ERROR,
            metadata=metadata,
        )
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


def build_all_quality_checks(assets: Sequence[AssetsDefinition]) -> list:
    return [build_quality_checks(asset) for asset in assets]


@asset_check(
    asset=AssetKey(["harmonised", "quarantine"]),
    name="raw_cases_reconcile",
    blocking=True,
    partitions_def=gdc_releases,
    additional_deps=[AssetKey(["raw", "gdc_cases"]), AssetKey(["harmonised", "patients"])],
    description="Every raw case is in exactly one of harmonised/patients or the quarantine: raw = patients + quarantined.",
)
def raw_cases_reconcile(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    release = context.partition_key
    counts = reconcile_case_counts(
        lake.lake.read("raw", "gdc_cases", release),
        lake.lake.read("harmonised", "patients", release),
        lake.lake.read("harmonised", "quarantine", release),
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
