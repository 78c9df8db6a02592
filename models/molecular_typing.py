"""Molecular typing: IDH-wildtype / IDH-mutant 1p/19q-codeleted / IDH-mutant non-codeleted, predicted from
what the lake holds besides those markers: expression, other genomic markers, histology and age.

The label comes from the lake's own marker calls (`harmonised.molecular_markers`): IDH wildtype, or IDH mutant
with the 1p/19q call; a patient without an IDH call (or IDH-mutant without a 1p/19q call) is unlabelled and is
what the model is for. Features never include the markers it predicts or anything computed from them
(`contracts.features.TYPING_EXCLUDED_COLUMNS`; `TypingData` refuses them).

Expression features are chosen inside each training fold (never on the patients they are tested on): the genes
with the largest one-way ANOVA F statistic across the three classes among the training patients with expression,
standardised with the training mean and SD (`ExpressionSelector`). Patients without expression get NaN there:
LightGBM routes missing values itself, the scikit-learn baselines impute the training median and see an
indicator column.

Models (`TYPING_MODELS`): LightGBM on the concatenated blocks (early fusion; the platform's family), late fusion of
one LightGBM per omics block (models.typing_fusion, which also scores a patient lacking a block by the blocks it
has), and the classic baselines of the literature on the same folds: L2-regularised logistic regression, an RBF SVM
with sigmoid-calibrated probabilities, a random forest and a small multilayer perceptron. Pure: no Dagster, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from analyses.matrix import ExpressionMatrix
from contracts.features import (
    EXPRESSION_FEATURE_PREFIX,
    MOLECULAR_TYPE,
    MOLECULAR_TYPE_CLASSES,
    TYPING_CLINICAL_FEATURES,
    TYPING_EXCLUDED_COLUMNS,
    TYPING_GENOMIC_FEATURES,
    TYPING_HISTOLOGY_FAMILIES,
    TYPING_HISTOLOGY_FEATURES,
)
from models.challenge import corrected_resampled_t_interval
from models.cv import Fold, repeated_stratified_case_folds
from models.metrics import multiclass_classification_metrics
from models.typing_fusion import LateFusionTyping

SEED = 20261205
EXPRESSION_GENES_SELECTED = 50  # per training fold, by ANOVA F
MIN_EXPRESSION_PATIENTS = 20  # a fold with fewer training patients with expression selects no genes
LIGHTGBM = "lightgbm"
LOGISTIC_REGRESSION = "logistic_regression"
SVM = "svm_rbf_calibrated"
RANDOM_FOREST = "random_forest"
MLP = "mlp"
LATE_FUSION = "late_fusion"  # one LightGBM per omics block, stacked (models.typing_fusion); LIGHTGBM is early fusion


class TypingInputError(ValueError):
    """A typing input the model cannot use (names the case, field and value)."""


# --- the label and the tabular blocks, from the harmonised tables ------------------------------------------------


def molecular_type_label() -> pl.Expr:
    """The 3-class label from `idh_status` and `codeletion_1p19q`; null when the calls do not determine it."""
    wildtype, codeleted, non_codeleted = MOLECULAR_TYPE_CLASSES
    return (
        pl.when(pl.col("idh_status") == "wildtype")
        .then(pl.lit(wildtype))
        .when((pl.col("idh_status") == "mutant") & pl.col("codeletion_1p19q").eq(True))
        .then(pl.lit(codeleted))
        .when((pl.col("idh_status") == "mutant") & pl.col("codeletion_1p19q").eq(False))
        .then(pl.lit(non_codeleted))
        .otherwise(None)
        .alias("molecular_type")
    )


def typing_frame(patients: pl.DataFrame, markers: pl.DataFrame) -> pl.DataFrame:
    """One row per patient of `patients`: case_id, molecular_type (label or null) and every tabular feature. The
    clinical and genomic features are the model matrix's own columns (transforms.features encodes them once, with
    its vocabulary checks); histology is added from the patients."""
    from transforms.features import build_model_matrix

    matrix = build_model_matrix(patients, markers).matrix.select(
        "case_id", *TYPING_CLINICAL_FEATURES, *TYPING_GENOMIC_FEATURES
    )
    histology = patients.select(
        "case_id",
        *(
            pl.when(pl.col("histology_family").is_in(list(TYPING_HISTOLOGY_FAMILIES)))
            .then((pl.col("histology_family") == family).cast(pl.Float64))
            .otherwise(None)
            .alias(f"histology_{family}")
            for family in TYPING_HISTOLOGY_FAMILIES
        ),
        # The pathologist's grade only (tumor_grade); a grade implied by the project or by markers is not histology.
        pl.when(pl.col("who_grade_source") == "tumor_grade")
        .then(pl.col("who_grade").cast(pl.Float64))
        .otherwise(None)
        .alias("histological_grade"),
    )
    label = markers.select("case_id", molecular_type_label())
    return (
        matrix.join(histology, on="case_id", how="left")
        .join(label, on="case_id", how="left")
        .select(
            "case_id", "molecular_type", *TYPING_CLINICAL_FEATURES, *TYPING_HISTOLOGY_FEATURES, *TYPING_GENOMIC_FEATURES
        )
        .sort("case_id")
    )


# --- the data a CV or a fit reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypingData:
    case_ids: NDArray  # (n,) str
    label: NDArray  # (n,) int class index, -1 where unlabelled
    tabular: NDArray  # (n, p) float, NaN where missing
    tabular_names: tuple[str, ...]
    expression: NDArray | None  # (n, genes) log2 normalised; NaN rows for patients without expression
    gene_names: tuple[str, ...]
    gene_ids: tuple[str, ...] = ()  # Ensembl ids of the expression columns (what a stored model names its genes by)

    def __post_init__(self) -> None:
        leaked = sorted(TYPING_EXCLUDED_COLUMNS & set(self.tabular_names))
        if leaked:
            raise TypingInputError(
                f"typing features {leaked} are the markers the model predicts (or derived from them)"
            )

    @property
    def labelled(self) -> NDArray[np.intp]:
        return np.flatnonzero(self.label >= 0)

    @property
    def has_expression(self) -> NDArray[np.bool_]:
        if self.expression is None:
            return np.zeros(self.case_ids.size, dtype=bool)
        return np.isfinite(self.expression).all(axis=1)


def typing_feature_names(*, with_histology: bool = True, with_genomic: bool = True) -> list[str]:
    """The tabular features of a typing design, in design order."""
    return [
        *TYPING_CLINICAL_FEATURES,
        *(TYPING_HISTOLOGY_FEATURES if with_histology else ()),
        *(TYPING_GENOMIC_FEATURES if with_genomic else ()),
    ]


def typing_data(
    frame: pl.DataFrame,
    expression: ExpressionMatrix | None = None,
    *,
    with_histology: bool = True,
    with_genomic: bool = True,
) -> TypingData:
    """`frame` from `typing_frame`; `expression` for the patients that have it (None: no expression block)."""
    names = typing_feature_names(with_histology=with_histology, with_genomic=with_genomic)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise TypingInputError(f"typing frame lacks column(s) {missing}")
    bad = frame.filter(pl.col("molecular_type").is_not_null() & ~pl.col("molecular_type").is_in(MOLECULAR_TYPE_CLASSES))
    if bad.height:
        row = bad.row(0, named=True)
        raise TypingInputError(
            f"case {row['case_id']} field molecular_type has value {row['molecular_type']!r}, "
            f"expected one of {list(MOLECULAR_TYPE_CLASSES)} or null"
        )
    case_ids = frame["case_id"].to_numpy().astype(str)
    label = (
        frame.select(
            pl.col("molecular_type").replace_strict(
                {c: k for k, c in enumerate(MOLECULAR_TYPE_CLASSES)}, default=-1, return_dtype=pl.Int64
            )
        )
        .to_series()
        .to_numpy()
    )
    tabular = frame.select(pl.col(n).cast(pl.Float64).fill_null(np.nan) for n in names).to_numpy()
    block = None
    genes: tuple[str, ...] = ()
    gene_ids: tuple[str, ...] = ()
    if expression is not None:
        block = np.full((case_ids.size, len(expression.gene_ids)), np.nan)
        row_of = {case: row for row, case in enumerate(expression.case_ids)}
        rows = np.array([row_of.get(case, -1) for case in case_ids])
        block[rows >= 0] = expression.log2_normalised[rows[rows >= 0]]
        genes, gene_ids = tuple(expression.gene_names), tuple(expression.gene_ids)
    return TypingData(case_ids, label, tabular, tuple(names), block, genes, gene_ids)


class ExpressionSelector:
    """The `k` genes with the largest ANOVA F across classes on the training rows, standardised with their
    training mean and SD. Fit on training rows only; transform any rows (NaN stays NaN)."""

    def __init__(self, k: int = EXPRESSION_GENES_SELECTED) -> None:
        self.k = k
        self.genes: NDArray[np.intp] = np.array([], dtype=np.intp)
        self.mean = np.array([])
        self.sd = np.array([])

    def fit(self, expression: NDArray, label: NDArray) -> ExpressionSelector:
        present = np.isfinite(expression).all(axis=1)
        values, classes = expression[present], label[present]
        if values.shape[0] < MIN_EXPRESSION_PATIENTS or np.unique(classes).size < 2:
            return self
        grand = values.mean(axis=0)
        between = np.zeros(values.shape[1])
        within = np.zeros(values.shape[1])
        for k in np.unique(classes):
            group = values[classes == k]
            centre = group.mean(axis=0)
            between += group.shape[0] * (centre - grand) ** 2
            within += ((group - centre) ** 2).sum(axis=0)
        n_groups = np.unique(classes).size
        f_statistic = (between / (n_groups - 1)) / np.maximum(within / (values.shape[0] - n_groups), 1e-12)
        f_statistic[values.std(axis=0) == 0] = -np.inf  # constant genes carry nothing
        order = np.argsort(-f_statistic, kind="stable")[: min(self.k, values.shape[1])]
        self.genes = np.sort(order[np.isfinite(f_statistic[order])])
        self.mean = values[:, self.genes].mean(axis=0)
        self.sd = np.maximum(values[:, self.genes].std(axis=0), 1e-6)
        return self

    def transform(self, expression: NDArray) -> NDArray:
        return (expression[:, self.genes] - self.mean) / self.sd


# --- models ------------------------------------------------------------------------------------------------------


class _LightGbmTyping:
    """Multiclass LightGBM with fixed, small-tree parameters (a few hundred patients)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, features: NDArray, label: NDArray) -> _LightGbmTyping:
        import lightgbm as lgb

        params = {
            "objective": "multiclass",
            "num_class": len(MOLECULAR_TYPE_CLASSES),
            "learning_rate": 0.05,
            "num_leaves": 7,
            "min_data_in_leaf": 10,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "num_threads": 1,
            "verbose": -1,
        }
        self.booster = lgb.train(params, lgb.Dataset(features, label=label), num_boost_round=200)
        return self

    def predict_proba(self, features: NDArray) -> NDArray:
        return self.booster.predict(features)


