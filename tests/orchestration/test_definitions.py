"""The code location loads, with the CLI Dagster users run, and its graph is the reviewed one.

`definitions_snapshot.json` is the graph as text: asset keys, deps, partitioning, owners, checks, jobs,
schedules, sensors and resources. Any change to the graph shows as a diff of that file in review.
Regenerate it after an intended change with:

    UPDATE_DEFINITIONS_SNAPSHOT=1 .venv/bin/python -m pytest tests/orchestration/test_definitions.py
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from orchestration.definitions import defs

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def _op_attribute(node, name: str):
    assets_def = node.assets_def
    return getattr(assets_def.op, name, None) if assets_def.is_executable else None


def definitions_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        metadata = node.metadata or {}
        schema = metadata.get("dagster/column_schema")
        assets[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": node.partitions_def.name if node.partitions_def is not None else None,
            "group": node.group_name,
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "has_code_version": node.code_version is not None,
            "retry_policy": _op_attribute(node, "retry_policy") is not None,
            "pool": _op_attribute(node, "pool"),
            "columns": [column.name for column in schema.columns] if schema is not None else None,
            "materializable": node.is_materializable,
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        spec = graph.get_check_spec(check_key)
        checks[check_key.to_user_string()] = {
            "blocking": spec.blocking,
            "additional_deps": sorted(dep.asset_key.to_user_string() for dep in spec.additional_deps),
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = job.asset_layer.selected_asset_keys if job.asset_layer else set()
        jobs[job.name] = {
            "partitions": job.partitions_def.name if job.partitions_def is not None else None,
            "assets": sorted(k.to_user_string() for k in selected),
            "checks": sorted(k.to_user_string() for k in job.asset_layer.asset_graph.asset_check_keys),
        }
    schedules = {
        s.name: {"cron": s.cron_schedule, "job": s.job_name, "default_status": s.default_status.value}
        for s in defs.schedules or []
    }
    sensors = {
        s.name: {
            "type": type(s).__name__,
            "jobs": sorted(t.job_name for t in s.targets) if s.targets else [],
            "default_status": s.default_status.value,
            "minimum_interval_seconds": s.minimum_interval_seconds,
        }
        for s in defs.sensors or []
    }
    resources = {
        name: {"class": type(resource).__name__, "fields": sorted(type(resource).model_fields)}
        for name, resource in sorted((defs.resources or {}).items())
    }
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": resources,
    }


def test_definitions_match_the_reviewed_snapshot():
    current = json.dumps(definitions_snapshot(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_DEFINITIONS_SNAPSHOT") == "1":
        SNAPSHOT.write_text(current)
    expected = SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), current.splitlines(True), "snapshot", "current"))
    assert not diff, f"the Dagster graph changed; review and regenerate the snapshot (see module docstring):\n{diff}"


def test_every_release_asset_is_partitioned_by_gdc_release_and_the_catalog_is_global():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] in ("warehouse", "ops"):
            assert node.partitions_def is None, key
        else:
            assert node.partitions_def is not None and node.partitions_def.name == "gdc_releases", key
    catalog = graph.get(AssetKey(["warehouse", "catalog"]))
    assert AssetKey(["scores", "grading"]) in catalog.parent_keys


def test_every_lake_table_asset_carries_its_declared_column_schema():
    from contracts.tables import LAKE_TABLES

    graph = defs.resolve_asset_graph()
    for table in LAKE_TABLES:
        node = graph.get(AssetKey(list(table.key)))
        schema = node.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == list(table.schema), table.path
        assert all(c.description for c in schema.columns), table.path
        assert node.owners and node.description == table.description


def test_importing_the_definitions_reads_no_environment_and_resolves_env_vars_at_run_time(monkeypatch):
    for name in ("GDC_BASE_URL", "GLIOMA_DATA_DIR", "GDC_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    module = importlib.reload(importlib.import_module("orchestration.definitions"))
    gdc = module.defs.resources["gdc"]
    # The EnvVar itself is kept, unresolved: Dagster reads GDC_BASE_URL when a run or tick starts.
    assert type(gdc.base_url).__name__ == "EnvVar" and gdc.base_url.env_var_name == "GDC_BASE_URL"
    assert module.defs.resources["lake"].data_dir.env_var_name == "GLIOMA_DATA_DIR"


def test_assets_never_import_orchestration():
    for path in (REPO_ROOT / "assets").glob("*.py"):
        text = path.read_text()
        assert "import orchestration" not in text and "from orchestration" not in text, path.name


def test_dagster_cli_validates_the_workspace():
    env = {**os.environ, "DAGSTER_HOME": str(REPO_ROOT / ".dagster_home_test")}
    os.makedirs(env["DAGSTER_HOME"], exist_ok=True)
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "glioma_lakehouse" in completed.stdout + completed.stderr


def test_the_code_location_loads_without_the_plotting_and_model_libraries() -> None:
    """The UI, the daemon and every run load the code location; matplotlib, scikit-learn and LightGBM load in the
    steps that draw or train, not with it (a fresh interpreter: this test process has imported them already)."""
    heavy = ("matplotlib", "sklearn", "sksurv", "lightgbm", "great_expectations", "pydeseq2", "gseapy")
    probe = f"import sys, orchestration.definitions; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout
