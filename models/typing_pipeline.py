"""Molecular typing as the platform runs it: a registry task (`molecular_type`) with a recipe, a training
fingerprint, artifacts stored and read back, the paired comparison with the champion, and a release's scores with
the WHO CNS5 class predicted where the markers cannot give it.

The registry recipe is LightGBM on the blocks the recipe names (models.molecular_typing): the baselines and late
fusion are compared on the same folds (`comparison_table`) and gate nothing. A stored model names its expression
genes by Ensembl id with the training mean and SD it standardises them with, so scoring a release reads only those
genes. Pure: no Dagster, no I/O.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

import models.molecular_typing
import models.typing_fusion
from contracts.features import MOLECULAR_TYPE, MOLECULAR_TYPE_CLASSES
from models.challenge import CONFIDENCE, INTERVAL_METHOD, non_inferiority
from models.conformal import ConformalCalibrator
from models.cv import metrics_json
from models.molecular_typing import (
    LIGHTGBM,
    TYPING_MODELS,
    ExpressionSelector,
    FittedTyping,
    TypingCvResult,
    TypingData,
    _LightGbmTyping,
    cross_validate_typing,
    explain_typing,
    fit_typing,
    pooled_metrics,
    score_typing,
    typing_data,
    typing_feature_names,
)
from models.registry import PROMOTION_RULES, RegistryEntry, model_version_name
from transforms.who_cns5 import CLASS_NOT_CLASSIFIABLE, classify_who_cns5

WILDTYPE, CODELETED, NON_CODELETED = MOLECULAR_TYPE_CLASSES
_CODE = (models.molecular_typing, models.typing_fusion)


@dataclass(frozen=True)
class TypingRecipe:
    """What a typing model is trained from apart from the data: the model family and the feature blocks."""

    model: str = LIGHTGBM
    with_expression: bool = True
    with_histology: bool = True
    with_genomic: bool = True

    def __post_init__(self) -> None:
        if self.model not in TYPING_MODELS:
            raise ValueError(f"unknown typing model {self.model!r}; expected one of {list(TYPING_MODELS)}")

    def canonical(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "with_expression": self.with_expression,
            "with_histology": self.with_histology,
            "with_genomic": self.with_genomic,
            "genes_selected": models.molecular_typing.EXPRESSION_GENES_SELECTED,
        }

    @property
    def label(self) -> str:
        blocks = [
            "age, sex",
            *(["histology"] if self.with_histology else []),
            *(["other markers"] if self.with_genomic else []),
            *(["expression"] if self.with_expression else []),
        ]
        return f"{self.model} on {' + '.join(blocks)}"


# No histology or histological grade: its output is a feature of the grading models where a marker is missing
# (contracts.features.PREDICTED_MARKER_FEATURES), and histology encodes the grading label. It costs nothing measurable
# (real dev cohort: macro AUC 0.989 without, 0.990 with; models/typing_comparison shows both).
REGISTRY_RECIPE = TypingRecipe(with_histology=False)
# The comparison beside the registry model: every family on all blocks, then LightGBM without a block.
COMPARED_RECIPES: tuple[TypingRecipe, ...] = (
    *(TypingRecipe(model=name) for name in TYPING_MODELS),
    TypingRecipe(with_expression=False),
    TypingRecipe(with_histology=False),
    TypingRecipe(with_expression=False, with_histology=False),
)


def recipe_view(full: TypingData, recipe: TypingRecipe) -> TypingData:
    """The recipe's columns of the data built with every block (`typing_data(frame, expression)`). The expression
    block is shared, not copied: n patients x genes x 8 bytes once (780 x 60,660: 380 MB) whatever the number of
    recipes."""
    names = typing_feature_names(with_histology=recipe.with_histology, with_genomic=recipe.with_genomic)
    columns = [full.tabular_names.index(name) for name in names]
    with_expression = recipe.with_expression and full.expression is not None
    return replace(
        full,
        tabular=full.tabular[:, columns],
        tabular_names=tuple(names),
        expression=full.expression if with_expression else None,
        gene_names=full.gene_names if with_expression else (),
        gene_ids=full.gene_ids if with_expression else (),
    )


def recipe_data(frame: pl.DataFrame, expression: Any, recipe: TypingRecipe) -> TypingData:
    """The recipe's view of a typing frame (models.molecular_typing.typing_frame) and the release's expression."""
    return recipe_view(typing_data(frame, expression), recipe)


def typing_code_fingerprint() -> str:
    digest = hashlib.sha256()
    for module in _CODE:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


def _data_digest(data: TypingData) -> str:
    digest = hashlib.sha256()
    digest.update("\x1f".join(data.case_ids.tolist()).encode())
    digest.update("\x1f".join(data.tabular_names).encode() + "\x1f".join(data.gene_ids).encode())
    for array in (data.label, data.tabular, data.expression):
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    return digest.hexdigest()


def typing_training_fingerprint(
    recipes: TypingRecipe | tuple[TypingRecipe, ...], data: TypingData, n_splits: int, n_repeats: int, seed: int
) -> str:
    """Content hash of the recipe(s), the CV plan, the typing code and the rows (ids, labels, features, expression):
    equal fingerprints, retraining would give the same model. `data`: the recipe's view, or for several recipes the
    data with every block (hashed once)."""
    recipes = (recipes,) if isinstance(recipes, TypingRecipe) else tuple(recipes)
    plan = {
        "recipes": [recipe.canonical() for recipe in recipes],
        "cv": [n_splits, n_repeats, seed],
        "code": typing_code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode() + _data_digest(data).encode()).hexdigest()


# --- training for the registry -------------------------------------------------------------------------------------


def cv_metrics_json(cv: TypingCvResult, model: str) -> dict[str, dict[str, float]]:
    """models.cv.metrics_json ({metric: {mean, std, folds}}, as the registry stores CV metrics) plus low/high, the
    Nadeau-Bengio 95 % interval of the mean."""
    intervals = {row["metric"]: row for row in cv.summary.filter(pl.col("model") == model).iter_rows(named=True)}
    return {
        metric: {**summary, "low": intervals[metric]["low"], "high": intervals[metric]["high"]}
        for metric, summary in metrics_json(cv.summary, model).items()
    }


@dataclass(frozen=True)
class TrainedTyping:
    recipe: TypingRecipe
    fitted: FittedTyping
    cv: TypingCvResult
    entry: RegistryEntry  # status and decision are filled in by models.registry.register_model
    training_rows: pl.DataFrame  # case_id, label_index (models.pipeline.TRAINING_ROWS_SCHEMA's first columns)

    @property
    def model_version(self) -> str:
        return self.entry.model_version


def train_typing(
    data: TypingData,
    recipe: TypingRecipe,
    *,
    release: str,
    code_version: str,
    feature_set_version: str,
    n_splits: int,
    n_repeats: int,
    seed: int,
    cv: TypingCvResult | None = None,
) -> TrainedTyping:
    """Cross-validate the recipe (unless the comparison already did, on the same folds), fit it on every labelled
    patient with its conformal calibrator, and describe it for the registry."""
    if recipe.model != LIGHTGBM:
        raise ValueError(f"the registry stores LightGBM typing models; {recipe.model!r} is a baseline")
    if data.labelled.size == 0:
        raise ValueError("no patient of the release has a molecular type from its markers: nothing to train on")
    if cv is None:
        cv = cross_validate_typing(data, (recipe.model,), n_splits=n_splits, n_repeats=n_repeats, seed=seed)
    fitted = fit_typing(data, cv, recipe.model, seed=seed)
    fingerprint = typing_training_fingerprint(recipe, data, n_splits, n_repeats, seed)
    parameters = {
        "recipe": recipe.canonical(),
        "cv": {"n_splits": n_splits, "n_repeats": n_repeats, "seed": seed},
        "selected_genes": list(fitted.selected_genes),
        "tabular_features": list(fitted.tabular_names),
    }
    entry = RegistryEntry(
        model_version=model_version_name(
            MOLECULAR_TYPE, release, {"parameters": parameters, "fingerprint": fingerprint, "code": code_version}
        ),
        task=MOLECULAR_TYPE,
        training_release=release,
        feature_set_version=feature_set_version,
        parameters=parameters,
        cv_metrics=cv_metrics_json(cv, recipe.model),
        training_rows=int(data.labelled.size),
        code_version=code_version,
        training_fingerprint=fingerprint,
    )
    labelled = data.labelled
    training_rows = pl.DataFrame(
        {"case_id": data.case_ids[labelled].astype(str), "label_index": data.label[labelled].astype(np.int64)}
    )
    return TrainedTyping(recipe, fitted, cv, entry, training_rows)


def typing_artifacts(trained: TrainedTyping) -> tuple[str, dict[str, Any]]:
    """(LightGBM model text, metadata JSON) as models.registry.write_model_artifacts stores them."""
    fitted = trained.fitted
    selector = fitted.selector
    metadata = {
        "task": MOLECULAR_TYPE,
        "recipe": trained.recipe.canonical(),
        "class_names": list(MOLECULAR_TYPE_CLASSES),
        "tabular_features": list(fitted.tabular_names),
        "expression_gene_ids": list(fitted.selected_gene_ids),
        "expression_gene_names": list(fitted.selected_genes),
        "expression_mean": selector.mean.tolist() if selector is not None else [],
        "expression_sd": selector.sd.tolist() if selector is not None else [],
        "conformal": json.loads(fitted.conformal.to_json()),
        "training_release": trained.entry.training_release,
        "cv_metrics": trained.entry.cv_metrics,
        "training_rows": trained.entry.training_rows,
        "code_version": trained.entry.code_version,
    }
    return fitted.model.booster.model_to_string(), metadata


def load_typing(model_text: str, metadata: dict[str, Any], training_case_ids: list[str] | None) -> FittedTyping:
    """A stored typing model. Its expression block is the stored genes in stored order (`model_expression`)."""
    import lightgbm as lgb

    if list(metadata.get("class_names", [])) != list(MOLECULAR_TYPE_CLASSES):
        raise ValueError(f"stored classes {metadata.get('class_names')} differ from {list(MOLECULAR_TYPE_CLASSES)}")
    model = _LightGbmTyping(seed=0)
    model.booster = lgb.Booster(model_str=model_text)
    gene_ids = tuple(metadata["expression_gene_ids"])
    selector = None
    if metadata["recipe"]["with_expression"]:
        selector = ExpressionSelector(k=len(gene_ids))
        selector.genes = np.arange(len(gene_ids), dtype=np.intp)
        selector.mean = np.asarray(metadata["expression_mean"], dtype=np.float64)
        selector.sd = np.asarray(metadata["expression_sd"], dtype=np.float64)
    return FittedTyping(
        model_name=LIGHTGBM,
        model=model,
        selector=selector,
        tabular_names=tuple(metadata["tabular_features"]),
        selected_genes=tuple(metadata["expression_gene_names"]),
        trained_case_ids=frozenset(training_case_ids or ()),
        conformal=ConformalCalibrator.from_json(json.dumps(metadata["conformal"])),
        selected_gene_ids=gene_ids,
    )


@dataclass(frozen=True)
class ModelExpression:
    """The model's genes of a release as models.molecular_typing.typing_data reads them."""

    case_ids: list[str]
    gene_ids: list[str]
    gene_names: list[str]
    log2_normalised: NDArray  # patients x model genes; NaN where the release lacks a gene


