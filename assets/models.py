"""Features, models and scores: the model matrix, LightGBM grading and survival-risk models with their
registry rows, and the scored tables (history kept, one row per case, release and model version)."""

import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import sys

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset, multi_asset

import models.grading
import models.pipeline
import models.scoring
import models.survival
import transforms.features
from assets.metadata import markdown_table
from assets.specs import OWNERS, asset_key, source_version, table_asset_args, table_asset_spec, written_metadata
from models.grading import GBM_VS_LGG, WHO_GRADE
from models.pipeline import TrainedModel, load_model, train_task
from models.registry import current_champion, read_model_artifacts, register_model, write_model_artifacts
from models.scoring import score_grading, score_survival
from models.survival import SURVIVAL_RISK
from assets.partitions import gdc_releases
from assets.resources import LakeResource, ModelTrainingResource
from transforms.features import ModelMatrix, build_model_matrix, feature_list_table
from warehouse.registry_store import registry_connection
from warehouse.tables import (
    FEATURES_FEATURE_LIST,
    FEATURES_MODEL_MATRIX,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    SCORES_GRADING,
    SCORES_SURVIVAL_RISK,
)

_THIS = sys.modules[__name__]

REPO_ROOT = Path(__file__).resolve().parents[1]


def code_version() -> str:
    """The git commit the models were trained with (recorded in the registry)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True,
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
        task: tuple(group["feature"].to_list())
        for (task,), group in features.group_by("task", maintain_order=True)
    }
    return ModelMatrix(
        matrix=lake.lake.read_table(FEATURES_MODEL_MATRIX, release),
        feature_set_version=features["feature_set_version"][0],
        feature_sets=feature_sets,
    )


@multi_asset(
    specs=[
        table_asset_spec(FEATURES_MODEL_MATRIX, deps=[HARMONISED_PATIENTS, HARMONISED_MOLECULAR_MARKERS],
                         code=(transforms.features, _THIS)),
        table_asset_spec(FEATURES_FEATURE_LIST, deps=[HARMONISED_PATIENTS, HARMONISED_MOLECULAR_MARKERS],
                         code=(transforms.features, _THIS)),
    ],
    partitions_def=gdc_releases,
    name="build_model_matrix",
    description="The model matrix of a release and the per-task feature lists it was built with.",
)
def model_matrix(context: AssetExecutionContext, lake: LakeResource):
    release = context.partition_key
    built = build_model_matrix(
        lake.lake.read_table(HARMONISED_PATIENTS, release), lake.lake.read_table(HARMONISED_MOLECULAR_MARKERS, release)
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
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(FEATURES_FEATURE_LIST),
        metadata=written_metadata(
            feature_list, feature_set_version=built.feature_set_version,
            feature_list=MetadataValue.md(markdown_table(features.drop("release"))),
        ),
    )


def _train_and_register(
    context: AssetExecutionContext, lake: LakeResource, training: ModelTrainingResource, task: str
) -> tuple[TrainedModel, dict]:
    release = context.partition_key
    started = time.monotonic()
    trained = train_task(
        _published_matrix(lake, release), task, release=release, code_version=code_version(),
        n_splits=training.n_splits, n_repeats=training.n_repeats,
        survival_baselines=training.survival_baselines,
    )
    write_model_artifacts(
        lake.models_dir, trained.model_version, trained.model.booster.model_to_string(), trained.artifact_metadata()
    )
    with registry_connection(lake.registry_path) as connection:
        entry = register_model(connection, trained.entry)
    summary = trained.cv.summary.select("model", "metric", "mean", "std", "folds")
    context.log.info(f"{task} {entry.model_version}: {entry.status} — {entry.decision_reason}")
    metadata = {
        f"{task}/model_version": entry.model_version,
        f"{task}/status": entry.status,
        f"{task}/decision": entry.decision_reason,
        f"{task}/training_rows": entry.training_rows,
        f"{task}/cv_metrics": MetadataValue.md(markdown_table(summary)),
        f"{task}/duration_seconds": round(time.monotonic() - started, 1),
    }
    return trained, metadata


_MODEL_CODE = (models.pipeline, models.grading, models.survival, _THIS)


@asset(
    key=["models", "grading_model"],
    deps=[asset_key(FEATURES_MODEL_MATRIX), asset_key(FEATURES_FEATURE_LIST)],
    partitions_def=gdc_releases,
    group_name="models",
    kinds={"lightgbm"},
    owners=OWNERS["models"],
    tags={"layer": "models"},
    code_version=source_version(*_MODEL_CODE),
    description=(
        "LightGBM GBM-vs-LGG and WHO grade 2/3/4 classifiers: repeated stratified CV with out-of-fold metrics, "
        "calibration inside the folds; registered as champion or challenger."
    ),
)
def grading_model(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    metadata: dict = {}
    for task in (GBM_VS_LGG, WHO_GRADE):
        _, task_metadata = _train_and_register(context, lake, model_training, task)
        metadata.update(task_metadata)
    return MaterializeResult(metadata=metadata)


@asset(
    key=["models", "survival_model"],
    deps=[asset_key(FEATURES_MODEL_MATRIX), asset_key(FEATURES_FEATURE_LIST)],
    partitions_def=gdc_releases,
    group_name="models",
    kinds={"lightgbm"},
    owners=OWNERS["models"],
    tags={"layer": "models"},
    code_version=source_version(*_MODEL_CODE),
    description=(
        "LightGBM with a Cox partial-likelihood objective and a Breslow baseline, cross-validated against "
        "scikit-survival CoxPH, RSF and GBSA; registered as champion or challenger."
    ),
)
def survival_model(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    trained, metadata = _train_and_register(context, lake, model_training, SURVIVAL_RISK)
    log_rank = trained.cv.log_rank
    metadata["risk_group_log_rank"] = MetadataValue.json({k: float(v) for k, v in log_rank.items()})
    return MaterializeResult(metadata=metadata)


def _champion_model(lake: LakeResource, task: str):
    with registry_connection(lake.registry_path, read_only=True) as connection:
        champion = current_champion(connection, task)
    if champion is None:
        raise RuntimeError(f"no champion model for task {task} in {lake.registry_path}: train it first")
    return champion, load_model(task, *read_model_artifacts(lake.models_dir, champion.model_version))


def _write_score_history(lake: LakeResource, table, release: str, scores: pl.DataFrame):
    """Keep the scores of every model version that has scored this release; replace this version's."""
    if lake.lake.exists(table.layer, table.name, release):
        earlier = lake.lake.read_table(table, release)
        versions = scores["model_version"].unique()
        earlier = earlier.filter(~pl.col("model_version").is_in(versions.implode()))
        scores = pl.concat([earlier, scores], how="diagonal_relaxed")
    scores = scores.sort(["model_version", "case_id"])
    duplicates = scores.select("case_id", "release", "model_version").is_duplicated().sum()
    if duplicates:
        raise RuntimeError(f"{table.path} release {release}: {duplicates} duplicate (case, release, model) rows")
    return lake.lake.write_table(table, scores, release), scores


