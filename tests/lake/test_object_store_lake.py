"""The lake and catalog on an S3-compatible object store: a real S3 server (moto's, over HTTP on a free port),
pyarrow's S3 filesystem for the lake, DuckDB httpfs for the catalog's views, the real Dagster jobs."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time

import duckdb
import polars as pl
import pytest
import requests

from lake import manifest as lake_manifest
from lake.manifest import READER_GENERATIONS
from lake.object_store import ObjectStoreConfig, S3Path, configure_duckdb, httpfs_extension_file
from lake.store import Lake

pytestmark = pytest.mark.skipif(
    httpfs_extension_file() is None, reason=f"duckdb-extension-httpfs=={duckdb.__version__} is not installed"
)

BUCKET = "glioma-lake"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3 server in its own process; yields its endpoint URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(endpoint, timeout=2)
                break
            except requests.ConnectionError as error:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from error
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The standard AWS variables pointing at the local server, and an empty bucket; yields the bucket URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "glioma-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "glioma-test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    filesystem = ObjectStoreConfig.from_env().pyarrow_filesystem(allow_bucket_creation=True, allow_bucket_deletion=True)
    from pyarrow import fs

    if filesystem.get_file_info(BUCKET).type != fs.FileType.NotFound:
        filesystem.delete_dir(BUCKET)
    filesystem.create_dir(BUCKET)
    yield f"s3://{BUCKET}/glioma", filesystem


def _objects(filesystem, prefix: str) -> list[str]:
    from pyarrow import fs

    return sorted(
        i.path
        for i in filesystem.get_file_info(fs.FileSelector(prefix, recursive=True, allow_not_found=True))
        if i.type == fs.FileType.File
    )


def test_s3_path_prints_as_a_url_and_keeps_its_key():
    path = S3Path.from_url("s3://bucket/prefix/") / "lake" / "raw"
    assert str(path) == "s3://bucket/prefix/lake/raw" and os.fspath(path) == str(path)
    assert path.key == "bucket/prefix/lake/raw" and path.bucket == "bucket"
    assert isinstance(path.parent, S3Path) and path.parent.name == "lake"
    with pytest.raises(ValueError, match="not an s3:// URL"):
        S3Path.from_url("/local/dir")


def test_lake_versions_commit_and_cleanup_on_the_object_store(s3_env, tmp_path, monkeypatch):
    lake_url, filesystem = s3_env
    frame = pl.DataFrame({"case_id": ["a", "b", "c"], "age": [51.0, None, 70.5], "release": ["45.0"] * 3})
    writer = Lake(tmp_path, writer="runA", lake_url=lake_url)
    written = writer.write(frame, "harmonised", "patients", "45.0")
    assert str(written.path).startswith(f"s3://{BUCKET}/glioma/lake/harmonised/patients/release=45.0/part-")
    assert writer.read("harmonised", "patients", "45.0").equals(frame)
    assert writer.row_count("harmonised", "patients", "45.0") == 3
    assert writer.content_hash("harmonised", "patients", "45.0") is not None
    assert writer.scan("harmonised", "patients", "45.0").filter(pl.col("age") > 60).collect()["case_id"].to_list() == [
        "c"
    ]
    assert not (tmp_path / "lake").exists(), "an object-store lake writes nothing under <data_dir>/lake"
    assert not list((tmp_path / ".lake-staging").glob("*")), "staged files are gone once uploaded"

    # Another run (not finished) sees nothing; after the commit every reader sees the committed version.
    reader = Lake(tmp_path, writer="runB", lake_url=lake_url)
    assert reader.releases("harmonised", "patients") == []
    writer.commit({"45.0": {"harmonised/patients": written.path}})
    assert reader.releases("harmonised", "patients") == ["45.0"]
    assert reader.table_path("harmonised", "patients", "45.0") == written.path

    # A streamed partition that is aborted leaves no object; a committed one appears whole.
    sink = writer.sink(
        "raw",
        "gdc_cases",
        "45.0",
        {"case_id": pl.String, "release": pl.String},
        lambda hits: pl.DataFrame({"case_id": hits, "release": ["45.0"] * len(hits)}),
    )
    sink.add(["x", "y"])
    sink.abort()
    assert _objects(filesystem, f"{BUCKET}/glioma/lake/raw") == []
    sink = writer.sink(
        "raw",
        "gdc_cases",
        "45.0",
        {"case_id": pl.String, "release": pl.String},
        lambda hits: pl.DataFrame({"case_id": hits, "release": ["45.0"] * len(hits)}),
    )
    sink.add(["x", "y"])
    sink.add(["z"])
    assert not writer.exists("raw", "gdc_cases", "45.0"), "nothing is visible before the sink commits"
    assert _objects(filesystem, f"{BUCKET}/glioma/lake/raw") == []
    sink.commit()
    assert writer.read("raw", "gdc_cases", "45.0")["case_id"].to_list() == ["x", "y", "z"]

    # More commits of new versions: superseded versions no kept generation names go (no grace period here, so
    # the newest READER_GENERATIONS generations are the kept ones; lake.manifest).
    monkeypatch.setattr(lake_manifest, "READER_GRACE_SECONDS", 0.0)
    paths = [written.path]
    for _ in range(READER_GENERATIONS + 1):
        newer = writer.write(frame, "harmonised", "patients", "45.0")
        writer.commit({"45.0": {"harmonised/patients": newer.path}})
        writer.remove_superseded([("harmonised", "patients")])
        paths.append(newer.path)
    left = _objects(filesystem, f"{BUCKET}/glioma/lake/harmonised/patients")
    assert left == sorted(p.key for p in paths[-READER_GENERATIONS:]), "versions of kept generations stay, older go"
    assert [g.generation for g in reader.manifest_history()] == list(range(3, 3 + READER_GENERATIONS))
    manifest = reader.manifest()
    assert (
        manifest["generation"] == READER_GENERATIONS + 2
        and manifest["releases"]["45.0"]["harmonised/patients"] == paths[-1].name
    )

    status = writer.write_object(
        b'{"data_release": "45.0"}', writer.partition_dir("raw", "gdc_release", "45.0") / "status.json"
    )
    assert filesystem.open_input_stream(status.key).read() == b'{"data_release": "45.0"}'


def test_duckdb_reads_the_lake_through_httpfs(s3_env, tmp_path):
    lake_url, _ = s3_env
    lake = Lake(tmp_path, lake_url=lake_url)
    written = lake.write(
        pl.DataFrame({"case_id": ["a", "b"], "release": ["45.0", "45.0"]}), "harmonised", "patients", "45.0"
    )
    with duckdb.connect() as connection:
        configure_duckdb(connection)
        assert connection.execute(f"select count(*) from read_parquet('{written.path}')").fetchone()[0] == 2
        # The secret is temporary: nothing of it would be written into a catalog file.
        assert connection.execute("select persistent from duckdb_secrets() where name = 'glioma_lake'").fetchone() == (
            False,
        )


def test_missing_keys_give_a_clear_error(s3_env, monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with duckdb.connect() as connection, pytest.raises(RuntimeError, match="AWS_SECRET_ACCESS_KEY"):
        configure_duckdb(connection)


@pytest.mark.slow
def test_two_release_pipeline_on_the_object_store_publishes_what_a_local_lake_does(
    s3_env, tmp_path, synthetic_two_release_root, request
):
    """The real refresh and training jobs for two releases with the lake on S3: the catalog published locally
    and the copy analysts attach from S3 show exactly what the same jobs publish from a local lake. (The local
    world is asked for after the S3 run, so this worker does not wait for another one building it first.)"""
    from tests.reliability.reliability_state import connection_state, published_state
    from tests.worlds import run_pipeline

    lake_url, filesystem = s3_env
    root, first, second = synthetic_two_release_root
    run_pipeline(
        root, (first, second), tmp_path, lake_url=lake_url, classifier_baselines=True
    )  # as two_release_catalog

    assert not (tmp_path / "lake").exists()
    objects = _objects(filesystem, f"{BUCKET}/glioma")
    assert f"{BUCKET}/glioma/lake/_manifest.json" in objects and f"{BUCKET}/glioma/warehouse.duckdb" in objects
    assert any("/lake/scores/grading/release=46.0/part-" in o for o in objects)

    local_dir, _, _ = request.getfixturevalue("two_release_catalog")
    expected = published_state(local_dir)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        configure_duckdb(connection)
        on_this_host = connection_state(connection, lake_url)
    assert on_this_host.differences(expected) == []
    assert on_this_host.releases == (first, second) and on_this_host.current_releases == (second,)

    # A remote analyst: nothing local, the catalog attached read-only from the bucket.
    from warehouse.cli import main as glioma

    out, err = io.StringIO(), io.StringIO()
    code = glioma(
        [
            "--catalog",
            f"{lake_url}/warehouse.duckdb",
            "sql",
            "--csv",
            "select release, count(*) as patients from harmonised.patients group by release order by release",
        ],
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    with duckdb.connect(str(local_dir / "warehouse.duckdb"), read_only=True) as connection:
        local_counts = connection.execute(
            "select release, count(*) from harmonised.patients group by release order by release"
        ).fetchall()
    assert out.getvalue().strip().splitlines()[1:] == [f"{r},{n}" for r, n in local_counts]
