"""The expression analyses of one release: subtypes per patient (in the refresh, next to the harmonised tables),
and differential expression, enrichment and survival by gene (the `analyse_expression` job, after scoring).

All statistics are in analyses/; these assets read the lake, decide what must be recomputed and write. Each
table's footer records the key of its inputs (expression content hash, group labels, code and library versions);
a release whose key equals the previous release's copies that release's rows instead of recomputing them.
"""

import hashlib
import json
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset, multi_asset

import analyses.cohorts
import analyses.gene_sets
from analyses.cohorts import contrast_labels, survival_cohort_members
from analyses.matrix import ExpressionMatrix, assemble
from assets.models import champion_model
from assets.partitions import gdc_releases
from assets.resources import LakeResource
from assets.specs import asset_key, source_version, table_asset_args, table_asset_spec, written_metadata
from contracts.analysis_tables import (
    ANALYTICS_DIFFERENTIAL_EXPRESSION,
    ANALYTICS_ENRICHMENT,
    ANALYTICS_SURVIVAL_BY_GENE,
    HARMONISED_EXPRESSION_SUBTYPES,
)
from contracts.features import SURVIVAL_RISK
from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    SCORES_SURVIVAL_RISK,
)
from lake.store import Lake

INPUTS_KEY = "glioma.analysis_inputs"
_HALLMARK_DIGEST = hashlib.sha256(analyses.gene_sets.HALLMARK_FILE.read_bytes()).hexdigest()
# The statistics (scipy, pydeseq2, gseapy) load in the steps that compute, not with the code location.
_CODE = ("analyses.matrix", "analyses.release_results", "analyses.cohorts", "analyses.multiple_testing")
_SUBTYPE_CODE = (*_CODE, "analyses.subtypes", "analyses.gene_sets")
_DE_CODE = (*_CODE, "analyses.differential_expression", "analyses.enrichment", "analyses.gene_sets")
_SURVIVAL_CODE = (*_CODE, "analyses.survival_by_gene")


def _frame_digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.hash_rows().to_numpy().tobytes() + str(frame.schema).encode()).hexdigest()


