"""Scoring: one row per case of a release with the model's outputs and a readable explanation.

`scores/grading` and `scores/survival_risk` keep history: (case_id, release, model_version) is the key,
so a frame returned here is unique on it (checked).

Rescoring reuses what did not change (`rescore_grading`, `rescore_survival`). A model's outputs for a patient
(probabilities or risk score, predicted class or risk group, survival probabilities, the explanation) are a
function of the model version, the scoring code and the patient's feature values only, so they are copied
from earlier score rows (`EarlierScores`: this release's earlier partition on a rerun, the previous
release's for unchanged patients) when all three are the same, bit for bit, and computed otherwise. Whatever
depends on more is always recomputed: `release`, `scored_at` (the time this release was scored),
`in_training_set` (from the training rows given) and the conformal sets and coverage (from the calibrators
given). For grading, the GBM-vs-LGG outputs and the WHO grade outputs are reused independently (a promoted
grade model leaves the GBM-vs-LGG explanations as they were).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import lightgbm
import numpy as np
import polars as pl
import scipy

from contracts.schemas import (
    DAYS_PER_MONTH,
    GRADE_CLASSES,
    GRADING_SCORES_SCHEMA,
    SCORE_KEY,
    SURVIVAL_HORIZONS_MONTHS,
    SURVIVAL_SCORES_SCHEMA,
)
from models.conformal import ConformalCalibrator, binary_probability_matrix
from models.explain import Evaluation, evaluation_sentences
from models.grading import FittedClassifier
from models.survival import FittedSurvivalModel, assign_risk_groups

# The model outputs of each part of a score row: what one model version computes from one patient's features.
GBM_OUTPUTS: tuple[str, ...] = ("grade_probability_gbm", "predicted_class", "explanation")
GRADE_OUTPUTS: tuple[str, ...] = (
    *(f"grade_probability_{grade}" for grade in GRADE_CLASSES),
    "predicted_who_grade",
    "grade_explanation",
)
SURVIVAL_OUTPUTS: tuple[str, ...] = (
    "survival_risk_score",
    "risk_group",
    *(f"survival_probability_{m}m" for m in SURVIVAL_HORIZONS_MONTHS),
    "explanation",
)


@dataclass(frozen=True)
class EarlierScores:
    """Score rows written before and the model-matrix rows they were computed from. Only rows known to come
    from exactly `matrix` (and the current scoring code) belong here: see `rows_scored_from`."""

    scores: pl.DataFrame
    matrix: pl.DataFrame


@dataclass(frozen=True)
class Rescored:
    scores: pl.DataFrame
    # Per model-version column ("model_version", "grade_model_version"): rows whose model outputs were copied
    # from earlier scores, and rows the model computed.
    reused: dict[str, int]
    computed: dict[str, int]


def _release_rows(matrix: pl.DataFrame, release: str) -> pl.DataFrame:
    other = matrix.filter(pl.col("release") != release)
    if other.height:
        raise ValueError(
            f"scoring release {release}: the matrix holds {other.height} row(s) of release {other['release'][0]} "
            f"(e.g. case {other['case_id'][0]}); score one release at a time"
        )
    duplicated = matrix.filter(pl.col("case_id").is_duplicated())
    if duplicated.height:
        raise ValueError(f"scoring release {release}: case {duplicated['case_id'][0]} has more than one matrix row")
    return matrix


def _features(matrix: pl.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
    missing = [name for name in feature_names if name not in matrix.columns]
    if missing:
        raise ValueError(f"the model needs feature(s) {missing} that the matrix lacks (feature-set mismatch)")
    return matrix.select(feature_names).cast(pl.Float64).to_numpy()


# -- reuse of earlier model outputs --------------------------------------------------------------------------


@functools.cache
def scoring_code_version() -> str:
    """A hash of everything besides the model and the features that a score row's model outputs depend on:
    the scoring, explanation and model code and the numeric libraries. Earlier rows are reused only when it
    is unchanged (an edited phrase or a new LightGBM rescores everything). Taken when this module is
    imported, so it describes the code that runs, not a file edited since."""
    import contracts.panels
    import contracts.schemas
    import models.cox
    import models.explain
    import models.grading
    import models.lightgbm_trees
    import models.metrics
    import models.pattern_shap
    import models.survival

    digest = hashlib.sha256(
        f"lightgbm {lightgbm.__version__} numpy {np.__version__} scipy {scipy.__version__} "
        f"polars {pl.__version__}".encode()
    )
    for module in (
        sys.modules[__name__],
        models.explain,
        models.lightgbm_trees,
        models.pattern_shap,
        models.grading,
        models.survival,
        models.cox,
        models.metrics,
        contracts.panels,
        contracts.schemas,
    ):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ScoringInputs:
    """What the rows a scoring run wrote were computed from: the model matrix (`lake.store.content_hash`
    of the frame read) and the scoring code (`scoring_code_version`). Recorded per group of rows
    (`score_group`) in each written scores partition's own footer (`scoring_record_metadata`)."""

    matrix_content_hash: str
    scoring_code: str

    def to_json(self) -> dict[str, str]:
        return {"matrix_content_hash": self.matrix_content_hash, "scoring_code": self.scoring_code}


