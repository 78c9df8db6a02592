"""Scores of a release by the current champions, the champion's prospective validation, and the
release diff that explains why a score moved.

`scores/*` run in the refresh job right after the model matrix (score first) and again in the
challenger job after training (a promoted challenger rescores). Each row says whether the scoring
model was trained on that patient (`in_training_set`).

A rescore copies each model's outputs for patients whose features and model are unchanged
(`models.scoring.rescore_grading`): from this release's earlier partition on a rerun, from the previous
release's otherwise. Which matrix and scoring code each group of rows came from is recorded in the written
partition's own Parquet footer (`models.scoring.SCORED_FROM_KEY`, beside the content hash), so the record
is read with the rows it describes: a new Dagster instance or a moved data directory still reuses (the
materialisation's `scored_from` metadata shows it in the UI and is never read back). Rows without a
matching record are computed again.
"""

import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

import transforms.expression
import transforms.release_changes
from assets.metadata import markdown_table
from assets.models import champion_model
from assets.partitions import gdc_releases
from assets.resources import LakeResource
from assets.specs import asset_key, table_asset_args, written_metadata
from assets.typing import typing_champion
from contracts.features import GBM_VS_LGG, MOLECULAR_TYPE, SURVIVAL_RISK, WHO_GRADE
from contracts.tables import (
    FEATURES_MODEL_MATRIX,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    HARMONISED_RELEASE_CHANGES,
    MODELS_PROSPECTIVE_VALIDATION,
    SCORES_GRADING,
    SCORES_MOLECULAR_TYPE,
    SCORES_SURVIVAL_RISK,
)
from lake.integrity import content_hash
from models.conformal import ConformalCalibrator
from models.registry import read_training_rows
from transforms.expression import EXPRESSION_SAMPLE_IDENTITY, expression_sample_of_case
from transforms.release_changes import release_changes, summarise_release_changes

if TYPE_CHECKING:  # the scoring code (LightGBM, numba) is imported by the steps that score, not at load
    from models.scoring import EarlierScores, ScoringInputs

_THIS = sys.modules[__name__]
GRADING_MODEL_KEY = AssetKey(["models", "grading_model"])
SURVIVAL_MODEL_KEY = AssetKey(["models", "survival_model"])


def _conformal(metadata: dict) -> ConformalCalibrator | None:
    stored = metadata.get("conformal")
    if not stored:
        return None
    import json

    return ConformalCalibrator.from_json(json.dumps(stored))


def _training_ids(training_rows: pl.DataFrame | None) -> list[str] | None:
    return None if training_rows is None else training_rows["case_id"].to_list()


@dataclass(frozen=True)
class _Partition:
    path: PurePath
    frame: pl.DataFrame
    record: dict | None


def _read_partition(lake: LakeResource, table, release: str) -> _Partition | None:
    """The version of a scores partition this run reads, with the record in its footer. Rows and record come
    from the one (immutable) version file, so they cannot belong to different writes."""
    path = lake.lake.resolve(table.layer, table.name, release)
    if path is None:
        return None
    from models.scoring import scoring_record_from_metadata

    record = scoring_record_from_metadata(lake.lake.footer_metadata(path))
    return _Partition(path, lake.lake.read_file(path), record)


def _earlier_scores(
    lake: LakeResource,
    table,
    release: str,
    matrix: pl.DataFrame,
    inputs: "ScoringInputs",
) -> tuple[_Partition | None, list["EarlierScores"]]:
    """This release's scores partition, and the earlier rows a rescore may copy: this release's (a rerun) and
    the previous release's (unchanged patients), each only where its record says it was computed from the
    matrix now read for that release and the current scoring code."""
    from models.scoring import EarlierScores, rows_scored_from

    this = _read_partition(lake, table, release)
    sources = []
    previous_release = lake.lake.previous_release(table.layer, table.name, release)
    for source_release, partition in (
        (release, this),
        (previous_release, previous_release and _read_partition(lake, table, previous_release)),
    ):
        if (
            not partition
            or not partition.record
            or not any(recorded.get("scoring_code") == inputs.scoring_code for recorded in partition.record.values())
        ):
            continue
        if source_release == release:
            source_matrix, source_inputs = matrix, inputs
        elif lake.lake.exists(FEATURES_MODEL_MATRIX.layer, FEATURES_MODEL_MATRIX.name, source_release):
            source_matrix = lake.lake.read_table(FEATURES_MODEL_MATRIX, source_release)
            source_inputs = replace(inputs, matrix_content_hash=content_hash(source_matrix))
        else:
            continue
        rows = rows_scored_from(partition.frame, partition.record, source_inputs)
        if rows.height:
            sources.append(EarlierScores(rows, source_matrix))
    return this, sources