def inputs_key(store: Lake, release: str, code: tuple, **inputs: Any) -> str:
    """What a result depends on: the expression's content (not its release label), the other inputs given, the
    code and the libraries' versions."""
    record = {
        "expression": store.content_hash(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release),
        "code": source_version(*code),
        "libraries": {name: version(name) for name in ("pydeseq2", "gseapy", "numpy", "scipy")},
        **{name: _frame_digest(value) if isinstance(value, pl.DataFrame) else value for name, value in inputs.items()},
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _reusable(store: Lake, table: Any, release: str, key: str) -> str | None:
    """The previous release, when its partition of `table` was computed from the same inputs."""
    previous = store.previous_release(table.layer, table.name, release)
    if previous is None:
        return None
    footer = store.footer_metadata(store.table_path(table.layer, table.name, previous))
    return previous if footer.get(INPUTS_KEY) == key else None


def _write(
    context: AssetExecutionContext,
    store: Lake,
    table: Any,
    release: str,
    key: str,
    compute: Callable[[], pl.DataFrame],
    **metadata: Any,
) -> tuple[MaterializeResult, pl.DataFrame]:
    """Write the table (computed, or copied from the previous release when its inputs key is this one); the
    result for Dagster and the rows written."""
    started = time.monotonic()
    previous = _reusable(store, table, release, key)
    if previous is not None:
        frame = store.read_table(table, previous).with_columns(release=pl.lit(release))
        context.log.info(f"{table.path} of release {release} copied from {previous}: same inputs")
    else:
        frame = compute()
    written = store.write_table(table, frame, release, metadata={INPUTS_KEY: key})
    result = MaterializeResult(
        asset_key=asset_key(table),
        metadata=written_metadata(
            written,
            copied_from_release=previous or "none (computed)",
            duration_seconds=round(time.monotonic() - started, 3),
            **metadata,
        ),
    )
    return result, frame


def read_matrix(store: Lake, release: str) -> ExpressionMatrix:
    """The release's expression matrix, read a tile (row group) at a time."""
    samples = store.read_table(HARMONISED_EXPRESSION_SAMPLES, release).filter(pl.col("used"))
    case_ids = sorted(samples["case_id"].to_list())
    parquet = store.open_parquet(store.table_path(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release))
    groups = range(parquet.metadata.num_row_groups)
    genes = (
        pl.concat(
            [pl.from_arrow(parquet.read_row_group(g, columns=["gene_id", "gene_name"])).unique() for g in groups]
            or [pl.DataFrame(schema={"gene_id": pl.String, "gene_name": pl.String})]
        )
        .unique("gene_id")
        .sort("gene_name", "gene_id")
    )
    columns = ["case_id", "gene_id", "unstranded_count", "log2_normalised_count"]
    tiles = (pl.from_arrow(parquet.read_row_group(g, columns=columns)) for g in groups)
    return assemble(case_ids, genes, tiles)


@asset(
    **table_asset_args(
        HARMONISED_EXPRESSION_SUBTYPES, deps=[HARMONISED_EXPRESSION, HARMONISED_EXPRESSION_SAMPLES], code=_SUBTYPE_CODE
    )
)
def harmonised_expression_subtypes(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    from analyses.release_results import subtype_table

    release = context.partition_key
    store = lake.lake
    key = inputs_key(store, release, _SUBTYPE_CODE)
    return _write(
        context,
        store,
        HARMONISED_EXPRESSION_SUBTYPES,
        release,
        key,
        lambda: subtype_table(read_matrix(store, release), release),
    )[0]


def _risk_groups(lake: LakeResource, release: str) -> pl.DataFrame | None:
    champion = champion_model(lake, SURVIVAL_RISK)
    store = lake.lake
    if champion is None or not store.exists(SCORES_SURVIVAL_RISK.layer, SCORES_SURVIVAL_RISK.name, release):
        return None
    scores = store.read_table(SCORES_SURVIVAL_RISK, release)
    return scores.filter(pl.col("model_version") == champion[0].model_version).select("case_id", "risk_group")


def _contrast_sizes(store: Lake, release: str, labels: pl.DataFrame, differential: pl.DataFrame) -> dict[str, Any]:
    """n per group of every contrast, and which contrasts have no result (too few patients with expression)."""
    samples = store.read_table(HARMONISED_EXPRESSION_SAMPLES, release).filter(pl.col("used")).select("case_id")
    sizes = (
        labels.join(samples, on="case_id", how="semi")
        .group_by("contrast")
        .agg(n_numerator=pl.col("in_numerator").sum(), n_reference=(~pl.col("in_numerator")).sum())
    )
    n = {row["contrast"]: f"{row['n_numerator']} vs {row['n_reference']}" for row in sizes.to_dicts()}
    done = set(differential["contrast"].unique())
    return {
        "contrasts": {name: n[name] for name in sorted(done)},
        "contrasts_without_result": {
            c.name: n.get(c.name, "no labelled patients") for c in analyses.cohorts.CONTRASTS if c.name not in done
        }
        or "none",
    }


_ANALYSIS_DEPS = [
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_PATIENTS,
    HARMONISED_MOLECULAR_MARKERS,
]


@multi_asset(
    specs=[
        table_asset_spec(
            ANALYTICS_DIFFERENTIAL_EXPRESSION, deps=[*_ANALYSIS_DEPS, SCORES_SURVIVAL_RISK], code=_DE_CODE
        ),
        table_asset_spec(ANALYTICS_ENRICHMENT, deps=[*_ANALYSIS_DEPS, SCORES_SURVIVAL_RISK], code=_DE_CODE),
        table_asset_spec(ANALYTICS_SURVIVAL_BY_GENE, deps=_ANALYSIS_DEPS, code=_SURVIVAL_CODE),
    ],
    partitions_def=gdc_releases,
    name="expression_analyses",
    description="Differential expression (4 contrasts), Hallmark enrichment and survival by gene (4 cohorts) of a "
    "release; each table reused from the previous release when its inputs did not change.",
)
def analyse_expression(context: AssetExecutionContext, lake: LakeResource):
    from analyses.release_results import differential_expression_table, enrichment_table, survival_by_gene_table

    release = context.partition_key
    store = lake.lake
    patients = store.read_table(HARMONISED_PATIENTS, release)
    markers = store.read_table(HARMONISED_MOLECULAR_MARKERS, release)
    labels = contrast_labels(patients, markers, _risk_groups(lake, release))
    members = survival_cohort_members(patients, markers)
    matrix: list[ExpressionMatrix] = []

    def loaded() -> ExpressionMatrix:
        if not matrix:
            matrix.append(read_matrix(store, release))
        return matrix[0]

    de_key = inputs_key(store, release, _DE_CODE, labels=labels)
    result, differential = _write(
        context,
        store,
        ANALYTICS_DIFFERENTIAL_EXPRESSION,
        release,
        de_key,
        lambda: differential_expression_table(loaded(), labels, release, log=context.log.info)[0],
    )
    yield MaterializeResult(
        asset_key=result.asset_key,
        metadata={**(result.metadata or {}), **_contrast_sizes(store, release, labels, differential)},
    )
    yield _write(
        context,
        store,
        ANALYTICS_ENRICHMENT,
        release,
        inputs_key(store, release, _DE_CODE, labels=labels, gene_sets=_HALLMARK_DIGEST),
        lambda: enrichment_table(differential, release),
    )[0]
    yield _write(
        context,
        store,
        ANALYTICS_SURVIVAL_BY_GENE,
        release,
        inputs_key(store, release, _SURVIVAL_CODE, members=members),
        lambda: survival_by_gene_table(loaded(), members, release),
    )[0]


EXPRESSION_ANALYSIS_ASSETS = [harmonised_expression_subtypes, analyse_expression]
