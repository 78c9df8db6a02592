"""Features, models and scores.

Score first: a release's scores come from the current champions as soon as its model matrix exists
(job `refresh_gdc_release`); challengers train afterwards, off the path to fresh scores (job
`train_challengers`), are judged against the champion on the same folds of the new release
(models.challenge), and a promoted challenger rescores the release. Retraining is skipped when the
recipe and training rows are unchanged (content hash).
"""

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset, multi_asset

import transforms.features
from assets.metadata import INPUTS_KEY, markdown_table, written_from
from assets.partitions import gdc_releases
from assets.resources import LakeResource, ModelTrainingResource
from assets.specs import OWNERS, asset_key, source_version, table_asset_args, table_asset_spec, written_metadata
from contracts.features import GBM_VS_LGG, MOLECULAR_TYPE, SURVIVAL_RISK, WHO_GRADE
from contracts.tables import (
    FEATURES_FEATURE_LIST,
    FEATURES_MODEL_MATRIX,
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    MODELS_GRADING_BASELINES,
    MODELS_SURVIVAL_BASELINES,
    SCORES_MOLECULAR_TYPE,
)
from lake.crashpoints import crash_point
from models.registry import (
    current_champion,
    find_by_fingerprint,
    read_model_artifacts,
    read_training_rows,
    register_model,
    write_model_artifacts,
    write_training_rows,
)
from models.registry_store import registry_connection
from transforms.features import ModelMatrix, build_model_matrix, feature_list_table

if TYPE_CHECKING:
    from models.challenge import Recipe

_THIS = sys.modules[__name__]
# The model code (LightGBM, scikit-learn, scikit-survival) is imported by the steps that train or load a model,
# not when Dagster loads the code location: every step process and the UI's code server start seconds faster.

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 20261122  # CV folds: champion and challenger are refit on the same folds


def code_version() -> str:
    """The git commit the models were trained with (recorded in the registry)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}{'-dirty' if dirty else ''}" if sha else "unknown"


def _published_matrix(lake: LakeResource, release: str) -> ModelMatrix:
    """The model matrix as features/model_matrix published it, with its recorded feature lists: the
    models train on exactly what was recorded, and the matrix is built once per release, not per task."""
    features = lake.lake.read_table(FEATURES_FEATURE_LIST, release).sort("task", "position")
    feature_sets = {
        task: tuple(group["feature"].to_list()) for (task,), group in features.group_by("task", maintain_order=True)
    }
    return ModelMatrix(
        matrix=lake.lake.read_table(FEATURES_MODEL_MATRIX, release),
        feature_set_version=features["feature_set_version"][0],
        feature_sets=feature_sets,
    )


# The omics features: expression signatures and the typing champion's output where a marker is missing.
_MATRIX_INPUTS = [
    HARMONISED_PATIENTS,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    SCORES_MOLECULAR_TYPE,
]
_MATRIX_CODE = (transforms.features, "analyses.signatures", _THIS)


def _signatures(lake: LakeResource, release: str) -> tuple[pl.DataFrame | None, dict[str, str]]:
    """Signature scores of the patients with expression (only the signature genes are read), and per signature how
    many of its genes the release measures."""
    from analyses.signatures import measured_genes, signature_gene_names, signature_scores

    if not lake.lake.exists(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release):
        return None, {}
    from assets.expression import read_genes

    long = read_genes(lake.lake, release, "gene_name", signature_gene_names())
    return signature_scores(long), measured_genes(sorted(long["gene_name"].unique().to_list()))


def _typing_scores(lake: LakeResource, release: str) -> pl.DataFrame | None:
    """The typing champion's scores of this release (written just before, in the same refresh), if any."""
    with registry_connection(lake.registry_path, read_only=True) as connection:
        champion = current_champion(connection, MOLECULAR_TYPE)
    table = SCORES_MOLECULAR_TYPE
    if champion is None or not lake.lake.exists(table.layer, table.name, release):
        return None
    return lake.lake.read_table(table, release).filter(pl.col("model_version") == champion.model_version)