def _write_score_history(
    lake: LakeResource,
    table,
    release: str,
    scores: pl.DataFrame,
    inputs: "ScoringInputs",
    earlier: _Partition | None,
):
    """Keep the scores of every model version that has scored this release; replace this version's. Returns
    the written table, the partition's rows and its record (what each group of rows was computed from), which
    is written into the partition's footer."""
    from models.scoring import scoring_record, scoring_record_metadata

    if earlier is None or lake.lake.resolve(table.layer, table.name, release) != earlier.path:
        earlier = _read_partition(lake, table, release)  # a newer version appeared meanwhile
    scored = scores
    if earlier is not None:
        versions = scores["model_version"].unique()
        kept = earlier.frame.filter(~pl.col("model_version").is_in(versions.implode()))
        scores = pl.concat([kept, scores], how="diagonal_relaxed")
    scores = scores.sort(["model_version", "case_id"])
    duplicates = scores.select("case_id", "release", "model_version").is_duplicated().sum()
    if duplicates:
        raise RuntimeError(f"{table.path} release {release}: {duplicates} duplicate (case, release, model) rows")
    record = scoring_record(scores, scored, inputs, earlier.record if earlier is not None else None)
    written = lake.lake.write_table(table, scores, release, metadata=scoring_record_metadata(record))
    return written, scores, record


_NO_CHAMPION = (
    "no champion model yet for {task}: this release is scored after train_challengers trains the first champion"
)


@asset(
    **table_asset_args(
        SCORES_GRADING,
        deps=[FEATURES_MODEL_MATRIX, GRADING_MODEL_KEY],
        code=("models.scoring", _THIS),
        kinds=("lightgbm", "parquet"),
    ),
    output_required=False,
)
def grading_scores(context: AssetExecutionContext, lake: LakeResource):
    from models.scoring import ScoringInputs, rescore_grading, scoring_code_version

    release = context.partition_key
    started = time.monotonic()
    gbm, grade = champion_model(lake, GBM_VS_LGG), champion_model(lake, WHO_GRADE)
    if gbm is None or grade is None:
        context.log.warning(_NO_CHAMPION.format(task=GBM_VS_LGG if gbm is None else WHO_GRADE))
        return
    gbm_entry, gbm_model, gbm_metadata, gbm_rows = gbm
    grade_entry, grade_model, grade_metadata, grade_rows = grade
    matrix = lake.lake.read_table(FEATURES_MODEL_MATRIX, release)
    inputs = ScoringInputs(content_hash(matrix), scoring_code_version())
    partition, earlier = _earlier_scores(lake, SCORES_GRADING, release, matrix, inputs)
    result = rescore_grading(
        matrix,
        gbm_model,
        gbm_entry.model_version,
        release=release,
        scored_at=datetime.now(UTC),
        grade_model=grade_model,
        grade_model_version=grade_entry.model_version,
        training_case_ids=_training_ids(gbm_rows),
        grade_training_case_ids=_training_ids(grade_rows),
        conformal=_conformal(gbm_metadata),
        grade_conformal=_conformal(grade_metadata),
        earlier=earlier,
    )
    scores = result.scores
    written, history, record = _write_score_history(lake, SCORES_GRADING, release, scores, inputs, partition)
    yield MaterializeResult(
        metadata=written_metadata(
            written,
            history,
            scored_cases=scores.height,
            reused_cases=result.reused["model_version"],
            grade_reused_cases=result.reused["grade_model_version"],
            seconds=round(time.monotonic() - started, 2),
            model_version=gbm_entry.model_version,
            model_training_release=gbm_entry.training_release,
            grade_model_version=grade_entry.model_version,
            in_training_set=int(scores["in_training_set"].sum() or 0),
            predicted_gbm=scores.filter(pl.col("predicted_class") == "GBM").height,
            scored_from=MetadataValue.json(record),  # display only: the footer is the record
        )
    )


