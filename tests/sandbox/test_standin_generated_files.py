"""Expression files the stand-in generates on request (a synthetic release written with `expression_on_demand`):
nothing on disk, the same bytes every time, the md5 of the document, Range and archives as for stored files,
and the GDC client downloads them with its checks."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import polars as pl
import pytest
import requests

from gdc.client import GdcClient
from gdc.responses import ArchiveFile
from sandbox.synthetic import CohortSpec, write_bundle
from sandbox.synthetic.expression import EXPRESSION_SOURCES_FILE


@pytest.fixture(scope="module")
def on_demand_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("on_demand")
    summary = write_bundle(root, CohortSpec(n_cases=40, seed=9, expression_genes=300, expression_on_demand=True))
    documents = [json.loads(line) for line in (summary.release_dir / "files.jsonl").read_text().splitlines()]
    expression = [d for d in documents if d["data_type"] == "Gene Expression Quantification"]
    return root, summary.release_dir, expression


def test_generated_files_are_not_on_disk_and_serve_the_documents_md5_every_time(on_demand_bundle, gdc_standin_factory):
    root, release_dir, documents = on_demand_bundle
    assert len(documents) >= 10
    assert not any((release_dir / "data" / d["file_id"]).exists() for d in documents)
    sources = pl.read_parquet(release_dir / EXPRESSION_SOURCES_FILE)
    assert set(sources["file_id"]) == {d["file_id"] for d in documents}
    server = gdc_standin_factory(root)
    for document in documents[:5]:
        first = requests.get(f"{server.base_url}/data/{document['file_id']}", timeout=30)
        again = requests.get(f"{server.base_url}/data/{document['file_id']}", timeout=30)
        assert first.status_code == 200 and first.content == again.content
        assert hashlib.md5(first.content).hexdigest() == document["md5sum"] == first.headers["Content-MD5"]
        assert len(first.content) == document["file_size"]
        assert first.content.startswith(b"# gene-model: GENCODE v36\n")


def test_range_and_archives_work_on_generated_files(on_demand_bundle, gdc_standin_factory):
    root, _, documents = on_demand_bundle
    server = gdc_standin_factory(root)
    document = documents[0]
    whole = requests.get(f"{server.base_url}/data/{document['file_id']}", timeout=30).content
    part = requests.get(f"{server.base_url}/data/{document['file_id']}", headers={"Range": "bytes=100-"}, timeout=30)
    assert part.status_code == 206 and part.content == whole[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    ids = [d["file_id"] for d in documents[:3]]
    archive = requests.post(f"{server.base_url}/data", json={"ids": ids}, timeout=30)
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:*") as tar:
        members = {m.name.split("/")[0]: tar.extractfile(m).read() for m in tar if m.isfile() and "/" in m.name}
    for d in documents[:3]:
        assert hashlib.md5(members[d["file_id"]]).hexdigest() == d["md5sum"]


def test_the_gdc_client_downloads_generated_files_with_its_checks(on_demand_bundle, gdc_standin_factory):
    root, _, documents = on_demand_bundle
    server = gdc_standin_factory(root)
    with GdcClient(server.base_url) as client:
        one = client.fetch_file(documents[0]["file_id"], md5=documents[0]["md5sum"], size=documents[0]["file_size"])
        assert hashlib.md5(one).hexdigest() == documents[0]["md5sum"]
        wanted = [ArchiveFile(d["file_id"], d["md5sum"], d["file_size"]) for d in documents[1:4]]
        got = dict(client.iter_archive_files(wanted))
        assert set(got) == {d["file_id"] for d in documents[1:4]}