def _sklearn(estimator_factory: Callable[[int], object]) -> Callable[[int], object]:
    def build(seed: int) -> object:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # Missing values: the training median plus an indicator column per feature that had missing values.
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            estimator_factory(seed),
        )

    return build


def _logistic(seed: int) -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=0.5, max_iter=5000, random_state=seed)


def _svm(seed: int) -> object:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    return CalibratedClassifierCV(SVC(kernel="rbf", C=1.0, random_state=seed), method="sigmoid", cv=3)


def _forest(seed: int) -> object:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=seed, n_jobs=1)


def _mlp(seed: int) -> object:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-2, max_iter=2000, early_stopping=False, random_state=seed)


TYPING_MODELS: dict[str, Callable[[int], object]] = {
    LIGHTGBM: _LightGbmTyping,
    LOGISTIC_REGRESSION: _sklearn(_logistic),
    SVM: _sklearn(_svm),
    RANDOM_FOREST: _sklearn(_forest),
    MLP: _sklearn(_mlp),
    LATE_FUSION: lambda seed: LateFusionTyping(seed, _LightGbmTyping),
}


def design_blocks(tabular_names: Sequence[str], n_genes: int) -> dict[str, NDArray[np.intp]]:
    """The design matrix's columns per omics block (tabular features first, then the chosen genes)."""
    clinical = {*TYPING_CLINICAL_FEATURES, *TYPING_HISTOLOGY_FEATURES}
    return {
        "clinical": np.array([k for k, name in enumerate(tabular_names) if name in clinical], dtype=np.intp),
        "genomic": np.array([k for k, name in enumerate(tabular_names) if name not in clinical], dtype=np.intp),
        "expression": np.arange(len(tabular_names), len(tabular_names) + n_genes, dtype=np.intp),
    }


