"""Molecular typing: the registry model (job `train_challengers`), the recipes compared beside it on the same folds
(gates nothing), and a release's typing scores with the WHO CNS5 class predicted where the markers cannot give it
(score first, in the refresh, by the current champion; again after training).

The domain is models.molecular_typing and models.typing_pipeline; these steps read the lake, skip what did not
change (training fingerprint, inputs key in the table's footer) and write.
"""

import hashlib
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.metadata import INPUTS_KEY, markdown_table, written_from
from assets.models import SEED, code_version
from assets.partitions import gdc_releases
from assets.resources import LakeResource, ModelTrainingResource
from assets.specs import OWNERS, asset_key, source_version, table_asset_args, written_metadata
from contracts.features import MOLECULAR_TYPE
from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    MODELS_TYPING_COMPARISON,
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

_THIS = sys.modules[__name__]
TYPING_MODEL_KEY = AssetKey(["models", "molecular_typing_model"])
_TYPING_CODE = ("models.molecular_typing", "models.typing_fusion", "models.typing_pipeline", _THIS)
_INPUT_TABLES = [
    HARMONISED_PATIENTS,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
]


def _frame(lake: LakeResource, release: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    from models.molecular_typing import typing_frame

    patients = lake.lake.read_table(HARMONISED_PATIENTS, release)
    markers = lake.lake.read_table(HARMONISED_MOLECULAR_MARKERS, release)
    return patients, markers, typing_frame(patients, markers)


def _has_expression(lake: LakeResource, release: str) -> bool:
    return lake.lake.exists(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release)


def _full_data(lake: LakeResource, release: str):
    """The release's typing data with every block; recipes take views of it (models.typing_pipeline.recipe_view).
    The whole expression matrix is read once: training chooses its genes inside each fold."""
    from assets.expression_analyses import read_matrix
    from models.molecular_typing import typing_data

    _, _, frame = _frame(lake, release)
    return typing_data(frame, read_matrix(lake.lake, release) if _has_expression(lake, release) else None)


def typing_champion(lake: LakeResource):
    """(registry entry, fitted typing model, artifact metadata) of the champion, or None."""
    from models.typing_pipeline import load_typing

    with registry_connection(lake.registry_path, read_only=True) as connection:
        entry = current_champion(connection, MOLECULAR_TYPE)
    if entry is None:
        return None
    model_text, metadata = read_model_artifacts(lake.models_dir, entry.model_version)
    training_rows = read_training_rows(lake.models_dir, entry.model_version)
    return entry, load_typing(model_text, metadata, training_rows["case_id"].to_list()), metadata


@asset(
    key=TYPING_MODEL_KEY,
    deps=[asset_key(table) for table in _INPUT_TABLES],
    partitions_def=gdc_releases,
    group_name="models",
    kinds={"lightgbm"},
    owners=OWNERS["models"],
    tags={"layer": "models"},
    code_version=source_version(*_TYPING_CODE),
    description=(
        "Molecular typing challenger (IDH-wildtype / IDH-mutant codeleted / non-codeleted; LightGBM on expression "
        "genes chosen inside each fold, the other markers, histology and age), judged against the champion on the "
        "same folds of this release; registered as champion or challenger. Not retrained when its rows are unchanged."
    ),
)
def molecular_typing_model(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    from models.typing_pipeline import (
        REGISTRY_RECIPE,
        TypingRecipe,
        compare_typing,
        recipe_view,
        train_typing,
        typing_artifacts,
    )
    from models.typing_pipeline import typing_training_fingerprint as fingerprint_of

    release, started = context.partition_key, time.monotonic()
    n_splits, n_repeats = model_training.n_splits, model_training.n_repeats
    full = _full_data(lake, release)
    data = {REGISTRY_RECIPE: recipe_view(full, REGISTRY_RECIPE)}
    fingerprint = fingerprint_of(REGISTRY_RECIPE, data[REGISTRY_RECIPE], n_splits, n_repeats, SEED)
    with registry_connection(lake.registry_path, read_only=True) as connection:
        existing = find_by_fingerprint(connection, MOLECULAR_TYPE, fingerprint)
        champion = current_champion(connection, MOLECULAR_TYPE)
    if existing is not None:
        context.log.info(f"typing: recipe and training rows unchanged since {existing.model_version}; not retrained")
        return MaterializeResult(
            metadata={
                "model_version": existing.model_version,
                "status": existing.status,
                "retrained": False,
                "duration_seconds": round(time.monotonic() - started, 1),
            }
        )
    decision, comparison, cv = None, None, None
    if champion is not None:
        champion_recipe = TypingRecipe(
            **{k: v for k, v in champion.parameters["recipe"].items() if k != "genes_selected"}
        )
        data[champion_recipe] = recipe_view(full, champion_recipe)
        promote, reason, comparison, cv = compare_typing(
            data, champion_recipe, REGISTRY_RECIPE, n_splits=n_splits, n_repeats=n_repeats, seed=SEED
        )
        decision = (promote, reason)
        context.log.info(f"typing: {reason}")
    features_version = hashlib.sha256(json.dumps(data[REGISTRY_RECIPE].tabular_names).encode()).hexdigest()[:12]
    trained = train_typing(
        data[REGISTRY_RECIPE],
        REGISTRY_RECIPE,
        release=release,
        code_version=code_version(),
        feature_set_version=f"typing-{features_version}",
        n_splits=n_splits,
        n_repeats=n_repeats,
        seed=SEED,
        cv=cv,
    )
    model_text, metadata = typing_artifacts(trained)
    write_training_rows(lake.models_dir, trained.model_version, trained.training_rows)
    write_model_artifacts(lake.models_dir, trained.model_version, model_text, metadata)
    entry = trained.entry if comparison is None else replace(trained.entry, comparison=comparison)
    with registry_connection(lake.registry_path) as connection:
        stored = register_model(connection, entry, decision=decision)
    crash_point("after_model_registration")
    summary = trained.cv.summary.filter(
        pl.col("metric").is_in(["roc_auc_macro", "accuracy", "f1_macro", "brier"])
    ).select("metric", "mean", "low", "high", "folds")
    context.log.info(f"typing {stored.model_version}: {stored.status} — {stored.decision_reason}")
    return MaterializeResult(
        metadata={
            "model_version": stored.model_version,
            "status": stored.status,
            "decision": stored.decision_reason,
            "retrained": True,
            "training_rows": stored.training_rows,
            "patients_with_expression": trained.cv.n_with_expression,
            "selected_genes": ", ".join(trained.fitted.selected_genes[:20]),
            "cv_metrics": MetadataValue.md(markdown_table(summary)),
            "duration_seconds": round(time.monotonic() - started, 1),
        }
    )


@asset(
    **{
        **table_asset_args(
            MODELS_TYPING_COMPARISON,
            deps=[*_INPUT_TABLES, TYPING_MODEL_KEY],
            code=_TYPING_CODE,
            kinds=("lightgbm", "scikitlearn", "parquet"),
        ),
        "group_name": "models",
    }
)
def typing_comparison(
    context: AssetExecutionContext, lake: LakeResource, model_training: ModelTrainingResource
) -> MaterializeResult:
    """Runs in train_challengers after the typing model: gates nothing. One repeat of the folds (the registry's
    repeats are for the promotion decision); recomputed only when its inputs changed."""
    from models.typing_pipeline import COMPARED_RECIPES, REGISTRY_RECIPE, comparison_table, typing_training_fingerprint

    release, started = context.partition_key, time.monotonic()
    n_splits, n_repeats = model_training.n_splits, 1
    recipes = COMPARED_RECIPES if model_training.classifier_baselines else (REGISTRY_RECIPE,)
    full = _full_data(lake, release)
    key = typing_training_fingerprint(recipes, full, n_splits, n_repeats, SEED)
    unchanged = written_from(lake.lake, MODELS_TYPING_COMPARISON, release, key)
    if unchanged is not None:
        context.log.info(f"typing comparison of {release}: inputs unchanged, not recomputed")
        frame, written = lake.lake.read_file(unchanged), None
    else:
        frame = comparison_table(full, recipes, n_splits=n_splits, n_repeats=n_repeats, seed=SEED).with_columns(
            pl.lit(release).alias("release")
        )
        frame = frame.select(list(MODELS_TYPING_COMPARISON.schema)).cast(MODELS_TYPING_COMPARISON.schema)
        written = lake.lake.write_table(MODELS_TYPING_COMPARISON, frame, release, metadata={INPUTS_KEY: key})
    shown = frame.filter(pl.col("metric").is_in(["roc_auc_macro", "f1_macro"])).select(
        "recipe", "metric", "mean", "low", "high"
    )
    metadata = {
        "recomputed": written is not None,
        "leaderboard": MetadataValue.md(markdown_table(shown)),
        "duration_seconds": round(time.monotonic() - started, 1),
    }
    return MaterializeResult(metadata=written_metadata(written, **metadata) if written else metadata)


def _model_expression(lake: LakeResource, release: str, fitted):
    """Only the model's genes, of the sample used per patient."""
    from assets.expression import read_genes
    from models.typing_pipeline import model_expression

    if not fitted.selected_gene_ids or not _has_expression(lake, release):
        return None
    return model_expression(read_genes(lake.lake, release, "gene_id", fitted.selected_gene_ids), fitted)


@asset(
    **table_asset_args(
        SCORES_MOLECULAR_TYPE,
        deps=[*_INPUT_TABLES, TYPING_MODEL_KEY],
        code=_TYPING_CODE,
        kinds=("lightgbm", "parquet"),
    ),
    output_required=False,
)
def molecular_type_scores(context: AssetExecutionContext, lake: LakeResource):
    from models.typing_pipeline import TypingRecipe, score_release

    release, started = context.partition_key, time.monotonic()
    champion = typing_champion(lake)
    if champion is None:
        context.log.warning(
            f"no champion model yet for {MOLECULAR_TYPE}: this release is typed after train_challengers trains one"
        )
        return
    entry, fitted, metadata = champion
    recipe = TypingRecipe(**{k: v for k, v in metadata["recipe"].items() if k != "genes_selected"})
    patients, markers, frame = _frame(lake, release)
    scores = score_release(fitted, frame, _model_expression(lake, release, fitted), recipe, patients, markers)
    scores = scores.with_columns(
        pl.lit(release).alias("release"),
        pl.lit(entry.model_version).alias("model_version"),
        pl.lit(datetime.now(UTC)).alias("scored_at"),
    )
    scores = scores.select(list(SCORES_MOLECULAR_TYPE.schema)).cast(SCORES_MOLECULAR_TYPE.schema)
    path = lake.lake.resolve(SCORES_MOLECULAR_TYPE.layer, SCORES_MOLECULAR_TYPE.name, release)
    if path is not None:  # history: the other model versions that scored this release stay
        kept = lake.lake.read_file(path).filter(pl.col("model_version") != entry.model_version)
        scores = pl.concat([kept, scores], how="vertical_relaxed")
    scores = scores.sort("model_version", "case_id")
    written = lake.lake.write_table(SCORES_MOLECULAR_TYPE, scores, release)
    mine = scores.filter(pl.col("model_version") == entry.model_version)
    untyped = mine.filter(pl.col("molecular_type_from_markers").is_null())
    yield MaterializeResult(
        metadata=written_metadata(
            written,
            scored_cases=mine.height,
            model_version=entry.model_version,
            model_training_release=entry.training_release,
            in_training_set=int(mine["in_training_set"].sum() or 0),
            untyped_by_markers=untyped.height,
            who_cns5_class_predicted=untyped["who_cns5_class_predicted"].drop_nulls().len(),
            predicted_types=MetadataValue.md(
                markdown_table(mine.group_by("predicted_molecular_type").len().sort("predicted_molecular_type"))
            ),
            seconds=round(time.monotonic() - started, 2),
        )
    )


TYPING_ASSETS = [molecular_typing_model, typing_comparison, molecular_type_scores]
