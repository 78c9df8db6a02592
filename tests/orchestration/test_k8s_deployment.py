"""The Kubernetes deployment as configuration (orchestration/deploy/k8s/, docs/deployment.md): the code
location loads with `dagster definitions validate`, gives the training jobs dagster-k8s's pod-per-step
executor and keeps every asset, check, sensor and schedule of the local code location; the instance file
validates against dagster-k8s's K8sRunLauncher and dagster-postgres's schemas; and the Helm values point
at that module and give every pod the environment the definitions read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "orchestration" / "deploy" / "k8s"


def test_the_kubernetes_code_location_loads_with_the_k8s_executor_and_the_same_graph():
    import orchestration.definitions as local
    import orchestration.deployment_k8s as k8s

    for job in ("train_challengers", "publish_catalog", "check_gdc_freshness"):
        assert k8s.defs.resolve_job_def(job).executor_def.name == "k8s"
    # The refresh keeps its steps in the run's pod (in process, or multiprocess by run config).
    assert k8s.defs.resolve_job_def("refresh_gdc_release").executor_def.name == "multi_or_in_process_executor"
    assert local.defs.resolve_job_def("train_challengers").executor_def.name != "k8s"

    def graph(defs):
        repository = defs.get_repository_def()
        return (
            sorted(key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()),
            sorted(s.name for s in repository.sensor_defs),
            sorted(s.name for s in repository.schedule_defs),
            sorted(j.name for j in repository.get_all_jobs()),
        )

    assert graph(k8s.defs) == graph(local.defs)


def test_dagster_definitions_validate_accepts_the_kubernetes_code_location(tmp_path):
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "GDC_BASE_URL": "https://api.gdc.cancer.gov",
        "GLIOMA_DATA_DIR": str(tmp_path / "data"),
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-m",
            "orchestration.deployment_k8s",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "Validation successful" in completed.stdout + completed.stderr


def test_the_instance_file_validates_against_dagster_k8s_and_dagster_postgres(monkeypatch):
    from dagster._config import Shape, process_config
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster_k8s import K8sRunLauncher

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-a-secret")
    instance = yaml.safe_load((K8S / "dagster.yaml").read_text())
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    whole = process_config(Shape(dagster_instance_config_schema()), instance)  # storage, queue, monitoring
    assert whole.success, whole.errors
    assert instance["run_monitoring"]["enabled"] is True


def test_the_helm_values_run_this_code_location_with_the_environment_it_reads():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "orchestration.deployment_k8s"]
    mounts = {m["mountPath"] for m in deployment["volumeMounts"]}
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert mounts == {m["mountPath"] for m in launcher["volumeMounts"]}  # run pods see the same lake
    token = "GDC_TOKEN_FILE=/var/run/secrets/gdc/token"
    assert token in launcher["envVars"] and any(e["name"] == "GDC_TOKEN_FILE" for e in deployment["env"])
    assert Path(token.split("=", 1)[1]).parent.as_posix() in mounts
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    notes = (K8S / "values.yaml").read_text()
    for variable in ("GDC_BASE_URL", "GLIOMA_DATA_DIR"):  # what resources_from_environment reads
        assert variable in notes
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"  # not exposed outside the cluster