@multi_asset(
    specs=[
        table_asset_spec(FEATURES_MODEL_MATRIX, deps=_MATRIX_INPUTS, code=_MATRIX_CODE),
        table_asset_spec(FEATURES_FEATURE_LIST, deps=_MATRIX_INPUTS, code=_MATRIX_CODE),
    ],
    partitions_def=gdc_releases,
    name="build_model_matrix",
    description="The model matrix of a release and the per-task feature lists it was built with.",
)
def model_matrix(context: AssetExecutionContext, lake: LakeResource):
    release = context.partition_key
    typing_scores = _typing_scores(lake, release)
    signatures, coverage = _signatures(lake, release)
    built = build_model_matrix(
        lake.lake.read_table(HARMONISED_PATIENTS, release),
        lake.lake.read_table(HARMONISED_MOLECULAR_MARKERS, release),
        signatures=signatures,
        typing_scores=typing_scores,
    )
    features = feature_list_table(built).with_columns(pl.lit(release).alias("release"))
    written = lake.lake.write_table(FEATURES_MODEL_MATRIX, built.matrix, release)
    feature_list = lake.lake.write_table(FEATURES_FEATURE_LIST, features, release)
    yield MaterializeResult(
        asset_key=asset_key(FEATURES_MODEL_MATRIX),
        metadata=written_metadata(
            written,
            feature_set_version=built.feature_set_version,
            markers_without_patient=len(built.markers_without_patient),
            patients_with_signatures=built.matrix["signature_g2m_checkpoint"].drop_nulls().len(),
            signature_genes_measured=MetadataValue.json(coverage),
            idh_predicted=built.matrix["idh_mutant_predicted_probability"].drop_nulls().len(),
            typing_model=str(typing_scores["model_version"][0])
            if typing_scores is not None and typing_scores.height
            else "none",
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(FEATURES_FEATURE_LIST),
        metadata=written_metadata(
            feature_list,
            feature_set_version=built.feature_set_version,
            feature_list=MetadataValue.md(markdown_table(features.drop("release"))),
        ),
    )


def champion_model(lake: LakeResource, task: str):
    """(registry entry, fitted model, artifact metadata, training rows or None) of the task's champion."""
    with registry_connection(lake.registry_path, read_only=True) as connection:
        entry = current_champion(connection, task)
    if entry is None:
        return None
    model_text, metadata = read_model_artifacts(lake.models_dir, entry.model_version)
    try:
        training_rows = read_training_rows(lake.models_dir, entry.model_version)
    except FileNotFoundError:
        training_rows = None  # a model stored before training rows were recorded: in_training_set unknown
    from models.pipeline import load_model

    return entry, load_model(task, model_text, metadata), metadata, training_rows


def _recipe_of(entry, metadata: dict, task: str) -> "Recipe":
    from models.challenge import Recipe
    from models.training import PARAM_GRID

    grid = tuple(entry.parameters.get("search", {}).get("grid") or PARAM_GRID)
    return Recipe(task=task, feature_names=tuple(metadata["feature_names"]), grid=grid)


def _train_and_register(
    context: AssetExecutionContext, lake: LakeResource, training: ModelTrainingResource, task: str
) -> dict:
    """Train the challenger of `task` on this release, judge it fairly against the champion, register it."""
    from models.challenge import Recipe, compare_recipes
    from models.pipeline import train_task, training_fingerprint, training_inputs
    from models.training import PARAM_GRID

    release = context.partition_key
    started = time.monotonic()
    matrix = _published_matrix(lake, release)
    if task in training.challenger_feature_sets:
        override = tuple(training.challenger_feature_sets[task])
        missing = [name for name in override if name not in matrix.matrix.columns]
        if missing:
            raise Failure(
                f"{task}: challenger features {missing} are not columns of features/model_matrix {release}",
                allow_retries=False,
            )
        matrix = replace(matrix, feature_sets={**matrix.feature_sets, task: override})
    _, feature_names, arrays = training_inputs(matrix, task, release)
    fingerprint = training_fingerprint(task, feature_names, arrays, training.n_splits, training.n_repeats, SEED)
    with registry_connection(lake.registry_path, read_only=True) as connection:
        existing = find_by_fingerprint(connection, task, fingerprint)
    if existing is not None:
        context.log.info(f"{task}: recipe and training rows unchanged since {existing.model_version}; not retrained")
        return {
            f"{task}/model_version": existing.model_version,
            f"{task}/status": existing.status,
            f"{task}/decision": f"not retrained: same recipe and training rows as {existing.model_version}",
            f"{task}/retrained": False,
            f"{task}/duration_seconds": round(time.monotonic() - started, 1),
        }
    champion = champion_model(lake, task)
    comparison = None
    if champion is not None:
        entry, _, metadata, champion_rows = champion
        new_cases = (
            sorted(set(matrix.matrix["case_id"].to_list()) - set(champion_rows["case_id"].to_list()))
            if champion_rows is not None
            else []
        )
        comparison = compare_recipes(
            matrix.matrix.filter(pl.col("release") == release),
            task,
            _recipe_of(entry, metadata, task),
            Recipe(task=task, feature_names=tuple(feature_names), grid=tuple(PARAM_GRID)),
            new_case_ids=new_cases,
            n_splits=training.n_splits,
            n_repeats=training.n_repeats,
            seed=SEED,
        )
        context.log.info(f"{task}: {comparison.reason}")
    trained = train_task(
        matrix,
        task,
        release=release,
        code_version=code_version(),
        n_splits=training.n_splits,
        n_repeats=training.n_repeats,
        seed=SEED,
        survival_baselines=False,
        cv=getattr(comparison, "challenger_cv", None),
    )
    entry = replace(trained.entry, comparison=comparison.to_json() if comparison else None)
    write_training_rows(lake.models_dir, trained.model_version, trained.training_rows)
    write_model_artifacts(
        lake.models_dir, trained.model_version, trained.model.booster.model_to_string(), trained.artifact_metadata()
    )
    with registry_connection(lake.registry_path) as connection:
        stored = register_model(
            connection, entry, decision=(comparison.promote, comparison.reason) if comparison else None
        )
    crash_point("after_model_registration")
    summary = trained.cv.summary.select("model", "metric", "mean", "std", "folds")
    context.log.info(f"{task} {stored.model_version}: {stored.status} — {stored.decision_reason}")
    metadata = {
        f"{task}/model_version": stored.model_version,
        f"{task}/status": stored.status,
        f"{task}/decision": stored.decision_reason,
        f"{task}/retrained": True,
        f"{task}/training_rows": stored.training_rows,
        f"{task}/cv_metrics": MetadataValue.md(markdown_table(summary)),
        f"{task}/duration_seconds": round(time.monotonic() - started, 1),
    }
    if comparison is not None:
        metadata[f"{task}/paired_difference"] = MetadataValue.md(
            f"{comparison.metric}: challenger − champion = {comparison.difference_mean:+.4f} "
            f"(95% CI {comparison.difference_ci_low:+.4f} to {comparison.difference_ci_high:+.4f}, "
            f"{comparison.n_folds} paired folds, margin {comparison.margin})"
        )
    return metadata


_MODEL_CODE = ("models.pipeline", "models.grading", "models.survival", "models.challenge", _THIS)
_MODEL_ASSET = dict(
    deps=[asset_key(FEATURES_MODEL_MATRIX), asset_key(FEATURES_FEATURE_LIST)],
    partitions_def=gdc_releases,
    group_name="models",
    kinds={"lightgbm"},
    owners=OWNERS["models"],
    tags={"layer": "models"},
    code_version=source_version(*_MODEL_CODE),
)


@asset(
    key=["models", "grading_model"],
    description=(
        "Challengers for GBM-vs-LGG and WHO grade 2/3/4 (LightGBM, repeated stratified CV, calibration inside the "
        "folds), judged against the champion on the same folds of this release; registered as champion or challenger."
    ),
    **_MODEL_ASSET,
)
def grading_model(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    metadata: dict = {}
    for task in (GBM_VS_LGG, WHO_GRADE):
        metadata.update(_train_and_register(context, lake, model_training, task))
    return MaterializeResult(metadata=metadata)


@asset(
    key=["models", "survival_model"],
    description=(
        "Challenger survival model (LightGBM, Cox partial likelihood, Breslow baseline), judged against the champion "
        "on the same folds of this release; registered as champion or challenger."
    ),
    **_MODEL_ASSET,
)
def survival_model(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    return MaterializeResult(metadata=_train_and_register(context, lake, model_training, SURVIVAL_RISK))


@asset(
    **{
        **table_asset_args(
            MODELS_SURVIVAL_BASELINES,
            deps=[FEATURES_MODEL_MATRIX, survival_model],
            code=("models.survival", _THIS),
            kinds=("scikitlearn", "parquet"),
        ),
        "group_name": "models",
    }
)
def survival_baselines(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    """Runs after scoring and training (job train_challengers): it gates nothing."""
    from models.pipeline import training_inputs
    from models.survival import cross_validate_survival

    release = context.partition_key
    started = time.monotonic()
    matrix = _published_matrix(lake, release)
    data, _, _ = training_inputs(matrix, SURVIVAL_RISK, release)
    cv = cross_validate_survival(
        data,
        n_splits=model_training.n_splits,
        n_repeats=model_training.n_repeats,
        seed=SEED,
        baselines=model_training.survival_baselines,
    )
    board = cv.summary.select("model", "metric", "mean", "std", pl.col("folds").cast(pl.Int64)).with_columns(
        pl.lit(release).alias("release")
    )
    written = lake.lake.write_table(MODELS_SURVIVAL_BASELINES, board, release)
    shown = board.filter(
        pl.col("metric").is_in(["harrell_c", "uno_c", "ibs", "td_auc_12m", "td_auc_24m", "td_auc_60m"])
    )
    return MaterializeResult(
        metadata=written_metadata(
            written,
            baselines=model_training.survival_baselines,
            leaderboard=MetadataValue.md(markdown_table(shown.drop("release"))),
            duration_seconds=round(time.monotonic() - started, 1),
        )
    )


_BASELINE_CODE = source_version("models.grading_baselines", "models.molecular_typing")


@asset(
    **{
        **table_asset_args(
            MODELS_GRADING_BASELINES,
            deps=[FEATURES_MODEL_MATRIX, grading_model],
            code=("models.grading_baselines", "models.molecular_typing", _THIS),
            kinds=("scikitlearn", "parquet"),
        ),
        "group_name": "models",
    }
)
def grading_baselines(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    """Runs after training (job train_challengers), on the registry's folds and feature list: gates nothing."""
    import hashlib

    import numpy as np

    from models.grading_baselines import GRADING_BASELINES, cross_validate_grading_baselines
    from models.pipeline import training_inputs

    release, started = context.partition_key, time.monotonic()
    data, feature_names, arrays = training_inputs(_published_matrix(lake, release), GBM_VS_LGG, release)
    models = GRADING_BASELINES if model_training.classifier_baselines else GRADING_BASELINES[:1]
    plan = [models, feature_names, model_training.n_splits, model_training.n_repeats, SEED, _BASELINE_CODE]
    digest = hashlib.sha256(repr(plan).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).astype(str).tobytes())
    key = digest.hexdigest()
    if written_from(lake.lake, MODELS_GRADING_BASELINES, release, key) is not None:
        context.log.info(f"grading baselines of {release}: inputs unchanged, not recomputed")
        return MaterializeResult(metadata={"recomputed": False})
    board = cross_validate_grading_baselines(
        data, n_splits=model_training.n_splits, n_repeats=model_training.n_repeats, seed=SEED, models=models
    ).with_columns(pl.lit(release).alias("release"))
    written = lake.lake.write_table(
        MODELS_GRADING_BASELINES,
        board.cast(MODELS_GRADING_BASELINES.schema, strict=False),
        release,
        metadata={INPUTS_KEY: key},
    )
    shown = board.filter(pl.col("metric").is_in(["roc_auc", "f1", "brier"])).select(
        "model", "metric", "mean", "low", "high"
    )
    return MaterializeResult(
        metadata=written_metadata(
            written,
            recomputed=True,
            leaderboard=MetadataValue.md(markdown_table(shown)),
            duration_seconds=round(time.monotonic() - started, 1),
        )
    )


MODEL_ASSETS = [model_matrix, grading_model, survival_model, survival_baselines, grading_baselines]
