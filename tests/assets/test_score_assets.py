"""The score assets in Dagster: a rerun or the next release copies the unchanged patients' model outputs and
writes exactly what scoring from scratch writes (up to `scored_at`). What the earlier rows were computed from
is read from their partition's footer, so reuse holds on a new Dagster instance and in a moved data directory."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, instance_for_test, materialize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from _model_cohort import synthetic_cohort  # noqa: E402

import models.scoring  # noqa: E402
from assets.partitions import gdc_releases  # noqa: E402
from assets.resources import LakeResource  # noqa: E402
from assets.scores import grading_scores, survival_risk_scores  # noqa: E402
from contracts.tables import FEATURES_MODEL_MATRIX, SCORES_GRADING, SCORES_SURVIVAL_RISK  # noqa: E402
from lake.integrity import content_hash  # noqa: E402
from lake.store import CONTENT_HASH_KEY, Lake  # noqa: E402
from models.pipeline import train_task  # noqa: E402
from models.registry import register_model, write_model_artifacts, write_training_rows  # noqa: E402
from models.registry_store import registry_connection  # noqa: E402
from models.scoring import SCORED_FROM_KEY, score_group, scoring_code_version  # noqa: E402
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


def _lake(data_dir: Path, instance: DagsterInstance) -> Lake:
    def succeeded(run_id: str) -> bool:  # read what the runs of this instance wrote
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_success

    return Lake(data_dir, finished=succeeded)


def _scores(data_dir: Path, release: str, instance: DagsterInstance) -> dict[str, pl.DataFrame]:
    lake = _lake(data_dir, instance)
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
    monkeypatch.setattr(models.scoring, "scoring_code_version", lambda: "edited scoring code")
    rerun = _score(data_dir, "45.0", instance)
    assert rerun["grading_scores"]["reused_cases"] == rerun["survival_risk_scores"]["reused_cases"] == 0
    recorded = rerun["grading_scores"]["scored_from"]
    assert recorded and all(entry["scoring_code"] == "edited scoring code" for entry in recorded.values())


SCORE_TABLES = ((SCORES_GRADING, "grading_scores"), (SCORES_SURVIVAL_RISK, "survival_risk_scores"))


def _commit(data_dir: Path, instance: DagsterInstance) -> None:
    """What the catalog publish commits: every partition the runs of `instance` (or this process) left readable.
    Another Dagster instance reads only committed versions of runs it does not know."""
    lake = _lake(data_dir, instance)
    releases: dict[str, dict] = {}
    for table in (FEATURES_MODEL_MATRIX, SCORES_GRADING, SCORES_SURVIVAL_RISK):
        for release in lake.releases(table.layer, table.name):
            releases.setdefault(release, {})[table.path] = lake.table_path(table.layer, table.name, release)
    lake.commit(releases)


def _assert_all_reused(scored: dict[str, dict], rows: int) -> None:
    assert scored["grading_scores"]["reused_cases"] == scored["grading_scores"]["grade_reused_cases"] == rows
    assert scored["survival_risk_scores"]["reused_cases"] == rows


def _scored_and_published(champions, tmp_path: Path, name: str) -> tuple[Path, dict, dict[str, pl.DataFrame]]:
    """A data directory whose 45.0 was scored by a Dagster instance that is then thrown away, and published."""
    data_dir = _data_dir(champions, tmp_path, name)
    _publish_matrices(data_dir, {"45.0": champions[1]})
    instance = DagsterInstance.ephemeral()
    scored = _score(data_dir, "45.0", instance)
    first_scores = _scores(data_dir, "45.0", instance)
    _commit(data_dir, instance)
    return data_dir, scored, first_scores


def test_a_new_dagster_instance_reuses_the_published_scores(champions, tmp_path):
    first = champions[1]
    following, unchanged = _next_release(first)
    data_dir, _, first_scores = _scored_and_published(champions, tmp_path, "new-instance")
    with instance_for_test() as new:
        assert not new.get_runs()  # nothing of the first scoring is in this instance's event log
        _assert_all_reused(_score(data_dir, "45.0", new), first.height)
        _assert_same_scores(_scores(data_dir, "45.0", new), first_scores)
    with instance_for_test() as newer:  # the next release, from the published 45.0, on yet another instance
        Lake(data_dir).write_table(FEATURES_MODEL_MATRIX, following, "46.0")
        _commit(data_dir, newer)
        next_release = _score(data_dir, "46.0", newer)
        assert next_release["grading_scores"]["reused_cases"] == unchanged
        assert next_release["survival_risk_scores"]["reused_cases"] == unchanged


def test_scores_in_a_moved_data_directory_are_reused(champions, tmp_path):
    first = champions[1]
    following, unchanged = _next_release(first)
    before, _, first_scores = _scored_and_published(champions, tmp_path, "before-move")
    after = tmp_path / "elsewhere" / "data"
    after.parent.mkdir()
    shutil.move(before, after)
    assert not before.exists()
    lake = Lake(after)
    for table, _ in SCORE_TABLES:  # neither the footers nor the manifest name the old place
        footer = lake.footer_metadata(lake.table_path(table.layer, table.name, "45.0"))
        assert str(before) not in json.dumps(footer) and str(tmp_path) not in json.dumps(footer)
    assert str(tmp_path) not in json.dumps(lake.manifest())
    with instance_for_test() as new:
        _assert_all_reused(_score(after, "45.0", new), first.height)
        _assert_same_scores(_scores(after, "45.0", new), first_scores)
        Lake(after).write_table(FEATURES_MODEL_MATRIX, following, "46.0")
        _commit(after, new)  # 45.0 as rescored after the move: its footer was written there
        next_release = _score(after, "46.0", new)
        assert next_release["grading_scores"]["reused_cases"] == unchanged
        assert next_release["survival_risk_scores"]["reused_cases"] == unchanged


def test_the_provenance_of_a_score_partition_is_read_from_its_footer_with_lake_code_alone(champions, tmp_path):
    data_dir, scored, _ = _scored_and_published(champions, tmp_path, "footer")
    lake = Lake(data_dir)  # no Dagster: the published versions
    matrix_hash = content_hash(lake.read_table(FEATURES_MODEL_MATRIX, "45.0"))
    for table, name in SCORE_TABLES:
        path = lake.table_path(table.layer, table.name, "45.0")
        footer = lake.footer_metadata(path)
        record = json.loads(footer[SCORED_FROM_KEY])
        rows = lake.read_file(path)
        assert footer[CONTENT_HASH_KEY] == content_hash(rows)
        assert set(record) == set(score_group(rows).unique())
        assert all(
            inputs == {"matrix_content_hash": matrix_hash, "scoring_code": scoring_code_version()}
            for inputs in record.values()
        )
        assert record == scored[name]["scored_from"]  # what the UI shows is what the file holds

    # A version without the record (written before records were kept in the file) is not trusted: its rows are
    # computed again, and the version written then carries a record.
    unrecorded = lake.read_table(SCORES_GRADING, "45.0")
    lake.write_table(SCORES_GRADING, unrecorded, "45.0")
    _commit(data_dir, DagsterInstance.ephemeral())
    with instance_for_test() as new:
        rerun = _score(data_dir, "45.0", new)
        assert rerun["grading_scores"]["reused_cases"] == rerun["grading_scores"]["grade_reused_cases"] == 0
        assert rerun["survival_risk_scores"]["reused_cases"] == unrecorded.height
        written = _lake(data_dir, new).table_path(SCORES_GRADING.layer, SCORES_GRADING.name, "45.0")
        assert SCORED_FROM_KEY in lake.footer_metadata(written)