def _new_model(name: str, seed: int, tabular_names: Sequence[str], selector: ExpressionSelector | None) -> object:
    model = TYPING_MODELS[name](seed)
    if isinstance(model, LateFusionTyping):
        model.set_blocks(design_blocks(tabular_names, 0 if selector is None else selector.genes.size))
    return model


def _design(data: TypingData, selector: ExpressionSelector | None, rows: NDArray[np.intp]) -> NDArray:
    if selector is None or data.expression is None:
        return data.tabular[rows]
    return np.hstack([data.tabular[rows], selector.transform(data.expression[rows])])


@dataclass(frozen=True)
class TypingCvResult:
    fold_metrics: pl.DataFrame  # model, repeat, fold, metric columns
    predictions: pl.DataFrame  # model, repeat, case_id, has_expression, label, probability_<class>
    summary: pl.DataFrame  # model, metric, mean, std, low, high (Nadeau-Bengio 95 %), folds
    n_patients: int
    n_with_expression: int


def cross_validate_typing(
    data: TypingData,
    models: Sequence[str] = tuple(TYPING_MODELS),
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    seed: int = SEED,
) -> TypingCvResult:
    """Every model on the same repeated stratified folds of the labelled patients; expression genes are
    selected inside each training fold."""
    unknown = sorted(set(models) - set(TYPING_MODELS))
    if unknown:
        raise ValueError(f"unknown typing model(s) {unknown}; expected some of {list(TYPING_MODELS)}")
    labelled = data.labelled
    label = data.label[labelled]
    folds: list[Fold] = repeated_stratified_case_folds(
        data.case_ids[labelled], label, n_splits=n_splits, n_repeats=n_repeats, seed=seed
    )
    class_names = list(MOLECULAR_TYPE_CLASSES)
    metric_rows, prediction_frames = [], []
    with_expression = data.has_expression[labelled]
    for fold in folds:
        train, test = labelled[fold.train_index], labelled[fold.test_index]
        selector = None
        if data.expression is not None:
            selector = ExpressionSelector().fit(data.expression[train], data.label[train])
        train_x, test_x = _design(data, selector, train), _design(data, selector, test)
        for name in models:
            model = _new_model(name, seed + fold.repeat, data.tabular_names, selector)
            probability = model.fit(train_x, data.label[train]).predict_proba(test_x)
            metrics = typing_metrics(data.label[test], probability)
            metric_rows.append({"model": name, "repeat": fold.repeat, "fold": fold.fold, **metrics})
            prediction_frames.append(
                pl.DataFrame(
                    {
                        "model": name,
                        "repeat": fold.repeat,
                        "case_id": data.case_ids[test],
                        "has_expression": with_expression[fold.test_index],
                        "label": data.label[test],
                        **{f"probability_{c}": probability[:, k] for k, c in enumerate(class_names)},
                    }
                )
            )
    fold_metrics = pl.DataFrame(metric_rows)
    return TypingCvResult(
        fold_metrics=fold_metrics,
        predictions=pl.concat(prediction_frames),
        summary=summarise_with_intervals(fold_metrics, test_train_ratio=1 / (n_splits - 1)),
        n_patients=int(labelled.size),
        n_with_expression=int(with_expression.sum()),
    )