def score_group(scores: pl.DataFrame) -> pl.Series:
    """Which scoring produced each row: its model version, and for grading rows also the WHO grade model."""
    if "grade_model_version" in scores.columns:
        return (
            scores.select(
                pl.concat_str([pl.col("model_version"), pl.col("grade_model_version").fill_null("")], separator="|")
            )
            .to_series()
            .alias("score_group")
        )
    return scores["model_version"].alias("score_group")


def rows_scored_from(
    scores: pl.DataFrame, record: Mapping[str, Mapping[str, str]] | None, inputs: ScoringInputs
) -> pl.DataFrame:
    """The rows of an earlier scores partition whose group `record` (that partition's `scoring_record`) says
    was computed from exactly `inputs`; none when the partition has no record."""
    if not record:
        return scores.clear()
    groups = [group for group, recorded in record.items() if dict(recorded) == inputs.to_json()]
    return scores.filter(score_group(scores).is_in(pl.Series(groups, dtype=pl.String).implode()))


def scoring_record(
    history: pl.DataFrame,
    scored: pl.DataFrame,
    inputs: ScoringInputs,
    earlier_record: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, dict[str, str]]:
    """The record of a written scores partition (`history`): the rows just `scored` come from `inputs`; rows
    kept from the earlier partition keep what `earlier_record` (that partition's record) says, or none."""
    current = set(score_group(scored).unique().to_list())
    record: dict[str, dict[str, str]] = {}
    for group in sorted(score_group(history).unique().to_list()):
        if group in current:
            record[group] = inputs.to_json()
        elif earlier_record and group in earlier_record:
            record[group] = dict(earlier_record[group])
    return record


# Parquet footer key of a scores partition's `scoring_record` (JSON). The record travels with the rows it
# describes, so reuse needs neither the Dagster instance that wrote them nor the directory they were written
# in: it holds content hashes and code versions only, never a path.
SCORED_FROM_KEY = "glioma.scored_from"