def model_expression(long: pl.DataFrame, fitted: FittedTyping) -> ModelExpression:
    """`long`: case_id, gene_id, log2_normalised_count of the release (already restricted to the model's genes and
    to the sample used per patient). A gene the release lacks is NaN for everyone (LightGBM routes it as missing)."""
    gene_ids = list(fitted.selected_gene_ids)
    case_ids = sorted(long["case_id"].unique().to_list())
    values = np.full((len(case_ids), len(gene_ids)), np.nan)
    if gene_ids and case_ids:
        row = {case: k for k, case in enumerate(case_ids)}
        column = {gene: k for k, gene in enumerate(gene_ids)}
        present = long.filter(pl.col("gene_id").is_in(gene_ids))
        values[
            np.array([row[c] for c in present["case_id"].to_list()], dtype=np.intp),
            np.array([column[g] for g in present["gene_id"].to_list()], dtype=np.intp),
        ] = present["log2_normalised_count"].to_numpy()
    return ModelExpression(case_ids, gene_ids, list(fitted.selected_genes), values)


# --- the paired comparison with the champion ---------------------------------------------------------------------


def compare_typing(
    data_by_recipe: dict[TypingRecipe, TypingData],
    champion: TypingRecipe,
    challenger: TypingRecipe,
    *,
    n_splits: int,
    n_repeats: int,
    seed: int,
) -> tuple[bool, str, dict[str, Any], TypingCvResult]:
    """Both recipes on the same folds (the folds depend only on the labelled patients and the seed), decided by
    models.challenge's non-inferiority rule on the paired macro-AUC differences. Returns (promote, reason, comparison
    JSON, the challenger's CV)."""
    rule = PROMOTION_RULES[MOLECULAR_TYPE]
    challenger_cv = cross_validate_typing(
        data_by_recipe[challenger], (challenger.model,), n_splits=n_splits, n_repeats=n_repeats, seed=seed
    )
    if champion == challenger:
        champion_cv = challenger_cv  # every difference is exactly 0
    else:
        champion_cv = cross_validate_typing(
            data_by_recipe[champion], (champion.model,), n_splits=n_splits, n_repeats=n_repeats, seed=seed
        )
    keys = ["repeat", "fold"]
    paired = (
        challenger_cv.fold_metrics.select(*keys, pl.col(rule.metric).alias("challenger"))
        .join(champion_cv.fold_metrics.select(*keys, pl.col(rule.metric).alias("champion")), on=keys)
        .sort(keys)
        .drop_nans()
        .drop_nulls()
    )
    differences = (paired["challenger"] - paired["champion"]).to_list()
    if len(differences) < 2:
        return True, "promoted: fewer than 2 folds with a macro AUC to compare on", {}, challenger_cv
    promote, reason, mean, low, high = non_inferiority(
        differences,
        1 / (n_splits - 1),
        margin=rule.margin,
        metric=rule.metric,
        champion_mean=float(paired["champion"].mean()),
        challenger_mean=float(paired["challenger"].mean()),
        identical_on=int(challenger_cv.n_patients) if champion == challenger else None,
    )
    comparison = {
        "task": MOLECULAR_TYPE,
        "metric": rule.metric,
        "margin": rule.margin,
        "confidence": CONFIDENCE,
        "interval_method": INTERVAL_METHOD,
        "champion_recipe": champion.canonical(),
        "challenger_recipe": challenger.canonical(),
        "fold_keys": paired.select(keys).rows(),
        "fold_differences": differences,
        "difference_mean": mean,
        "difference_ci_low": low if np.isfinite(low) else None,
        "difference_ci_high": high if np.isfinite(high) else None,
        "n_folds": len(differences),
        "promote": promote,
        "reason": reason,
    }
    return promote, reason, comparison, challenger_cv


