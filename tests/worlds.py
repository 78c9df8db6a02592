"""The pipeline worlds the tests read, built once per test session and shared by the xdist workers.

- `synthetic_two_release_root`: a small synthetic GDC root with releases 45.0 and 46.0.
- `two_release_catalog`: the real jobs (refresh, then challengers, for each release) run against the stand-in
  over HTTP into one data directory: lake, registry and `warehouse.duckdb`. Read-only for tests.
- `two_release_catalog_copy`: a private copy of that data directory, republished in place, for a test that
  writes to the lake or the catalog.
- `one_release_catalog` (and `_copy`): the same jobs for the first release only, the second not yet fetched.

With `pytest -n 2` the first worker that asks for a world builds it in the directory the workers share
(the parent of each worker's base temporary directory) while the other waits on a file lock, so the suite
builds each world once however many workers run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

_BUILT = ".built"


def shared_world(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """`name` built once by `build(directory)` for the whole session, across xdist workers."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base
    directory = shared / f"world-{name}"
    with FileLock(str(directory) + ".lock"):
        if not (directory / _BUILT).exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build that failed half-way
            directory.mkdir(parents=True)
            build(directory)
            (directory / _BUILT).touch()
    return directory


def run_pipeline(
    root: Path,
    releases: tuple[str, ...],
    data_dir: Path,
    lake_url: str = "",
    jobs: tuple[str, ...] = ("refresh_gdc_release", "train_challengers"),
) -> dict[str, float]:
    """Refresh then train challengers for each release, as the sensors do (or only `jobs`); seconds per run."""
    from dagster import instance_for_test

    from assets.partitions import gdc_releases
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
    from orchestration.definitions import build_definitions
    from sandbox.gdc_standin import GdcStandIn

    seconds: dict[str, float] = {}
    server = GdcStandIn(root, port=0)
    server.start()
    try:
        resources = {
            "gdc": GdcApiResource(base_url=server.base_url, backoff_factor=0.01, max_retries=1),
            "lake": LakeResource(data_dir=str(data_dir), lake_url=lake_url),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(n_splits=2, n_repeats=1, survival_baselines=False),
        }
        with instance_for_test() as instance:
            defs = build_definitions(resources)
            for release in releases:
                server.set_release(release)
                instance.add_dynamic_partitions(gdc_releases.name, [release])
                for job in jobs:
                    started = time.monotonic()
                    result = defs.resolve_job_def(job).execute_in_process(
                        partition_key=release, instance=instance, raise_on_error=False
                    )
                    seconds[f"{release} {job}"] = time.monotonic() - started
                    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
                    assert result.success, f"{job} for {release} failed at {failed}"
    finally:
        server.stop()
    return seconds


FIRST_RELEASE, SECOND_RELEASE = "45.0", "46.0"


def _write_two_release_root(directory: Path) -> None:
    from sandbox.synthetic import CohortSpec, write_multi_release

    write_multi_release(
        directory,
        CohortSpec(n_cases=160, seed=11, release_label=FIRST_RELEASE),
        releases=(FIRST_RELEASE, SECOND_RELEASE),
        change_share=0.2,
    )


@pytest.fixture(scope="session")
def real_rna_lake(tmp_path_factory) -> Path:
    """The real dev bundle with expression (../shared/realdata/bundles/tcga_gbmlgg_dev_rna), refreshed by the real
    job (raw, harmonised, checks; no models: the release is not scored). Read-only."""
    from tests.conftest import REALDATA_DIR

    bundle = REALDATA_DIR / "bundles" / "tcga_gbmlgg_dev_rna"
    if not (bundle / "CURRENT").exists():
        pytest.skip(f"real TCGA expression bundle not found at {bundle} (it ships beside the repository in ../shared)")
    return shared_world(
        tmp_path_factory,
        "real_rna_lake",
        lambda directory: run_pipeline(bundle, ("45.0",), directory, jobs=("refresh_gdc_release",)),
    )


@pytest.fixture(scope="session")
def synthetic_two_release_root(tmp_path_factory) -> tuple[Path, str, str]:
    """A small synthetic GDC root with releases 45.0 and 46.0 (46.0 changes a share of cases and files).
    Read-only: the stand-in serves it; a test that writes releases into a root makes its own."""
    root = shared_world(tmp_path_factory, "synthetic_two_releases", _write_two_release_root)
    return root, FIRST_RELEASE, SECOND_RELEASE


@pytest.fixture(scope="session")
def two_release_catalog(synthetic_two_release_root, tmp_path_factory) -> tuple[Path, str, str]:
    """(data dir with lake, registry and warehouse.duckdb, first release, second release). Read-only for tests."""
    root, first, second = synthetic_two_release_root
    data_dir = shared_world(
        tmp_path_factory, "two_release_catalog", lambda directory: run_pipeline(root, (first, second), directory)
    )
    return data_dir, first, second


@pytest.fixture
def two_release_catalog_copy(two_release_catalog, tmp_path) -> tuple[Path, str, str]:
    """A private copy of the two-release data directory, republished so its views name the copy's files."""
    from warehouse.catalog import republish

    source, first, second = two_release_catalog
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir, ignore=shutil.ignore_patterns(_BUILT))
    republish(data_dir)
    return data_dir, first, second


@pytest.fixture(scope="session")
def one_release_catalog(synthetic_two_release_root, tmp_path_factory) -> tuple[Path, str, str]:
    """(data dir, first release, second release): the first release refreshed and trained by the real jobs, the
    second not yet fetched. Read-only for tests."""
    root, first, second = synthetic_two_release_root
    data_dir = shared_world(
        tmp_path_factory, "one_release_catalog", lambda directory: run_pipeline(root, (first,), directory)
    )
    return data_dir, first, second


@pytest.fixture
def one_release_catalog_copy(one_release_catalog, tmp_path) -> tuple[Path, str, str]:
    """A private copy of the one-release data directory, republished so its views name the copy's files."""
    from warehouse.catalog import republish

    source, first, second = one_release_catalog
    data_dir = tmp_path / "one_release"
    shutil.copytree(source, data_dir, ignore=shutil.ignore_patterns(_BUILT))
    republish(data_dir)
    return data_dir, first, second