@asset(
    **table_asset_args(
        SCORES_SURVIVAL_RISK,
        deps=[FEATURES_MODEL_MATRIX, SURVIVAL_MODEL_KEY],
        code=("models.scoring", _THIS),
        kinds=("lightgbm", "parquet"),
    ),
    output_required=False,
)
def survival_risk_scores(context: AssetExecutionContext, lake: LakeResource):
    from models.scoring import ScoringInputs, rescore_survival, scoring_code_version

    release = context.partition_key
    started = time.monotonic()
    champion = champion_model(lake, SURVIVAL_RISK)
    if champion is None:
        context.log.warning(_NO_CHAMPION.format(task=SURVIVAL_RISK))
        return
    entry, model, _, training_rows = champion
    matrix = lake.lake.read_table(FEATURES_MODEL_MATRIX, release)
    inputs = ScoringInputs(content_hash(matrix), scoring_code_version())
    partition, earlier = _earlier_scores(lake, SCORES_SURVIVAL_RISK, release, matrix, inputs)
    result = rescore_survival(
        matrix,
        model,
        entry.model_version,
        release=release,
        scored_at=datetime.now(UTC),
        training_case_ids=_training_ids(training_rows),
        earlier=earlier,
    )
    scores = result.scores
    written, history, record = _write_score_history(lake, SCORES_SURVIVAL_RISK, release, scores, inputs, partition)
    groups = scores.group_by("risk_group").len().sort("risk_group")
    yield MaterializeResult(
        metadata=written_metadata(
            written,
            history,
            scored_cases=scores.height,
            seconds=round(time.monotonic() - started, 2),
            model_version=entry.model_version,
            model_training_release=entry.training_release,
            in_training_set=int(scores["in_training_set"].sum() or 0),
            risk_groups=MetadataValue.md(markdown_table(groups)),
            reused_cases=result.reused["model_version"],
            scored_from=MetadataValue.json(record),  # display only: the footer is the record
        )
    )


@asset(
    **table_asset_args(
        MODELS_PROSPECTIVE_VALIDATION,
        deps=[SCORES_GRADING, SCORES_SURVIVAL_RISK, SCORES_MOLECULAR_TYPE, FEATURES_MODEL_MATRIX],
        code=("models.prospective", _THIS),
        kinds=("scikitlearn", "parquet"),
    )
)
def prospective_validation_asset(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    from models.prospective import prospective_validation

    release = context.partition_key
    started = time.monotonic()
    matrix = lake.lake.read_table(FEATURES_MODEL_MATRIX, release)
    frames, notes = [], []
    scored = {table.path: lake.lake.read_table(table, release) for table in (SCORES_GRADING, SCORES_SURVIVAL_RISK)}
    for task, table in (
        (GBM_VS_LGG, SCORES_GRADING),
        (WHO_GRADE, SCORES_GRADING),
        (SURVIVAL_RISK, SCORES_SURVIVAL_RISK),
    ):
        champion = champion_model(lake, task)
        if champion is None:
            notes.append(f"{task}: no champion")
            continue
        entry, _, _, training_rows = champion
        if training_rows is None:
            notes.append(f"{task}: champion {entry.model_version} has no recorded training rows")
            continue
        version_column = "grade_model_version" if task == WHO_GRADE else "model_version"
        scores = scored[table.path].filter(pl.col(version_column) == entry.model_version)
        if scores.is_empty():
            notes.append(f"{task}: champion {entry.model_version} has not scored release {release}")
            continue
        frames.append(
            prospective_validation(
                task,
                release=release,
                model_version=entry.model_version,
                training_release=entry.training_release,
                scores=scores.unique("case_id"),
                matrix=matrix,
                training_rows=training_rows,
                cv_metrics=entry.cv_metrics,
            )
        )
    frames += _typing_validation(lake, release, notes)
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=dict(MODELS_PROSPECTIVE_VALIDATION.schema))
    # History kept, as for scores: a champion promoted later does not erase how its predecessor did here.
    if lake.lake.exists(MODELS_PROSPECTIVE_VALIDATION.layer, MODELS_PROSPECTIVE_VALIDATION.name, release):
        earlier = lake.lake.read_table(MODELS_PROSPECTIVE_VALIDATION, release)
        earlier = earlier.filter(~pl.col("model_version").is_in(frame["model_version"].unique().implode()))
        frame = pl.concat([earlier, frame], how="diagonal_relaxed")
    written = lake.lake.write_table(MODELS_PROSPECTIVE_VALIDATION, frame, release)
    headline = frame.filter(
        pl.col("metric").is_in(
            [
                "roc_auc",
                "roc_auc_micro",
                "roc_auc_macro",
                "f1_macro",
                "harrell_c",
                "uno_c",
                "ece",
                "ece_noise_floor",
                "conformal_coverage",
                "brier",
            ]
        )
    )
    return MaterializeResult(
        metadata=written_metadata(
            written,
            seconds=round(time.monotonic() - started, 2),
            decay_flags=int(frame["below_cv_interval"].sum() or 0),
            notes=MetadataValue.md("\n".join(f"- {n}" for n in notes) or "none"),
            headline=MetadataValue.md(
                markdown_table(
                    headline.select("task", "cohort", "metric", "value", "ci_low", "ci_high", "n", "cv_low", "cv_high")
                )
                if headline.height
                else "no prospective patients (the champion was trained on this release)"
            ),
        )
    )