def comparison_table(
    full: TypingData,
    recipes: tuple[TypingRecipe, ...] = COMPARED_RECIPES,
    *,
    n_splits: int,
    n_repeats: int,
    seed: int,
) -> pl.DataFrame:
    """Every recipe on the same folds: per metric the CV mean and its Nadeau-Bengio interval, and the pooled
    out-of-fold macro AUC of patients with and without expression, with n. `full`: the data with every block.
    Recipes that see the same blocks share one cross-validation (the genes are chosen once per fold for all of them)."""
    frames = []
    blocks = {}
    for recipe in recipes:
        blocks.setdefault((recipe.with_expression, recipe.with_histology, recipe.with_genomic), []).append(recipe)
    for group in blocks.values():
        families = tuple(recipe.model for recipe in group)
        cv = cross_validate_typing(
            recipe_view(full, group[0]), families, n_splits=n_splits, n_repeats=n_repeats, seed=seed
        )
        for recipe in group:
            summary = cv.summary.filter(pl.col("model") == recipe.model).rename({"model": "family"})
            pooled = []
            for subset, expr in (
                ("with_expression", pl.col("has_expression")),
                ("without_expression", ~pl.col("has_expression")),
            ):
                metrics = pooled_metrics(cv.predictions, recipe.model, expr)
                pooled.append(
                    {
                        "family": recipe.model,
                        "metric": f"pooled_roc_auc_macro_{subset}",
                        "mean": metrics["roc_auc_macro"],
                        "low": None,
                        "high": None,
                        "folds": int(metrics["n"]),
                    }
                )
            frames.append(
                pl.concat([summary, pl.DataFrame(pooled, schema=summary.schema)], how="vertical_relaxed").with_columns(
                    pl.lit(recipe.label).alias("recipe"),
                    pl.lit(recipe.with_expression).alias("with_expression"),
                    pl.lit(recipe.with_histology).alias("with_histology"),
                    pl.lit(recipe == REGISTRY_RECIPE).alias("is_registry_recipe"),
                    pl.lit(cv.n_patients).alias("n_patients"),
                    pl.lit(cv.n_with_expression).alias("n_with_expression"),
                )
            )
    return pl.concat(frames, how="vertical_relaxed")


# --- a release's scores, with the WHO CNS5 class predicted where the markers cannot give it -------------------------


def score_release(
    fitted: FittedTyping,
    frame: pl.DataFrame,
    expression: ModelExpression | None,
    recipe: TypingRecipe,
    patients: pl.DataFrame,
    markers: pl.DataFrame,
) -> pl.DataFrame:
    """Every scorable patient: the 3 class probabilities, predicted type, conformal set, explanation in words, and for
    patients whose markers do not give the type, the WHO CNS5 class the rule gives with the predicted IDH and 1p/19q
    (`who_cns5_class_predicted`; the other markers as called)."""
    data = recipe_data(frame, expression, recipe)
    scores = score_typing(fitted, data)
    if scores.height:
        explained = explain_typing(fitted, data, scores["case_id"].to_list())
        scores = scores.join(explained.select("case_id", "explanation"), on="case_id", how="left")
    else:
        scores = scores.with_columns(pl.lit(None, pl.String).alias("explanation"))
    scores = scores.rename({"trained_on_patient": "in_training_set"}).with_columns(
        pl.max_horizontal(*(f"probability_{c}" for c in MOLECULAR_TYPE_CLASSES)).alias("predicted_probability"),
        pl.col("prediction_set").list.join("|").alias("prediction_set"),
        pl.lit(fitted.conformal.coverage).alias("conformal_coverage"),
    )
    return scores.join(predicted_who_cns5(patients, markers, scores), on="case_id", how="left")


