"""The code location loads, with the CLI Dagster users run, and exposes the expected assets."""

from __future__ import annotations

import os
import subprocess
import sys

from dagster import AssetKey

from orchestration.definitions import defs
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

RAW_KEYS = {
    AssetKey(["gdc_release"]),
    AssetKey(["raw", "gdc_cases"]),
    AssetKey(["raw", "gdc_ssm_occurrences"]),
    AssetKey(["raw", "gdc_cnv_occurrences"]),
    AssetKey(["raw", "gdc_methylation_files"]),
    AssetKey(["raw", "mgmt_probe_betas"]),
}


def test_definitions_hold_every_layer_partitioned_by_gdc_release():
    keys = set(defs.resolve_all_asset_keys())
    assert RAW_KEYS <= keys
    assert AssetKey(["warehouse", "analytics_views"]) in keys
    graph = defs.resolve_asset_graph()
    for key in keys:
        partitions = graph.get(key).partitions_def
        assert partitions is not None and partitions.name == "gdc_releases", key
    assert defs.resolve_job_def("refresh_gdc_release") is not None
    assert defs.resolve_sensor_def("gdc_release_sensor") is not None


def test_dagster_cli_validates_the_workspace():
    env = {**os.environ, "DAGSTER_HOME": str(REPO_ROOT / ".dagster_home_test")}
    os.makedirs(env["DAGSTER_HOME"], exist_ok=True)
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "glioma_lakehouse" in completed.stdout + completed.stderr