def scoring_record_metadata(record: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Footer key-value metadata holding `record` (`lake.store.Lake.write_table(..., metadata=...)`)."""
    return {SCORED_FROM_KEY: json.dumps({group: dict(inputs) for group, inputs in record.items()}, sort_keys=True)}


def scoring_record_from_metadata(metadata: Mapping[str, str]) -> dict[str, dict[str, str]] | None:
    """The record in a scores partition's footer metadata (`lake.store.Lake.footer_metadata`); None when the
    file has none (written before records were kept in the file) or it cannot be read, so its rows are
    computed again rather than trusted."""
    try:
        record = json.loads(metadata.get(SCORED_FROM_KEY) or "null")
    except ValueError:
        return None
    valid = isinstance(record, dict) and all(
        isinstance(inputs, dict) and all(isinstance(value, str) for value in inputs.values())
        for inputs in record.values()
    )
    return record if valid and record else None


_EARLIER = "__earlier"


def _same_bits(now: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Row-wise: every value bit-identical (any NaN equal to any NaN: the models and phrases treat them alike)."""
    now = np.where(np.isnan(now), np.nan, now)
    then = np.where(np.isnan(then), np.nan, then)
    return (now.view(np.uint64) == then.view(np.uint64)).all(axis=1)


def _reused_outputs(
    rows: pl.DataFrame,
    feature_names: Sequence[str],
    version_column: str,
    version: str,
    outputs: Sequence[str],
    schema: Mapping[str, pl.DataType],
    earlier: Sequence[EarlierScores],
) -> pl.DataFrame:
    """case_id and `outputs` copied from earlier rows of model `version` whose matrix row held bit-identical
    feature values; the first source that has a case wins."""
    found = [pl.DataFrame(schema={"case_id": pl.String(), **{c: schema[c] for c in outputs}})]
    remaining = rows.select("case_id", *feature_names)
    for source in earlier:
        if remaining.is_empty():
            break
        if any(c not in source.scores.columns for c in (version_column, "case_id", *outputs)) or any(
            f not in source.matrix.columns for f in ("case_id", *feature_names)
        ):
            continue
        scored = (
            source.scores.filter(pl.col(version_column) == version)
            .select("case_id", *outputs)
            .unique("case_id", keep="first", maintain_order=True)
        )
        matrix = source.matrix.select("case_id", *feature_names).filter(~pl.col("case_id").is_duplicated())
        joined = remaining.join(matrix, on="case_id", how="inner", suffix=_EARLIER).join(scored, on="case_id")
        if joined.is_empty():
            continue
        same = _same_bits(
            _features(joined, feature_names), _features(joined, [f"{name}{_EARLIER}" for name in feature_names])
        )
        hit = joined.filter(pl.Series(same)).select("case_id", *[pl.col(c).cast(schema[c]) for c in outputs])
        found.append(hit)
        remaining = remaining.filter(~pl.col("case_id").is_in(hit["case_id"].implode()))
    return pl.concat(found)


def _model_outputs(
    rows: pl.DataFrame,
    feature_names: Sequence[str],
    version_column: str,
    version: str,
    outputs: Sequence[str],
    schema: Mapping[str, pl.DataType],
    earlier: Sequence[EarlierScores],
    compute: Callable[[pl.DataFrame], dict[str, object]],
) -> tuple[pl.DataFrame, int, int]:
    """`outputs` for every row of `rows`, in order: reused where possible, computed by `compute` for the
    rest (a model's outputs for a row do not depend on the other rows). Also (reused, computed) counts."""
    reused = _reused_outputs(rows, feature_names, version_column, version, outputs, schema, earlier)
    todo = rows.filter(~pl.col("case_id").is_in(reused["case_id"].implode()))
    frames = [reused]
    if todo.height:
        computed = pl.DataFrame({"case_id": todo["case_id"], **compute(todo)})
        frames.append(computed.select("case_id", *[pl.col(c).cast(schema[c]) for c in outputs]))
    combined = pl.concat(frames)
    ordered = rows.select("case_id").join(combined, on="case_id", how="left", maintain_order="left")
    return ordered, reused.height, todo.height


def _gbm_outputs(model: FittedClassifier, rows: pl.DataFrame) -> dict[str, object]:
    evaluation = Evaluation(model.booster, _features(rows, model.feature_names))
    probability_gbm = model.probability_from_raw(evaluation.raw_score)
    predicted_gbm = (probability_gbm >= 0.5).astype(int)
    return {
        "grade_probability_gbm": probability_gbm,
        "predicted_class": np.asarray(model.class_names, dtype=object)[predicted_gbm],
        "explanation": evaluation_sentences(evaluation, model.feature_names, task=model.task),
    }


def _grade_outputs(model: FittedClassifier, rows: pl.DataFrame) -> dict[str, object]:
    evaluation = Evaluation(model.booster, _features(rows, model.feature_names))
    probability = model.probability_from_raw(evaluation.raw_score)
    predicted_index = probability.argmax(axis=1)
    return {
        **{f"grade_probability_{grade}": probability[:, k] for k, grade in enumerate(GRADE_CLASSES)},
        "predicted_who_grade": np.asarray(GRADE_CLASSES, dtype=np.int8)[predicted_index],
        "grade_explanation": evaluation_sentences(
            evaluation,
            model.feature_names,
            task=model.task,
            predicted_class=predicted_index,
            class_names=model.class_names,
        ),
    }


def _survival_outputs(model: FittedSurvivalModel, rows: pl.DataFrame) -> dict[str, object]:
    evaluation = Evaluation(model.booster, _features(rows, model.feature_names))
    risk = evaluation.raw_score  # = model.risk_score(features), bit for bit
    survival = model.baseline.survival_probability(risk, np.asarray(SURVIVAL_HORIZONS_MONTHS) * DAYS_PER_MONTH)
    return {
        "survival_risk_score": risk,
        "risk_group": assign_risk_groups(risk, model.risk_cut_points).astype(str),
        **{f"survival_probability_{m}m": survival[:, k] for k, m in enumerate(SURVIVAL_HORIZONS_MONTHS)},
        "explanation": evaluation_sentences(evaluation, model.feature_names, task=model.task),
    }


# -- scoring -------------------------------------------------------------------------------------------------


def score_grading(
    matrix: pl.DataFrame,
    gbm_model: FittedClassifier,
    model_version: str,
    *,
    release: str,
    scored_at: datetime,
    grade_model: FittedClassifier | None = None,
    grade_model_version: str | None = None,
    training_case_ids: Collection[str] | None = None,
    grade_training_case_ids: Collection[str] | None = None,
    conformal: ConformalCalibrator | None = None,
    grade_conformal: ConformalCalibrator | None = None,
) -> pl.DataFrame:
    """Grading scores of one release. `training_case_ids`: the patients each model was fitted on, so every
    row says whether its score is in-sample; `conformal`: prediction sets at the calibrated coverage."""
    return rescore_grading(
        matrix,
        gbm_model,
        model_version,
        release=release,
        scored_at=scored_at,
        grade_model=grade_model,
        grade_model_version=grade_model_version,
        training_case_ids=training_case_ids,
        grade_training_case_ids=grade_training_case_ids,
        conformal=conformal,
        grade_conformal=grade_conformal,
    ).scores


def rescore_grading(
    matrix: pl.DataFrame,
    gbm_model: FittedClassifier,
    model_version: str,
    *,
    release: str,
    scored_at: datetime,
    grade_model: FittedClassifier | None = None,
    grade_model_version: str | None = None,
    training_case_ids: Collection[str] | None = None,
    grade_training_case_ids: Collection[str] | None = None,
    conformal: ConformalCalibrator | None = None,
    grade_conformal: ConformalCalibrator | None = None,
    earlier: Sequence[EarlierScores] = (),
) -> Rescored:
    """`score_grading`, copying each model's outputs from `earlier` rows of the same model version whose
    features were bit-identical (module docstring); the result is what `score_grading` would return."""
    rows = _release_rows(matrix, release)
    gbm, gbm_reused, gbm_computed = _model_outputs(
        rows,
        gbm_model.feature_names,
        "model_version",
        model_version,
        GBM_OUTPUTS,
        GRADING_SCORES_SCHEMA,
        earlier,
        lambda todo: _gbm_outputs(gbm_model, todo),
    )
    columns: dict[str, object] = {
        "release": release,
        "case_id": rows["case_id"],
        "model_version": model_version,
        "grade_model_version": grade_model_version,
        **{name: gbm[name] for name in GBM_OUTPUTS},
        "in_training_set": _in_training(rows, training_case_ids),
        "scored_at": scored_at,
    }
    reused, computed = {"model_version": gbm_reused}, {"model_version": gbm_computed}
    if conformal is not None:
        probability_gbm = gbm["grade_probability_gbm"].to_numpy()
        columns["prediction_set"] = _joined_sets(conformal, binary_probability_matrix(probability_gbm))
        columns["conformal_coverage"] = conformal.coverage
    if grade_model is not None:
        grade, grade_reused, grade_computed = _model_outputs(
            rows,
            grade_model.feature_names,
            "grade_model_version",
            grade_model_version,
            GRADE_OUTPUTS,
            GRADING_SCORES_SCHEMA,
            earlier if grade_model_version is not None else (),
            lambda todo: _grade_outputs(grade_model, todo),
        )
        columns.update({name: grade[name] for name in GRADE_OUTPUTS})
        columns["grade_in_training_set"] = _in_training(rows, grade_training_case_ids)
        if grade_conformal is not None:
            grade_probability = grade.select([f"grade_probability_{g}" for g in GRADE_CLASSES]).to_numpy()
            columns["grade_prediction_set"] = _joined_sets(grade_conformal, grade_probability)
        reused["grade_model_version"], computed["grade_model_version"] = grade_reused, grade_computed
    frame = pl.DataFrame(columns).with_columns(
        [pl.lit(None, dtype=dtype).alias(name) for name, dtype in GRADING_SCORES_SCHEMA.items() if name not in columns]
    )
    return Rescored(_conform(frame, GRADING_SCORES_SCHEMA), reused, computed)


def _in_training(rows: pl.DataFrame, case_ids: Collection[str] | None) -> pl.Series | None:
    if case_ids is None:
        return None  # unknown (a model stored before training rows were recorded)
    return rows["case_id"].is_in(pl.Series(list(case_ids), dtype=pl.String).implode())


def _joined_sets(calibrator: ConformalCalibrator, probability: np.ndarray) -> np.ndarray:
    """ "|".join of each patient's `calibrator.prediction_sets` (class names in column order), via the set mask:
    one string per possible set rather than one join per patient."""
    mask = calibrator.prediction_set_mask(probability)
    names = calibrator.class_names
    every_set = np.array(
        ["|".join(name for k, name in enumerate(names) if code >> k & 1) for code in range(2 ** len(names))],
        dtype=object,
    )
    return every_set[mask.astype(np.int64) @ (1 << np.arange(len(names), dtype=np.int64))]


def score_survival(
    matrix: pl.DataFrame,
    model: FittedSurvivalModel,
    model_version: str,
    *,
    release: str,
    scored_at: datetime,
    training_case_ids: Collection[str] | None = None,
) -> pl.DataFrame:
    return rescore_survival(
        matrix, model, model_version, release=release, scored_at=scored_at, training_case_ids=training_case_ids
    ).scores


def rescore_survival(
    matrix: pl.DataFrame,
    model: FittedSurvivalModel,
    model_version: str,
    *,
    release: str,
    scored_at: datetime,
    training_case_ids: Collection[str] | None = None,
    earlier: Sequence[EarlierScores] = (),
) -> Rescored:
    """`score_survival`, reusing earlier outputs as `rescore_grading` does."""
    rows = _release_rows(matrix, release)
    outputs, reused, computed = _model_outputs(
        rows,
        model.feature_names,
        "model_version",
        model_version,
        SURVIVAL_OUTPUTS,
        SURVIVAL_SCORES_SCHEMA,
        earlier,
        lambda todo: _survival_outputs(model, todo),
    )
    frame = pl.DataFrame(
        {
            "release": release,
            "case_id": rows["case_id"],
            "model_version": model_version,
            **{name: outputs[name] for name in SURVIVAL_OUTPUTS},
            "in_training_set": _in_training(rows, training_case_ids),
            "scored_at": scored_at,
        }
    )
    return Rescored(_conform(frame, SURVIVAL_SCORES_SCHEMA), {"model_version": reused}, {"model_version": computed})


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
    if frame.select(pl.struct(*SCORE_KEY).is_duplicated().any()).item():
        raise ValueError("scores are not unique on (case_id, release, model_version)")
    return frame


scoring_code_version()  # taken at import: the code that runs (see its docstring)
