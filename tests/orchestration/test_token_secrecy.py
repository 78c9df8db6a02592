"""The GDC token (environment or secret file) reaches GDC as X-Auth-Token and nowhere else: not in run
events, logs, metadata, run config, the lake, the catalog or the reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from orchestration.definitions import build_definitions

TOKEN = "tok-3b9f1c0e-SECRET-do-not-log-7d2a"


@pytest.mark.parametrize("source", ["env", "file"])
def test_the_token_is_sent_to_gdc_and_found_nowhere_else(
    source, gdc_standin_factory, synthetic_two_release_root, tmp_path, monkeypatch
):
    root, first, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.set_release(first)
    if source == "env":
        monkeypatch.setenv("GDC_TOKEN", TOKEN)
    else:
        secret = tmp_path / "secrets" / "gdc_token"
        secret.parent.mkdir()
        secret.write_text(TOKEN + "\n")
        monkeypatch.delenv("GDC_TOKEN", raising=False)
        monkeypatch.setenv("GDC_TOKEN_FILE", str(secret))
    data_dir = tmp_path / "data"
    gdc = GdcApiResource(base_url=server.base_url, backoff_factor=0.01)
    assert gdc.token() == TOKEN
    defs = build_definitions(
        {
            "gdc": gdc,
            "lake": LakeResource(data_dir=str(data_dir)),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(
                n_splits=2, n_repeats=1, survival_baselines=False, classifier_baselines=False
            ),
        }
    )
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(gdc_releases.name, [first])
    result = defs.resolve_job_def("refresh_gdc_release").execute_in_process(partition_key=first, instance=instance)
    assert result.success

    # Sent: every request of the client carries it as X-Auth-Token (the stand-in does not check tokens).
    assert gdc.client()._session.headers["X-Auth-Token"] == TOKEN
    assert server.request_log
    # Nowhere else: every event the run recorded, its run config and tags, and every file it wrote.
    for record in instance.all_logs(result.run_id):
        assert TOKEN not in str(record), record
    run = instance.get_run_by_id(result.run_id)
    assert TOKEN not in repr(run.run_config) and TOKEN not in repr(run.tags)
    for path in Path(data_dir).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in repr(gdc) and TOKEN not in repr(gdc.client())
