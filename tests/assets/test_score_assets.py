"""The score assets in Dagster: a rerun or the next release copies the unchanged patients' model outputs and
writes exactly what scoring from scratch writes (up to `scored_at`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from _model_cohort import synthetic_cohort  # noqa: E402

import assets.scores  # noqa: E402
from assets.partitions import gdc_releases  # noqa: E402
from assets.resources import LakeResource  # noqa: E402
from assets.scores import grading_scores, survival_risk_scores  # noqa: E402
from contracts.tables import FEATURES_MODEL_MATRIX, SCORES_GRADING, SCORES_SURVIVAL_RISK  # noqa: E402
from lake.store import Lake  # noqa: E402
from models.pipeline import train_task  # noqa: E402
from models.registry import register_model, write_model_artifacts, write_training_rows  # noqa: E402
from models.registry_store import registry_connection  # noqa: E402
from transforms.features import build_model_matrix  # noqa: E402

TASKS = ("grading_gbm_vs_lgg", "grading_who_grade", "survival_risk")


@pytest.fixture(scope="module")
def champions(tmp_path_factory):
    """A data directory with only the three champions (trained on 45.0 of a 240-patient cohort)."""
    data_dir = tmp_path_factory.mktemp("champions")
    model_matrix = build_model_matrix(*synthetic_cohort(240, seed=4))
    for task in TASKS:
        trained = train_task(
            model_matrix, task, release="45.0", code_version="test", n_splits=2, n_repeats=1, survival_baselines=False
        )
        write_training_rows(data_dir / "models", trained.model_version, trained.training_rows)
        write_model_artifacts(
            data_dir / "models",
            trained.model_version,
            trained.model.booster.model_to_string(),
            trained.artifact_metadata(),
        )
        with registry_connection(data_dir / "model_registry.duckdb") as connection:
            register_model(connection, trained.entry)
    return data_dir, model_matrix.matrix


def _data_dir(champions, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(champions[0], target)
    return target


def _publish_matrices(data_dir: Path, matrices: dict[str, pl.DataFrame]) -> None:
    lake = Lake(data_dir)
    lake.commit(
        {
            release: {FEATURES_MODEL_MATRIX.path: lake.write_table(FEATURES_MODEL_MATRIX, frame, release).path}
            for release, frame in matrices.items()
        }
    )


def _score(data_dir: Path, release: str, instance: DagsterInstance) -> dict[str, dict]:
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    result = materialize(
        [grading_scores, survival_risk_scores],
        partition_key=release,
        instance=instance,
        resources={"lake": LakeResource(data_dir=str(data_dir))},
    )
    assert result.success
    names = {SCORES_GRADING.path: "grading_scores", SCORES_SURVIVAL_RISK.path: "survival_risk_scores"}
    return {
        names["/".join(event.asset_key.path)]: {
            key: value.value for key, value in event.step_materialization_data.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def _scores(data_dir: Path, release: str, instance: DagsterInstance) -> dict[str, pl.DataFrame]:
    def succeeded(run_id: str) -> bool:  # read what the runs of this instance wrote
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_success

    lake = Lake(data_dir, finished=succeeded)
    return {
        table.path: lake.read_table(table, release).drop("scored_at").sort("model_version", "case_id")
        for table in (SCORES_GRADING, SCORES_SURVIVAL_RISK)
    }


def _next_release(matrix: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    ids = matrix["case_id"].to_list()
    changed, removed = ids[:12], ids[12:16]
    following = matrix.filter(~pl.col("case_id").is_in(removed)).with_columns(
        pl.lit("46.0").alias("release"),
        pl.when(pl.col("case_id").is_in(changed))
        .then(pl.col("karnofsky_score").fill_null(70.0) - 10.0)
        .otherwise(pl.col("karnofsky_score"))
        .alias("karnofsky_score"),
        pl.when(pl.col("case_id").is_in(ids[30:40]))
        .then(pl.col("overall_survival_days") + 60)
        .otherwise(pl.col("overall_survival_days"))
        .alias("overall_survival_days"),  # outcome only: reused
    )
    return following, matrix.height - len(changed) - len(removed)


def _assert_same_scores(actual: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    for path, frame in expected.items():
        assert actual[path].equals(frame, null_equal=True), path


def test_a_rerun_and_the_next_release_reuse_unchanged_patients_and_write_what_a_fresh_scoring_writes(
    champions, tmp_path
):
    first = champions[1]
    data_dir = _data_dir(champions, tmp_path, "incremental")
    following_matrix, unchanged = _next_release(first)
    _publish_matrices(data_dir, {"45.0": first})
    instance = DagsterInstance.ephemeral()

    scored = _score(data_dir, "45.0", instance)
    assert scored["grading_scores"]["reused_cases"] == 0 and scored["survival_risk_scores"]["reused_cases"] == 0
    first_scores = _scores(data_dir, "45.0", instance)

    rerun = _score(data_dir, "45.0", instance)  # same release, same models, nothing changed
    assert rerun["grading_scores"]["reused_cases"] == rerun["grading_scores"]["grade_reused_cases"] == first.height
    assert rerun["survival_risk_scores"]["reused_cases"] == first.height
    _assert_same_scores(_scores(data_dir, "45.0", instance), first_scores)

    _publish_matrices(data_dir, {"45.0": first, "46.0": following_matrix})
    next_release = _score(data_dir, "46.0", instance)
    assert next_release["grading_scores"]["reused_cases"] == unchanged
    assert next_release["survival_risk_scores"]["reused_cases"] == unchanged

    fresh_dir = _data_dir(champions, tmp_path, "fresh")
    _publish_matrices(fresh_dir, {"46.0": following_matrix})
    fresh_instance = DagsterInstance.ephemeral()
    _score(fresh_dir, "46.0", fresh_instance)
    _assert_same_scores(_scores(data_dir, "46.0", instance), _scores(fresh_dir, "46.0", fresh_instance))

    # 46.0 republished with more changes: its own earlier rows no longer match its matrix, so only the
    # patients unchanged since 45.0 are copied, and the rows are again what a fresh scoring writes.
    republished = following_matrix.with_columns(
        pl.when(pl.col("case_id").is_in(following_matrix["case_id"].slice(50, 5).implode()))
        .then(pl.col("age_at_diagnosis_years") + 2.0)
        .otherwise(pl.col("age_at_diagnosis_years"))
        .alias("age_at_diagnosis_years")
    )
    _publish_matrices(data_dir, {"45.0": first, "46.0": republished})
    again = _score(data_dir, "46.0", instance)
    assert again["grading_scores"]["reused_cases"] == unchanged - 5
    fresh_again = _data_dir(champions, tmp_path, "fresh-again")
    _publish_matrices(fresh_again, {"46.0": republished})
    _score(fresh_again, "46.0", fresh_instance)
    _assert_same_scores(_scores(data_dir, "46.0", instance), _scores(fresh_again, "46.0", fresh_instance))
    assert _scores(data_dir, "46.0", instance)[SCORES_GRADING.path].height == republished.height


def test_rows_scored_by_other_code_are_computed_again(champions, tmp_path, monkeypatch):
    data_dir = _data_dir(champions, tmp_path, "code")
    _publish_matrices(data_dir, {"45.0": champions[1]})
    instance = DagsterInstance.ephemeral()
    _score(data_dir, "45.0", instance)
    monkeypatch.setattr(assets.scores, "scoring_code_version", lambda: "edited scoring code")
    rerun = _score(data_dir, "45.0", instance)
    assert rerun["grading_scores"]["reused_cases"] == rerun["survival_risk_scores"]["reused_cases"] == 0
    recorded = rerun["grading_scores"]["scored_from"]
    assert recorded and all(entry["scoring_code"] == "edited scoring code" for entry in recorded.values())
