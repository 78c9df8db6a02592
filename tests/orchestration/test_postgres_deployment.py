"""The Dagster instance on a real PostgreSQL server (Debian's postgresql-15, started by this test on a free
127.0.0.1 port) with orchestration/deploy/dagster-postgres.yaml: a release refresh whose steps run in
parallel processes (multiprocess executor, at most 2 at a time) side by side with a training run of the
previous release (in its run's process: the refresh alone proves the parallel steps, and a process per
training step would spend the test's time importing); both runs and their events are in PostgreSQL, the
catalog publishes both releases."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_user(command: list[str], cwd: Path) -> None:
    # initdb and postgres refuse to run as root: drop to Debian's `postgres` user when we are root.
    argv = [os.path.join(BINARIES[-1], command[0]), *command[1:]]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    if not BINARIES:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql-15; .ci/run installs it)")
    import psycopg2

    # Not under pytest's tmp root: that is 0700 root's, and the server runs as the `postgres` user.
    directory = Path(tempfile.mkdtemp(prefix="glioma-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    port = _free_port()
    data = directory / "data"
    _as_postgres_user(
        ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], directory
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    _as_postgres_user(
        ["pg_ctl", "-D", str(data), "-l", str(directory / "server.log"), "-w", "-t", "60", "-o", options, "start"],
        directory,
    )
    try:
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("create database dagster")
        connection.close()
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": "dagster",
        }
    finally:
        _as_postgres_user(["pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"], directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def dagster_home(tmp_path):
    """The instance's home, with the deployment's dagster.yaml. Dagster mirrors a run's captured output with a
    `tail -F` per stream; the training run launched from a thread of this long-lived process leaves them
    following files in this home after the run (Dagster's terminate() is lost on them: they inherit an ignored
    SIGTERM), so they are killed with it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "orchestration" / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    yield home
    for process in Path("/proc").glob("[0-9]*"):
        try:
            argv = (process / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if argv[0] == b"tail" and any(str(home).encode() in arg for arg in argv):
            try:
                os.kill(int(process.name), signal.SIGKILL)  # they inherit an ignored SIGTERM
            except ProcessLookupError:
                pass


def test_refresh_in_parallel_steps_beside_a_training_run_on_a_postgres_instance(
    postgres, synthetic_two_release_root, one_release_catalog_copy, dagster_home, monkeypatch
):
    import duckdb
    import psycopg2
    from dagster import DagsterEventType, DagsterInstance, execute_job
    from dagster_postgres import PostgresRunStorage

    from assets.partitions import gdc_releases
    from assets.specs import GDC_POOL
    from assets.warehouse import CATALOG_PUBLISH_POOL
    from orchestration.deployment import PARALLEL_RUN_CONFIG, reconstructable_job
    from orchestration.jobs import IN_PROCESS_RUN_CONFIG
    from sandbox.gdc_standin import GdcStandIn

    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    home = dagster_home
    root, _, _ = synthetic_two_release_root
    # The first release refreshed and trained by the same jobs and training settings (tests/worlds.py), copied.
    copied, first, second = one_release_catalog_copy
    data_dir = str(copied)
    with GdcStandIn(root, port=0) as server, DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert instance.run_monitoring_enabled
        instance.add_dynamic_partitions(gdc_releases.name, [first, second])
        # A new instance's pools get their rows when a step first claims them; two first runs starting together
        # race to create them (a UniqueViolation in Dagster's concurrency table), so a deployment creates them first.
        for pool in (GDC_POOL, CATALOG_PUBLISH_POOL):
            instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        server.set_release(second)

        results = {}

        def launch(key, job, release, run_config):
            with execute_job(
                reconstructable_job(job, server.base_url, data_dir),
                instance=instance,
                run_config=run_config,
                tags={"dagster/partition": release},
            ) as result:
                results[key] = (result.success, result.run_id)

        threads = [
            threading.Thread(target=launch, args=("refresh", "refresh_gdc_release", second, PARALLEL_RUN_CONFIG)),
            threading.Thread(target=launch, args=("train", "train_challengers", first, IN_PROCESS_RUN_CONFIG)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=900)
        assert results["refresh"][0] and results["train"][0], results

        # Steps of the refresh ran in parallel processes, never more than max_concurrent (2) at once.
        refresh_run = results["refresh"][1]
        windows, pids = {}, set()
        for record in instance.all_logs(refresh_run):
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                windows[event.step_key] = [record.timestamp, None]
                pids.add(event.pid)
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                windows[event.step_key][1] = record.timestamp
        assert len(pids) > 1  # a process per step
        edges = sorted(
            [(start, 1) for start, _ in windows.values()] + [(end, -1) for _, end in windows.values()],
            key=lambda edge: (edge[0], edge[1]),
        )
        running, most = 0, 0
        for _, change in edges:
            running += change
            most = max(most, running)
        assert 2 <= most <= 2, most

    # The runs are PostgreSQL rows, and the catalog both runs published holds both releases.
    connection = psycopg2.connect(
        host="127.0.0.1", port=int(postgres["DAGSTER_PG_PORT"]), user="postgres", dbname="dagster"
    )
    with connection, connection.cursor() as cursor:
        cursor.execute("select run_id, status from runs where run_id in %s", (tuple(r[1] for r in results.values()),))
        assert sorted(status for _, status in cursor.fetchall()) == ["SUCCESS", "SUCCESS"]
    connection.close()
    with duckdb.connect(str(Path(data_dir) / "warehouse.duckdb"), read_only=True) as catalog:
        published = [
            r[0]
            for r in catalog.execute(
                "select release from ops.catalog_releases where status = 'published' order by release"
            ).fetchall()
        ]
    assert published == [first, second]