def _typing_validation(lake: LakeResource, release: str, notes: list[str]) -> list[pl.DataFrame]:
    """The typing champion on the patients typed by their markers that it never trained on (and on training patients
    whose type changed)."""
    from models.molecular_typing import molecular_type_label
    from models.prospective import prospective_validation

    champion = typing_champion(lake)
    if champion is None:
        notes.append(f"{MOLECULAR_TYPE}: no champion")
        return []
    entry = champion[0]
    scores = (
        lake.lake.read_table(SCORES_MOLECULAR_TYPE, release)
        if lake.lake.exists(SCORES_MOLECULAR_TYPE.layer, SCORES_MOLECULAR_TYPE.name, release)
        else pl.DataFrame(schema=SCORES_MOLECULAR_TYPE.schema)
    ).filter(pl.col("model_version") == entry.model_version)
    if scores.is_empty():
        notes.append(f"{MOLECULAR_TYPE}: champion {entry.model_version} has not scored release {release}")
        return []
    labels = lake.lake.read_table(HARMONISED_MOLECULAR_MARKERS, release).select("case_id", molecular_type_label())
    return [
        prospective_validation(
            MOLECULAR_TYPE,
            release=release,
            model_version=entry.model_version,
            training_release=entry.training_release,
            scores=scores,
            matrix=labels,
            training_rows=read_training_rows(lake.models_dir, entry.model_version),
            cv_metrics=entry.cv_metrics,
        )
    ]


@asset_check(
    asset=asset_key(MODELS_PROSPECTIVE_VALIDATION),
    name="no_performance_decay",
    partitions_def=gdc_releases,
    description="Warns when a champion's prospective AUC / C falls below its own cross-validated interval.",
)
def no_performance_decay(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    from models.prospective import DECAY_METRICS

    frame = lake.lake.read_table(MODELS_PROSPECTIVE_VALIDATION, context.partition_key)
    decayed = frame.filter(pl.col("below_cv_interval"))
    return AssetCheckResult(
        passed=decayed.is_empty(),
        severity=AssetCheckSeverity.WARN,
        metadata={
            "metrics_checked": frame.filter(pl.col("metric").is_in(list(DECAY_METRICS))).height,
            "below_cv_interval": MetadataValue.md(
                markdown_table(decayed.select("task", "cohort", "metric", "value", "ci_low", "ci_high", "n", "cv_low"))
                if decayed.height
                else "none"
            ),
        },
    )


@asset(
    **table_asset_args(
        HARMONISED_RELEASE_CHANGES,
        deps=[HARMONISED_PATIENTS, HARMONISED_MOLECULAR_MARKERS, HARMONISED_EXPRESSION_SAMPLES],
        code=(transforms.release_changes, transforms.expression, _THIS),
    )
)
def harmonised_release_changes(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    frames = []
    previous_release = lake.lake.previous_release(HARMONISED_PATIENTS.layer, HARMONISED_PATIENTS.name, release)
    for table in (HARMONISED_PATIENTS, HARMONISED_MOLECULAR_MARKERS):
        previous = lake.lake.read_table(table, previous_release) if previous_release else None
        frames.append(
            release_changes(
                previous,
                lake.lake.read_table(table, release),
                previous_release=previous_release,
                current_release=release,
                table=table.path,
            )
        )
    # Expression: a case gained (added), lost (removed) or changed its expression sample (new file id or md5).
    samples = HARMONISED_EXPRESSION_SAMPLES
    had_samples = previous_release is not None and lake.lake.exists(samples.layer, samples.name, previous_release)
    frames.append(
        release_changes(
            expression_sample_of_case(lake.lake.read_table(samples, previous_release)) if had_samples else None,
            expression_sample_of_case(lake.lake.read_table(samples, release)),
            previous_release=previous_release if had_samples else None,
            current_release=release,
            table=samples.path,
            compare_columns=EXPRESSION_SAMPLE_IDENTITY,
        )
    )
    changes = pl.concat(frames)
    written = lake.lake.write_table(HARMONISED_RELEASE_CHANGES, changes, release)
    summary = summarise_release_changes(changes)
    identical = previous_release is not None and changes.is_empty()
    if identical:
        context.log.info(f"release {release} is identical to {previous_release}: no patient added, removed or changed")
    return MaterializeResult(
        metadata=written_metadata(
            written,
            seconds=round(time.monotonic() - started, 2),
            previous_release=previous_release or "none (first release)",
            identical_to_previous_release=identical,
            **{key: value for key, value in summary.items() if isinstance(value, int)},
            top_changed_fields=MetadataValue.json(summary.get("top_changed_fields", {})),
        )
    )


SCORE_ASSETS = [grading_scores, survival_risk_scores, prospective_validation_asset, harmonised_release_changes]
SCORE_CHECKS = [no_performance_decay]
