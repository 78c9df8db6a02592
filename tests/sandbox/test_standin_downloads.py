"""/data and /manifest of the stand-in: stored bytes, headers, tarballs with MANIFEST.txt, md5 = files.jsonl."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import requests

from sandbox.gdc_standin.testing import FILE_A, FILE_B, FILE_CONTROLLED, small_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return small_bundle(tmp_path / "bundle")


@pytest.fixture
def server(bundle: Path, gdc_standin_factory):
    return gdc_standin_factory(bundle)


def file_docs(bundle: Path) -> dict[str, dict]:
    lines = (bundle / "releases" / "45.0" / "files.jsonl").read_text().splitlines()
    return {doc["file_id"]: doc for doc in map(json.loads, lines)}


def test_single_file_download_returns_stored_bytes_with_attachment_headers(server, bundle):
    doc = file_docs(bundle)[FILE_A]
    response = requests.get(f"{server.base_url}/data/{FILE_A}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f"attachment; filename={doc['file_name']}"
    assert int(response.headers["Content-Length"]) == doc["file_size"] == len(response.content)
    assert hashlib.md5(response.content).hexdigest() == doc["md5sum"]
    assert response.content == (bundle / "releases/45.0/data" / FILE_A).read_bytes()


def _members(archive_bytes: bytes, mode: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode=mode) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_comma_separated_ids_give_tar_gz_with_uuid_members_and_manifest(server, bundle):
    docs = file_docs(bundle)
    response = requests.get(f"{server.base_url}/data/{FILE_A},{FILE_B}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(".tar.gz")
    assert response.content[:2] == b"\x1f\x8b"  # gzip magic
    members = _members(response.content, "r:gz")
    assert set(members) == {
        f"{FILE_A}/{docs[FILE_A]['file_name']}",
        f"{FILE_B}/{docs[FILE_B]['file_name']}",
        "MANIFEST.txt",
    }
    for file_id in (FILE_A, FILE_B):
        content = members[f"{file_id}/{docs[file_id]['file_name']}"]
        assert hashlib.md5(content).hexdigest() == docs[file_id]["md5sum"]
    manifest_lines = members["MANIFEST.txt"].decode().splitlines()
    assert manifest_lines[0] == "id\tfilename\tmd5\tsize\tstate"
    assert {line.split("\t")[0] for line in manifest_lines[1:]} == {FILE_A, FILE_B}


def test_post_data_with_json_ids_and_form_ids_and_plain_tar(server, bundle):
    as_json = requests.post(f"{server.base_url}/data", json={"ids": [FILE_A, FILE_B]}, timeout=10)
    as_form = requests.post(f"{server.base_url}/data?tarfile", data={"ids": [FILE_A, FILE_B]}, timeout=10)
    assert _members(as_json.content, "r:gz").keys() == _members(as_form.content, "r:").keys()
    assert as_form.headers["Content-Disposition"].endswith(".tar")
    assert as_form.content[:2] != b"\x1f\x8b"


def test_controlled_file_is_403_and_unknown_file_is_404(server):
    forbidden = requests.get(f"{server.base_url}/data/{FILE_CONTROLLED}", timeout=10)
    assert forbidden.status_code == 403
    assert f"Requested file {FILE_CONTROLLED} does not allow read access" in forbidden.json()["message"]
    missing = requests.get(f"{server.base_url}/data/f11e0000-0000-4000-8000-0000000000ff", timeout=10)
    assert missing.status_code == 404
    assert "f11e0000-0000-4000-8000-0000000000ff" in missing.json()["message"]


def test_manifest_by_path_post_and_files_return_type(server, bundle):
    docs = file_docs(bundle)
    by_path = requests.get(f"{server.base_url}/manifest/{FILE_A},{FILE_B}", timeout=10).text
    by_post = requests.post(f"{server.base_url}/manifest", json={"ids": [FILE_A, FILE_B]}, timeout=10).text
    assert by_path == by_post
    rows = [line.split("\t") for line in by_path.splitlines()]
    assert rows[0] == ["id", "filename", "md5", "size", "state"]
    assert rows[1] == [
        FILE_A,
        docs[FILE_A]["file_name"],
        docs[FILE_A]["md5sum"],
        str(docs[FILE_A]["file_size"]),
        "released",
    ]
    # size is ignored for manifests: the whole filtered set comes back
    filters = {"op": "=", "content": {"field": "files.data_format", "value": "txt"}}
    search = requests.get(
        f"{server.base_url}/files",
        params={"return_type": "manifest", "size": 1, "filters": json.dumps(filters)},
        timeout=10,
    ).text
    assert [line.split("\t")[0] for line in search.splitlines()[1:]] == [FILE_A, FILE_B]


@pytest.mark.realdata
def test_real_dev_bundle_downloads_match_files_md5(real_dev_bundle, gdc_standin_factory):
    server = gdc_standin_factory(real_dev_bundle)
    session = requests.Session()
    body = session.post(
        f"{server.base_url}/files",
        json={"size": 3, "sort": "file_id", "fields": "file_id,file_name,md5sum,file_size"},
        timeout=30,
    ).json()
    hits = body["data"]["hits"]
    for hit in hits:
        with session.get(f"{server.base_url}/data/{hit['file_id']}", stream=True, timeout=30) as response:
            content = b"".join(response.iter_content(8192))
        assert hashlib.md5(content).hexdigest() == hit["md5sum"]
        assert len(content) == hit["file_size"]
    archive = session.post(f"{server.base_url}/data", json={"ids": [h["file_id"] for h in hits]}, timeout=30)
    members = _members(archive.content, "r:gz")
    for hit in hits:
        assert hashlib.md5(members[f"{hit['file_id']}/{hit['file_name']}"]).hexdigest() == hit["md5sum"]