@asset(**table_asset_args(SCORES_GRADING, deps=[grading_model, FEATURES_MODEL_MATRIX],
                          code=(models.scoring, _THIS), kinds=("lightgbm", "parquet")))
def grading_scores(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    gbm_entry, gbm_model = _champion_model(lake, GBM_VS_LGG)
    grade_entry, grade_model = _champion_model(lake, WHO_GRADE)
    matrix = lake.lake.read_table(FEATURES_MODEL_MATRIX, release)
    scores = score_grading(
        matrix, gbm_model, gbm_entry.model_version, release=release, scored_at=datetime.now(timezone.utc),
        grade_model=grade_model, grade_model_version=grade_entry.model_version,
    )
    written, history = _write_score_history(lake, SCORES_GRADING, release, scores)
    return MaterializeResult(
        metadata={
            "dagster/row_count": history.height,
            "scored_cases": scores.height,
            "rows_with_history": history.height,
            "model_version": gbm_entry.model_version,
            "grade_model_version": grade_entry.model_version,
            "predicted_gbm": scores.filter(pl.col("predicted_class") == "GBM").height,
            "path": MetadataValue.path(str(written.path)),
        }
    )


@asset(**table_asset_args(SCORES_SURVIVAL_RISK, deps=[survival_model, FEATURES_MODEL_MATRIX],
                          code=(models.scoring, _THIS), kinds=("lightgbm", "parquet")))
def survival_risk_scores(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    entry, model = _champion_model(lake, SURVIVAL_RISK)
    matrix = lake.lake.read_table(FEATURES_MODEL_MATRIX, release)
    scores = score_survival(matrix, model, entry.model_version, release=release, scored_at=datetime.now(timezone.utc))
    written, history = _write_score_history(lake, SCORES_SURVIVAL_RISK, release, scores)
    groups = scores.group_by("risk_group").len().sort("risk_group")
    return MaterializeResult(
        metadata={
            "dagster/row_count": history.height,
            "scored_cases": scores.height,
            "rows_with_history": history.height,
            "model_version": entry.model_version,
            "risk_groups": MetadataValue.md(markdown_table(groups)),
            "path": MetadataValue.path(str(written.path)),
        }
    )


MODEL_ASSETS = [model_matrix, grading_model, survival_model, grading_scores, survival_risk_scores]