def typing_metrics(label: NDArray, probability: NDArray) -> dict[str, float]:
    """models.metrics' multiclass metrics plus the macro one-vs-rest AUC (NaN unless every class is present)."""
    class_names = list(MOLECULAR_TYPE_CLASSES)
    metrics = multiclass_classification_metrics(label, probability, class_names)
    per_class = [metrics[f"roc_auc_{c}"] for c in class_names if f"roc_auc_{c}" in metrics]
    metrics["roc_auc_macro"] = float(np.mean(per_class)) if len(per_class) == len(class_names) else float("nan")
    return metrics


def summarise_with_intervals(fold_metrics: pl.DataFrame, test_train_ratio: float) -> pl.DataFrame:
    """Per (model, metric): the mean over folds, their SD and the Nadeau-Bengio corrected 95 % interval of the mean."""
    rows = []
    long = fold_metrics.unpivot(index=["model", "repeat", "fold"], variable_name="metric").drop_nulls("value")
    for (model, metric), group in long.group_by("model", "metric", maintain_order=True):
        values = group["value"].to_numpy()
        mean, low, high = corrected_resampled_t_interval(values, test_train_ratio)
        if metric != "brier":  # AUC, accuracy, F1 and ECE live in [0, 1]; the t interval does not know it
            low, high = max(low, 0.0), min(high, 1.0)
        std = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        rows.append(
            {"model": model, "metric": metric, "mean": mean, "std": std, "low": low, "high": high, "folds": values.size}
        )
    return pl.DataFrame(rows)


