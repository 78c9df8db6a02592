"""The code location for Kubernetes (docs/deployment.md; Helm values in orchestration/deploy/k8s/):

    dagster api grpc -m orchestration.deployment_k8s     # the user-code deployment's command

The same assets, checks, jobs, sensors and schedules as orchestration.definitions, with the same EnvVar
resources (GDC_BASE_URL, GLIOMA_DATA_DIR, GDC_TOKEN_FILE from a mounted secret). Each run gets its own pod
(K8sRunLauncher in orchestration/deploy/k8s/dagster.yaml); inside it the training, publish and freshness
jobs give every step a pod of its own (`k8s_job_executor`), while the release refresh keeps its steps in
the run's pod (one process, or `multiprocess` by run config: its ~25 short steps would spend longer
starting pods than working). The lake and catalog live on a ReadWriteMany volume mounted at the same path
in every pod (the lake's commit lock is an flock: NFS v4 or another POSIX-locking filesystem).
"""

from dagster_k8s import k8s_job_executor

from orchestration.definitions import build_definitions

STEP_POD_LIMIT = 4  # step pods of one run at a time (the cluster's share for one release)

defs = build_definitions(executor=k8s_job_executor.configured({"max_concurrent": STEP_POD_LIMIT}))
