"""A fair champion/challenger comparison: both *recipes* cross-validated on the same patients and folds.

Why: comparing the challenger's CV on release N+1 with the champion's stored CV on release N compares
two different patient sets, so the difference mixes the recipes' difference with sampling noise of the
cohorts (and a few new patients can move a CV mean by more than the promotion margin). Here the
champion's recipe (task, features, hyperparameter grid) is refit on the *new* matrix, both recipes run
on the same repeated stratified case folds, and the per-fold metric differences are paired by
(repeat, fold): the fold-to-fold variation common to both recipes (which patients are hard) cancels.

Decision rule (non-inferiority): with d = challenger - champion per fold (oriented so that positive is
better), promote the challenger iff the lower bound of the 95% Nadeau-Bengio corrected interval of the
mean of d is above -margin. Rationale: the challenger is the same or a newer recipe refit on more
patients, so it is the model we want unless the data say it is worse by more than the margin; the burden
of proof is on "worse", not on "better". Identical recipes give d = 0 exactly (the CV is run once and
reused) and are promoted: more data, no evidence of harm. A challenger whose interval reaches below
-margin is kept as challenger, both when the whole interval lies below -margin (it is worse) and when it
straddles -margin (harm larger than the margin cannot be ruled out). The margin must be positive: with
margin 0 the rule becomes a superiority test that an identical recipe can never pass.

If the champion's features are no longer all in the matrix (a column was renamed or dropped), the
champion recipe cannot be refit: the challenger is promoted and the reason names the missing columns.

New patients: the comparison also reports both recipes' out-of-fold predictions on `new_case_ids`
(the patients that arrived with the new release). Each case is tested once per repeat; its prediction
is the mean of its `n_repeats` out-of-fold predictions (probabilities for grading; the 24-month survival
probability for survival, see `_NEW_PATIENT_SURVIVAL_COLUMN`). The judged metric of each recipe on those
patients is reported (paired: same patients) with n; it is descriptive only and does not enter the
decision (a release adds tens of patients: far too few to decide on).

Pure: no Dagster, no I/O. `RecipeComparison.to_json()` is what the registry stores.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored

from contracts.schemas import GRADE_CLASSES
from models.cv import Fold, metrics_json
from models.grading import GBM_VS_LGG, WHO_GRADE, GradingCvResult, GradingData, cross_validate_grading, grading_data
from models.registry import PROMOTION_RULES
from models.survival import SURVIVAL_RISK, SurvivalCvResult, SurvivalData, cross_validate_survival, survival_data
from models.training import PARAM_GRID

CONFIDENCE = 0.95
INTERVAL_METHOD = "Nadeau-Bengio corrected resampled t (variance x (1/K + n_test/n_train), t with K-1 df)"
MIN_NEW_PATIENTS = 10  # below this the new-patient metric is not reported (None)
# Cox risk scores f(x) of different fold models are identified only up to an additive constant, so
# pooling them across folds would compare numbers on different scales; S(24 months | x) carries each
# model's Breslow baseline and is on one absolute scale. Ranking by -S(t) within a model is ranking by f.
_NEW_PATIENT_SURVIVAL_COLUMN = "survival_probability_24m"
# Keys of the LightGBM parameters the task fixes; a grid point overriding them would change the task.
_TASK_PARAM_KEYS = frozenset({"objective", "metric", "num_class"})
_TASKS = (GBM_VS_LGG, WHO_GRADE, SURVIVAL_RISK)

CvResult = GradingCvResult | SurvivalCvResult


@dataclass(frozen=True)
class Recipe:
    """What a model is trained from, apart from the data: task, feature list, hyperparameter grid.

    `feature_names` order matters (LightGBM's column sampling and tie-breaking follow it), as does the
    grid order (the first of equally good grid points wins), so both are hashed in order.
    """

    task: str
    feature_names: tuple[str, ...]
    grid: tuple[dict[str, Any], ...] = PARAM_GRID

    def __post_init__(self) -> None:
        if self.task not in _TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {_TASKS}")
        if isinstance(self.feature_names, str):
            raise TypeError("feature_names must be a sequence of column names, not one string")
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        object.__setattr__(self, "grid", tuple(dict(point) for point in self.grid))
        if not self.feature_names:
            raise ValueError("a recipe needs at least one feature")
        if len(set(self.feature_names)) != len(self.feature_names):
            raise ValueError(f"duplicated feature names in {list(self.feature_names)}")
        if not self.grid:
            raise ValueError("a recipe needs a non-empty hyperparameter grid")
        for point in self.grid:
            fixed = sorted(_TASK_PARAM_KEYS & set(point))
            if fixed:
                raise ValueError(f"grid point {point} sets {fixed}, which the task fixes")
            json.dumps(point, allow_nan=False)  # TypeError/ValueError now, not at fingerprint time

    def __hash__(self) -> int:  # the grid's dicts are unhashable; the fingerprint stands for the content
        return hash(self.fingerprint())

    def canonical(self) -> dict[str, Any]:
        return {"task": self.task, "feature_names": list(self.feature_names), "grid": [dict(p) for p in self.grid]}

    def fingerprint(self) -> str:
        """sha256 hex of (task, features, grid) as canonical JSON: equal recipes, equal fingerprints,
        in any process. The data are not part of it (that is the training fingerprint's job)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RecipeComparison:
    task: str
    metric: str
    margin: float
    champion_fingerprint: str
    challenger_fingerprint: str
    champion_summary: dict[str, dict[str, float]] | None  # None: the champion recipe could not be refit
    challenger_summary: dict[str, dict[str, float]]
    fold_keys: list[tuple[int, int]]  # (repeat, fold) of each paired difference
    fold_differences: list[float]  # challenger - champion (positive = challenger better)
    # NaN (null in to_json) when there is no paired comparison (the champion recipe could not be refit):
    # NaN rather than None so that formatting them never fails.
    difference_mean: float
    difference_ci_low: float
    difference_ci_high: float
    n_folds: int
    test_train_ratio: float  # mean n_test / mean n_train of the folds (the Nadeau-Bengio term)
    promote: bool
    reason: str
    new_patients: dict[str, Any]
    missing_champion_features: list[str] = field(default_factory=list)
    # Not stored in the registry: the CV results (the challenger's can be reused by the training step;
    # for identical recipes both are the same object) and the new patients' pooled predictions.
    champion_cv: CvResult | None = field(default=None, repr=False, compare=False)
    challenger_cv: CvResult | None = field(default=None, repr=False, compare=False)
    new_patient_predictions: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def decision(self) -> tuple[bool, str]:
        """(promote, reason), as `models.registry.register_model(decision=...)` takes it."""
        return self.promote, self.reason

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (no NaN/inf: they become null) for the registry's `comparison` column."""
        return _json_safe(
            {
                "task": self.task,
                "metric": self.metric,
                "margin": self.margin,
                "confidence": CONFIDENCE,
                "interval_method": INTERVAL_METHOD,
                "champion_fingerprint": self.champion_fingerprint,
                "challenger_fingerprint": self.challenger_fingerprint,
                "champion_summary": self.champion_summary,
                "challenger_summary": self.challenger_summary,
                "fold_keys": [list(key) for key in self.fold_keys],
                "fold_differences": self.fold_differences,
                "difference_mean": self.difference_mean,
                "difference_ci_low": self.difference_ci_low,
                "difference_ci_high": self.difference_ci_high,
                "n_folds": self.n_folds,
                "test_train_ratio": self.test_train_ratio,
                "promote": self.promote,
                "reason": self.reason,
                "new_patients": self.new_patients,
                "missing_champion_features": self.missing_champion_features,
            }
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# --- statistics ----------------------------------------------------------------------------------------


def corrected_resampled_t_interval(
    differences: Sequence[float], test_train_ratio: float, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """(mean, low, high) of the mean of K paired fold differences, Nadeau & Bengio (2003).

    The K = n_splits x n_repeats folds are not independent: any two training sets share most of their
    patients (and test sets of different repeats overlap), so the fold differences are positively
    correlated and their sample variance / K underestimates the variance of their mean; the naive paired
    t interval is too narrow and a "significant" difference is often noise. Nadeau & Bengio's correction
    replaces 1/K by 1/K + n_test/n_train (for 5-fold CV n_test/n_train = 1/4, so with K = 25 the
    variance grows 7.25-fold), with a t distribution on K - 1 degrees of freedom (Bouckaert & Frank 2004
    for repeated k-fold). It is a heuristic, conservative for repeated CV; we want conservative here.
    """
    d = np.asarray(differences, dtype=np.float64)
    k = d.size
    if k < 2:
        raise ValueError(f"need at least 2 paired folds for an interval, got {k}")
    mean = float(d.mean())
    variance = float(d.var(ddof=1))
    if variance == 0.0:  # identical recipes: d is exactly constant
        return mean, mean, mean
    half_width = float(stats.t.ppf(0.5 + confidence / 2, df=k - 1)) * math.sqrt(variance * (1 / k + test_train_ratio))
    return mean, mean - half_width, mean + half_width


def non_inferiority(
    differences: Sequence[float],
    test_train_ratio: float,
    *,
    margin: float,
    metric: str,
    champion_mean: float,
    challenger_mean: float,
    identical_on: int | None = None,
) -> tuple[bool, str, float, float, float]:
    """The promotion rule (module docstring) on paired fold differences (challenger - champion, positive = better):
    (promote, reason, mean, low, high). `identical_on`: the number of patients when both recipes are the same (the
    differences are then 0 by construction and the reason says so)."""
    mean, low, high = corrected_resampled_t_interval(differences, test_train_ratio)
    promote = bool(low > -margin)
    figures = (
        f"{metric} challenger - champion {mean:+.4f} on {len(differences)} paired folds, same patients "
        f"(95% corrected CI {low:+.4f} to {high:+.4f}; champion {champion_mean:.4f}, "
        f"challenger {challenger_mean:.4f}; margin {margin:.4f})"
    )
    if identical_on is not None:
        reason = f"promoted: identical recipe refit on {identical_on} patients, difference 0 by construction; {figures}"
    elif promote:
        reason = f"promoted: the lower bound is above -margin, no evidence the challenger is worse by more than the margin; {figures}"
    elif high < -margin:
        reason = f"kept as challenger: the whole interval is below -margin, the challenger is worse by more than the margin; {figures}"
    else:
        reason = f"kept as challenger: the interval reaches below -margin, harm larger than the margin cannot be ruled out; {figures}"
    return promote, reason, mean, low, high


def naive_paired_t_interval(differences: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The uncorrected paired t interval (folds treated as independent): too narrow; for reference."""
    d = np.asarray(differences, dtype=np.float64)
    k = d.size
    mean = float(d.mean())
    half_width = float(stats.t.ppf(0.5 + confidence / 2, df=k - 1)) * math.sqrt(float(d.var(ddof=1)) / k)
    return mean, mean - half_width, mean + half_width


# --- cross-validation of one recipe -------------------------------------------------------------------


def _task_data(matrix: pl.DataFrame, recipe: Recipe) -> GradingData | SurvivalData:
    if recipe.task == SURVIVAL_RISK:
        return survival_data(matrix, recipe.feature_names)
    return grading_data(matrix, recipe.feature_names, recipe.task)


def _cross_validate(
    data: GradingData | SurvivalData, recipe: Recipe, *, n_splits: int, n_repeats: int, seed: int
) -> CvResult:
    if isinstance(data, SurvivalData):
        return cross_validate_survival(
            data, n_splits=n_splits, n_repeats=n_repeats, seed=seed, baselines=False, grid=recipe.grid
        )
    return cross_validate_grading(
        data, recipe.task, n_splits=n_splits, n_repeats=n_repeats, seed=seed, grid=recipe.grid
    )


def _cv_model_name(task: str) -> str:
    return "lightgbm_cox" if task == SURVIVAL_RISK else f"lightgbm_{task}"


def _fold_metric(cv: CvResult, task: str, metric: str) -> pl.DataFrame:
    return cv.fold_metrics.filter(pl.col("model") == _cv_model_name(task)).select("repeat", "fold", metric)


def _check_same_folds(champion: Sequence[Fold], challenger: Sequence[Fold], case_ids: np.ndarray) -> None:
    """Both recipes must have been evaluated on exactly the same test cases in every (repeat, fold)."""
    if len(champion) != len(challenger):
        raise AssertionError(f"fold counts differ: champion {len(champion)}, challenger {len(challenger)}")
    for a, b in zip(champion, challenger, strict=True):
        if (a.repeat, a.fold) != (b.repeat, b.fold) or not np.array_equal(
            case_ids[a.test_index], case_ids[b.test_index]
        ):
            raise AssertionError(f"champion and challenger folds differ at repeat {a.repeat}, fold {a.fold}")


# --- new patients ------------------------------------------------------------------------------------


def _prediction_columns(task: str) -> list[str]:
    if task == GBM_VS_LGG:
        return ["probability_gbm"]
    if task == WHO_GRADE:
        return [f"probability_grade_{g}" for g in GRADE_CLASSES]
    return [_NEW_PATIENT_SURVIVAL_COLUMN]


def _pooled_predictions(cv: CvResult, task: str, case_ids: Sequence[str]) -> pl.DataFrame:
    """case_id + the mean over repeats of each case's out-of-fold prediction(s)."""
    columns = _prediction_columns(task)
    return (
        cv.out_of_fold.filter(pl.col("case_id").is_in(list(case_ids)))
        .group_by("case_id")
        .agg(*[pl.col(c).mean() for c in columns], pl.len().alias("n_repeats"))
        .sort("case_id")
    )


def _new_patient_metric(task: str, predictions: np.ndarray, endpoint: pl.DataFrame) -> float | None:
    """The judged metric on the new patients, or None when it is undefined or too noisy to report."""
    n = endpoint.height
    if n < MIN_NEW_PATIENTS:
        return None
    if task == SURVIVAL_RISK:
        death = endpoint["death_observed"].to_numpy().astype(bool)
        if not death.any():
            return None
        try:
            return float(
                concordance_index_censored(death, endpoint["overall_survival_days"].to_numpy(), -predictions[:, 0])[0]
            )
        except ValueError:  # no comparable pair
            return None
    label = endpoint["label_index"].to_numpy().astype(int)
    if np.unique(label).size < 2:
        return None
    if task == GBM_VS_LGG:
        return float(roc_auc_score(label, predictions[:, 0]))
    one_hot = np.eye(len(GRADE_CLASSES))[label]
    return float(roc_auc_score(one_hot.ravel(), predictions.ravel()))  # micro AUC, as in the CV


def _new_patients(
    task: str,
    data: GradingData | SurvivalData,
    new_case_ids: Sequence[str],
    champion_cv: CvResult | None,
    challenger_cv: CvResult,
    n_repeats: int,
) -> tuple[dict[str, Any], pl.DataFrame | None]:
    requested = sorted(set(map(str, new_case_ids)))
    if isinstance(data, SurvivalData):
        endpoint = pl.DataFrame(
            {
                "case_id": data.case_ids.astype(str),
                "overall_survival_days": data.overall_survival_days,
                "death_observed": data.death_observed,
            }
        )
    else:
        endpoint = pl.DataFrame({"case_id": data.case_ids.astype(str), "label_index": data.label_index})
    endpoint = endpoint.filter(pl.col("case_id").is_in(requested)).sort("case_id")
    columns = _prediction_columns(task)
    summary: dict[str, Any] = {
        "n_requested": len(requested),
        "n": endpoint.height,  # of those, with a label / usable endpoint for this task
        "pooling": f"mean of each case's out-of-fold predictions over the {n_repeats} repeats",
        "prediction": "P(GBM)" if task == GBM_VS_LGG else "P(grade 2/3/4)" if task == WHO_GRADE else "S(24 months)",
        "champion": None,
        "challenger": None,
        "difference": None,
    }
    if endpoint.height == 0:
        return summary, None
    frame = endpoint
    for role, cv in (("champion", champion_cv), ("challenger", challenger_cv)):
        if cv is None:
            continue
        pooled = _pooled_predictions(cv, task, endpoint["case_id"].to_list())
        if pooled.height != endpoint.height or pooled["case_id"].to_list() != endpoint["case_id"].to_list():
            raise AssertionError(f"{role}: not every new patient has an out-of-fold prediction")
        values = pooled.select(columns).to_numpy()
        summary[role] = _new_patient_metric(task, values, endpoint)
        frame = frame.with_columns(*[pl.Series(f"{role}_{column}", values[:, k]) for k, column in enumerate(columns)])
    if summary["champion"] is not None and summary["challenger"] is not None:
        summary["difference"] = summary["challenger"] - summary["champion"]
    return summary, frame


# --- the comparison ----------------------------------------------------------------------------------


def compare_recipes(
    matrix: pl.DataFrame,
    task: str,
    champion: Recipe,
    challenger: Recipe,
    *,
    new_case_ids: Sequence[str] = (),
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 20261122,
    margin: float | None = None,
) -> RecipeComparison:
    """Cross-validate both recipes on the same repeated stratified case folds of `matrix` (one release's
    rows: the caller filters) and decide by non-inferiority of the paired fold differences.

    The judged metric and default margin are `models.registry.PROMOTION_RULES[task]`. Survival baselines
    are off (only the LightGBM Cox model is compared).
    """
    if task not in PROMOTION_RULES:
        raise ValueError(f"no promotion rule for task {task!r}; have {sorted(PROMOTION_RULES)}")
    for role, recipe in (("champion", champion), ("challenger", challenger)):
        if recipe.task != task:
            raise ValueError(f"the {role} recipe is for task {recipe.task!r}, not {task!r}")
    rule = PROMOTION_RULES[task]
    margin = rule.margin if margin is None else float(margin)
    if not margin > 0:
        raise ValueError(f"the non-inferiority margin must be positive, got {margin}")
    if "release" in matrix.columns and matrix["release"].n_unique() > 1:
        raise ValueError(
            f"the matrix holds releases {sorted(matrix['release'].unique().to_list())}; pass one release's rows"
        )
    missing_challenger = [c for c in challenger.feature_names if c not in matrix.columns]
    if missing_challenger:
        raise ValueError(f"the challenger recipe needs column(s) {missing_challenger} that the matrix lacks")
    metric, sign = rule.metric, (1.0 if rule.higher_is_better else -1.0)
    champion_fp, challenger_fp = champion.fingerprint(), challenger.fingerprint()

    challenger_data = _task_data(matrix, challenger)
    challenger_cv = _cross_validate(challenger_data, challenger, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
    challenger_summary = metrics_json(challenger_cv.summary, _cv_model_name(task))
    challenger_mean = challenger_summary[metric]["mean"]

    missing_champion = [c for c in champion.feature_names if c not in matrix.columns]
    if missing_champion:
        new_patients, predictions = _new_patients(task, challenger_data, new_case_ids, None, challenger_cv, n_repeats)
        return RecipeComparison(
            task=task,
            metric=metric,
            margin=margin,
            champion_fingerprint=champion_fp,
            challenger_fingerprint=challenger_fp,
            champion_summary=None,
            challenger_summary=challenger_summary,
            fold_keys=[],
            fold_differences=[],
            difference_mean=math.nan,
            difference_ci_low=math.nan,
            difference_ci_high=math.nan,
            n_folds=0,
            test_train_ratio=math.nan,
            promote=True,
            reason=(
                f"promoted without a paired comparison: the champion recipe cannot be refit because the matrix "
                f"lacks its column(s) {missing_champion}; challenger {metric} {challenger_mean:.4f} "
                f"(mean of {len(challenger_cv.folds)} folds)"
            ),
            new_patients=new_patients,
            missing_champion_features=missing_champion,
            champion_cv=None,
            challenger_cv=challenger_cv,
            new_patient_predictions=predictions,
        )

    identical = champion_fp == challenger_fp
    if identical:
        champion_data, champion_cv = challenger_data, challenger_cv  # one CV run, reused: d is exactly 0
    else:
        champion_data = _task_data(matrix, champion)
        champion_cv = _cross_validate(champion_data, champion, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
    # Labelled rows do not depend on the features, so both recipes see the same cases in the same order
    # and the same seed gives the same folds; checked, because the pairing below relies on it.
    if not np.array_equal(champion_data.case_ids, challenger_data.case_ids):
        raise AssertionError("champion and challenger data hold different cases")
    _check_same_folds(champion_cv.folds, challenger_cv.folds, challenger_data.case_ids)

    paired = (
        _fold_metric(champion_cv, task, metric)
        .rename({metric: "champion"})
        .join(
            _fold_metric(challenger_cv, task, metric).rename({metric: "challenger"}), on=["repeat", "fold"], how="inner"
        )
        .filter(pl.col("champion").is_not_nan() & pl.col("challenger").is_not_nan())
        .sort("repeat", "fold")
    )
    # For identical recipes both columns come from the same CV object, so every difference is exactly 0.
    differences = [
        sign * (b - a) for a, b in zip(paired["champion"].to_list(), paired["challenger"].to_list(), strict=True)
    ]
    n_test = float(np.mean([f.test_index.size for f in challenger_cv.folds]))
    n_train = float(np.mean([f.train_index.size for f in challenger_cv.folds]))
    ratio = n_test / n_train
    champion_summary = metrics_json(champion_cv.summary, _cv_model_name(task))
    decision = non_inferiority(
        differences,
        ratio,
        margin=margin,
        metric=metric,
        champion_mean=champion_summary[metric]["mean"],
        challenger_mean=challenger_mean,
        identical_on=len(challenger_data.case_ids) if identical else None,
    )
    promote, reason, mean, low, high = decision
    new_patients, predictions = _new_patients(
        task, challenger_data, new_case_ids, champion_cv, challenger_cv, n_repeats
    )
    return RecipeComparison(
        task=task,
        metric=metric,
        margin=margin,
        champion_fingerprint=champion_fp,
        challenger_fingerprint=challenger_fp,
        champion_summary=champion_summary,
        challenger_summary=challenger_summary,
        fold_keys=list(zip(paired["repeat"].to_list(), paired["fold"].to_list(), strict=True)),
        fold_differences=differences,
        difference_mean=mean,
        difference_ci_low=low,
        difference_ci_high=high,
        n_folds=len(differences),
        test_train_ratio=ratio,
        promote=promote,
        reason=reason,
        new_patients=new_patients,
        champion_cv=champion_cv,
        challenger_cv=challenger_cv,
        new_patient_predictions=predictions,
    )