def pooled_metrics(predictions: pl.DataFrame, model: str, subset: pl.Expr | None = None) -> dict[str, float]:
    """Metrics of a model's out-of-fold predictions pooled over folds (one repeat), optionally on a subset
    (e.g. `pl.col("has_expression")`), with n."""
    rows = predictions.filter(pl.col("model") == model, pl.col("repeat") == 0)
    if subset is not None:
        rows = rows.filter(subset)
    if rows.height == 0 or rows["label"].n_unique() < 2:
        return {"roc_auc_macro": float("nan"), "n": float(rows.height)}
    probability = rows.select(f"probability_{c}" for c in MOLECULAR_TYPE_CLASSES).to_numpy()
    metrics = typing_metrics(rows["label"].to_numpy(), probability)
    metrics["n"] = float(rows.height)
    return metrics


# --- the fitted model and the scores of every patient ----------------------------------------------------------

MIN_SCORING_FEATURES = 3  # a patient without expression needs this many known tabular features to be scored
CONFORMAL_COVERAGE = 0.9


@dataclass
class FittedTyping:
    """One model fit on every labelled patient, its expression genes chosen on them, and a split-conformal
    calibrator from the out-of-fold predictions of the same recipe (never the patients' own in-sample scores)."""

    model_name: str
    model: object
    selector: ExpressionSelector | None
    tabular_names: tuple[str, ...]
    selected_genes: tuple[str, ...]
    trained_case_ids: frozenset[str]
    conformal: object  # models.conformal.ConformalCalibrator
    selected_gene_ids: tuple[str, ...] = ()


def fit_typing(data: TypingData, cv: TypingCvResult, model_name: str = LIGHTGBM, seed: int = SEED) -> FittedTyping:
    from models.conformal import fit_conformal

    labelled = data.labelled
    selector = None
    if data.expression is not None:
        selector = ExpressionSelector().fit(data.expression[labelled], data.label[labelled])
    model = _new_model(model_name, seed, data.tabular_names, selector).fit(
        _design(data, selector, labelled), data.label[labelled]
    )
    oof = cv.predictions.filter(pl.col("model") == model_name, pl.col("repeat") == 0)
    if oof.is_empty():
        raise ValueError(f"the cross-validation has no out-of-fold predictions of {model_name!r} to calibrate on")
    conformal = fit_conformal(
        oof.select(f"probability_{c}" for c in MOLECULAR_TYPE_CLASSES).to_numpy(),
        oof["label"].to_numpy(),
        coverage=CONFORMAL_COVERAGE,
        class_names=MOLECULAR_TYPE_CLASSES,
    )
    genes = tuple(data.gene_names[g] for g in selector.genes) if selector is not None else ()
    gene_ids = tuple(data.gene_ids[g] for g in selector.genes) if selector is not None and data.gene_ids else ()
    return FittedTyping(
        model_name, model, selector, data.tabular_names, genes, frozenset(data.case_ids[labelled]), conformal, gene_ids
    )