def predicted_who_cns5(patients: pl.DataFrame, markers: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """case_id, who_cns5_class_predicted, who_cns5_grade_predicted, who_cns5_basis_predicted for the scored patients
    without a molecular type from their markers: transforms.who_cns5's rule (declared once) applied with IDH and
    1p/19q set from the predicted type."""
    untyped = scores.filter(pl.col("molecular_type_from_markers").is_null()).select(
        "case_id",
        "predicted_molecular_type",
        "predicted_probability",
        # IDH-mutant with 1p/19q unknown: the codeletion the model finds more probable among the mutant classes.
        (pl.col(f"probability_{CODELETED}") > pl.col(f"probability_{NON_CODELETED}")).alias("_codeleted_if_mutant"),
    )
    columns = {
        "case_id": pl.String,
        "who_cns5_class_predicted": pl.String,
        "who_cns5_grade_predicted": pl.Int8,
        "who_cns5_basis_predicted": pl.String,
    }
    if untyped.is_empty():
        return pl.DataFrame(schema=columns)
    predicted = patients.select("case_id", "release", "submitter_id").join(untyped, on="case_id", how="inner")
    # A call the markers did make is kept (an IDH-mutant patient without a 1p/19q call stays IDH-mutant).
    idh = pl.coalesce(
        pl.col("idh_status"),
        pl.when(pl.col("predicted_molecular_type") == WILDTYPE).then(pl.lit("wildtype")).otherwise(pl.lit("mutant")),
    )
    marker_rows = (
        predicted.join(markers.drop("release", "submitter_id"), on="case_id", how="left")
        # The basis names the IDH call's source: "IDH-mutant (predicted)", not a hotspot nobody found.
        .with_columns(
            idh.alias("idh_status"),
            pl.when(pl.col("idh_status").is_null())
            .then(pl.lit("predicted"))
            .otherwise(pl.col("idh_hotspot"))
            .alias("idh_hotspot"),
        )
        .with_columns(
            pl.when(pl.col("idh_status") == "mutant")
            .then(pl.coalesce(pl.col("codeletion_1p19q"), pl.col("_codeleted_if_mutant")))
            .otherwise(pl.col("codeletion_1p19q"))
            .alias("codeletion_1p19q")
        )
    )
    classified = classify_who_cns5(
        patients.join(untyped.select("case_id"), on="case_id", how="inner"), marker_rows
    ).join(untyped, on="case_id")
    return classified.select(
        "case_id",
        pl.when(pl.col("who_cns5_class") != CLASS_NOT_CLASSIFIABLE)
        .then(pl.col("who_cns5_class"))
        .alias("who_cns5_class_predicted"),
        pl.when(pl.col("who_cns5_class") != CLASS_NOT_CLASSIFIABLE)
        .then(pl.col("who_cns5_grade"))
        .alias("who_cns5_grade_predicted"),
        pl.format(
            "predicted: molecular type {} (probability {}) by the typing model; {}",
            "predicted_molecular_type",
            pl.col("predicted_probability").round(3),
            pl.coalesce("who_cns5_basis", "not_classifiable_reason"),
        ).alias("who_cns5_basis_predicted"),
    ).cast(columns)