def score_typing(fitted: FittedTyping, data: TypingData) -> pl.DataFrame:
    """Every patient with expression or >= MIN_SCORING_FEATURES known tabular features: class probabilities,
    the predicted class, the conformal set, the label from markers (when there is one) and whether the model
    trained on the patient (its score is then in-sample, not a prediction)."""
    if data.tabular_names != fitted.tabular_names:
        raise TypingInputError(
            f"features {list(data.tabular_names)} differ from the model's {list(fitted.tabular_names)}"
        )
    known = np.isfinite(data.tabular).sum(axis=1)
    scored = np.flatnonzero(data.has_expression | (known >= MIN_SCORING_FEATURES))
    probability = fitted.model.predict_proba(_design(data, fitted.selector, scored))
    names = np.asarray(MOLECULAR_TYPE_CLASSES)
    label = data.label[scored]
    return pl.DataFrame(
        {
            "case_id": data.case_ids[scored],
            "predicted_molecular_type": names[probability.argmax(axis=1)].tolist(),
            **{f"probability_{c}": probability[:, k] for k, c in enumerate(MOLECULAR_TYPE_CLASSES)},
            "prediction_set": fitted.conformal.prediction_sets(probability),
            "molecular_type_from_markers": [str(names[k]) if k >= 0 else None for k in label],
            "has_expression": data.has_expression[scored],
            "known_tabular_features": known[scored],
            "trained_on_patient": np.isin(data.case_ids[scored], list(fitted.trained_case_ids)),
            "model": fitted.model_name,
        },
        schema_overrides={"molecular_type_from_markers": pl.String, "prediction_set": pl.List(pl.String)},
    )


def feature_names(fitted: FittedTyping) -> list[str]:
    """The model's columns: the tabular features, then `expression_<gene>` for each gene chosen on the training
    patients (contracts.features.EXPRESSION_FEATURE_PREFIX)."""
    return [*fitted.tabular_names, *(f"{EXPRESSION_FEATURE_PREFIX}{gene}" for gene in fitted.selected_genes)]


def explain_typing(fitted: FittedTyping, data: TypingData, case_ids: Sequence[str], k: int = 3) -> pl.DataFrame:
    """Why the LightGBM typing model gave each patient its class, in words: the k features whose exact TreeSHAP
    contributions (LightGBM's pred_contrib, towards the predicted class) were largest."""
    from models.explain import contribution_sentences, contributions

    if fitted.model_name != LIGHTGBM:
        raise ValueError(f"explanations need the LightGBM typing model, not {fitted.model_name!r}")
    row_of = {case: row for row, case in enumerate(data.case_ids)}
    unknown = [case for case in case_ids if case not in row_of]
    if unknown:
        raise TypingInputError(f"cases {unknown[:5]} are not in the typing data")
    rows = np.array([row_of[case] for case in case_ids], dtype=np.intp)
    features = _design(data, fitted.selector, rows)
    booster = fitted.model.booster
    predicted = booster.predict(features).argmax(axis=1)
    contribution = contributions(booster, features, predicted)
    sentences = contribution_sentences(
        contribution,
        features,
        feature_names(fitted),
        k=k,
        task=MOLECULAR_TYPE,
        predicted_class=predicted,
        class_names=list(MOLECULAR_TYPE_CLASSES),
    )
    return pl.DataFrame(
        {
            "case_id": list(case_ids),
            "predicted_molecular_type": [MOLECULAR_TYPE_CLASSES[k] for k in predicted],
            "explanation": sentences,
        }
    )
