"""The download protocol NCI's gdc-client speaks, against the stand-in over real HTTP.

GDC_API_FACTS.md 1.7 "Download endpoints": gdc-client first `POST /files/versions` (stops on a non-200),
posts every group of small files — groups of one included — to `/data?tarfile` and untars the reply, needs
`Content-MD5` (hex) on `GET /data/<id>`, and fetches large files in `Range` segments, resuming from a
`.partial` file. `HEAD /data/<id>` answers 400 on the live API (gdcfetch probes with `Range: bytes=0-0`).

gdc-client itself is not installable here (not on PyPI; NCI ships it as a frozen binary), so
`GdcClientReplay` below re-enacts its request sequence, step for step, from its source
(NCI-GDC/gdc-client `src/gdc_client/download/parser.py`, `download/client.py`, `query/versions.py`,
`query/index.py`, `parcel/client.py`, `parcel/download_stream.py`, `parcel/segment.py`). The test at the
end runs the real CLI when one is installed (`GDC_CLIENT=/path/to/gdc-client`, or `gdc-client` on PATH).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import random
import shutil
import subprocess
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import requests
from requests.adapters import HTTPAdapter

from sandbox.gdc_standin.data_protocol import RangeNotSatisfiable, parse_range
from sandbox.gdc_standin.testing import file_document, write_bundle

SMALL_1 = "f11e0000-0000-4000-8000-000000000101"  # in 45.0 and 46.0
SMALL_2 = "f11e0000-0000-4000-8000-000000000102"  # 45.0 only (superseded by NEW_2 in 46.0)
NEW_2 = "f11e0000-0000-4000-8000-000000000103"  # 46.0 only, version "2"
LARGE = "f11e0000-0000-4000-8000-000000000104"  # > 0.01 GiB: gdc-client splits it over its processes
EMPTY = "f11e0000-0000-4000-8000-000000000105"  # 0 bytes
CONTROLLED = "f11e0000-0000-4000-8000-000000000106"
UNKNOWN = "f11e0000-0000-4000-8000-0000000001ff"
GIB = 1024**3
MIB = 1024**2
LARGE_SIZE = 11 * MIB + 12345  # gdc-client uses one process below 0.01 GiB (10.24 MiB); odd size: uneven blocks

VERSION_KEYS = {
    "id",
    "filename",
    "version",
    "md5",
    "size",
    "state",
    "release",
    "latest_id",
    "latest_filename",
    "latest_version",
    "latest_md5",
    "latest_size",
    "latest_state",
    "latest_release",
}


def _contents() -> dict[str, bytes]:
    rng = random.Random(20260810)
    return {
        SMALL_1: b"cg12434587\t0.81\ncg12981137\t0.77\n",
        SMALL_2: b"cg12434587\t0.05\n",
        NEW_2: b"cg12434587\t0.06\ncg12981137\t0.12\n",
        LARGE: rng.randbytes(LARGE_SIZE),
        EMPTY: b"",
        CONTROLLED: b"secret",
    }


@pytest.fixture(scope="module")
def contents() -> dict[str, bytes]:
    return _contents()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, contents) -> Path:
    def docs(ids: list[str]) -> list[dict]:
        extra = {
            NEW_2: {"version": "2"},
            CONTROLLED: {"access": "controlled", "data_format": "BAM"},
            LARGE: {"file_name": f"{LARGE}.wgs.large.bin"},
        }
        return [file_document(i, contents[i], **{"data_format": "TXT", **extra.get(i, {})}) for i in ids]

    ids_45 = [SMALL_1, SMALL_2, LARGE, EMPTY, CONTROLLED]
    ids_46 = [SMALL_1, NEW_2, LARGE, EMPTY, CONTROLLED]
    return write_bundle(
        tmp_path_factory.mktemp("gdc_client_bundle"),
        {
            "45.0": {"files": docs(ids_45), "data": {i: contents[i] for i in ids_45}},
            "46.0": {"files": docs(ids_46), "data": {i: contents[i] for i in ids_46}},
        },
        current="46.0",
    )


@pytest.fixture
def server(bundle, gdc_standin_factory):
    return gdc_standin_factory(bundle)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def file_doc(bundle: Path, file_id: str, release: str = "46.0") -> dict:
    for line in (bundle / "releases" / release / "files.jsonl").read_text().splitlines():
        doc = json.loads(line)
        if doc["file_id"] == file_id:
            return doc
    raise KeyError(file_id)


def tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


# -- POST /files/versions -------------------------------------------------------------------------------------


def test_files_versions_answers_a_bare_list_with_the_documented_keys(server, bundle, contents):
    response = requests.post(f"{server.base_url}/files/versions", json={"ids": [SMALL_1, LARGE, NEW_2]}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    entries = response.json()
    assert isinstance(entries, list)  # trap 1: not enveloped in {"data": ...}
    assert [e["id"] for e in entries] == [SMALL_1, LARGE, NEW_2]  # request order
    for entry in entries:
        doc = file_doc(bundle, entry["id"])
        assert set(entry) == VERSION_KEYS
        assert entry["latest_id"] == entry["id"]  # every served file is its own latest version
        assert entry["filename"] == entry["latest_filename"] == doc["file_name"]
        assert entry["md5"] == entry["latest_md5"] == md5(contents[entry["id"]])
        assert entry["size"] == entry["latest_size"] == len(contents[entry["id"]])
        assert entry["version"] == entry["latest_version"] == doc["version"]  # a string, as stored
        assert entry["state"] == entry["latest_state"] == "released"
    by_id = {e["id"]: e for e in entries}
    # release = first bundle release carrying the file; latest_release = all of them up to the served one
    assert by_id[SMALL_1]["release"] == "45.0" and by_id[SMALL_1]["latest_release"] == ["45.0", "46.0"]
    assert by_id[NEW_2]["release"] == "46.0" and by_id[NEW_2]["latest_release"] == ["46.0"]
    assert by_id[NEW_2]["version"] == "2"


def test_files_versions_leaves_out_unknown_ids_and_older_release_ids(server):
    response = requests.post(
        f"{server.base_url}/files/versions", json={"ids": [UNKNOWN, SMALL_1, SMALL_2, SMALL_1]}, timeout=10
    )
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [SMALL_1]  # one entry per known id, duplicates once
    nothing = requests.post(f"{server.base_url}/files/versions", json={"ids": [UNKNOWN]}, timeout=10)
    assert nothing.status_code == 200 and nothing.json() == []
    # the same id is known once the older release is served again
    server.set_release("45.0")
    old = requests.post(f"{server.base_url}/files/versions", json={"ids": [SMALL_2, SMALL_1]}, timeout=10).json()
    assert [(e["id"], e["latest_release"]) for e in old] == [(SMALL_2, ["45.0"]), (SMALL_1, ["45.0"])]


def test_files_versions_get_manifest_v0_tsv_and_bad_requests(server):
    base = server.base_url
    posted = requests.post(f"{base}/files/versions", json={"ids": [SMALL_1, LARGE]}, timeout=10).json()
    assert requests.get(f"{base}/files/versions/{SMALL_1},{LARGE}", timeout=10).json() == posted
    assert requests.post(f"{base}/v0/files/versions", json={"ids": [SMALL_1, LARGE]}, timeout=10).json() == posted
    manifest = requests.get(f"{base}/manifest/{SMALL_1},{LARGE}", timeout=10).text
    by_manifest = requests.post(
        f"{base}/files/versions/manifest", data=manifest.encode(), headers={"Content-Type": "text/tsv"}, timeout=10
    )
    assert by_manifest.status_code == 200 and by_manifest.json() == posted
    tsv = requests.get(f"{base}/files/versions/{SMALL_1}", params={"format": "tsv"}, timeout=10)
    header = tsv.text.splitlines()[0].split("\t")
    assert {"id", "latest_id", "md5", "latest_release.0", "latest_release.1"} <= set(header)
    assert requests.post(f"{base}/files/versions", json={}, timeout=10).status_code == 400
    assert requests.post(f"{base}/files/versions", json={"ids": [3]}, timeout=10).status_code == 400
    assert requests.post(f"{base}/files/versions", json={"ids": []}, timeout=10).json() == []


# -- GET /data/<id>: Content-MD5, Range, HEAD ------------------------------------------------------------------


def test_full_get_sends_hex_content_md5_and_accept_ranges(server, bundle, contents):
    response = requests.get(f"{server.base_url}/data/{LARGE}", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-MD5"] == md5(contents[LARGE]) == file_doc(bundle, LARGE)["md5sum"]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == LARGE_SIZE
    assert response.headers["Content-Disposition"] == f"attachment; filename={LARGE}.wgs.large.bin"
    assert md5(response.content) == response.headers["Content-MD5"]


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-0", 0, 0),  # gdcfetch's size probe
        ("bytes=10-19", 10, 19),
        ("bytes=1048576-", 1048576, LARGE_SIZE - 1),  # open-ended: a resumed download
        ("bytes=-50", LARGE_SIZE - 50, LARGE_SIZE - 1),  # suffix: the last 50 bytes
        (f"bytes=100-{LARGE_SIZE + 10**6}", 100, LARGE_SIZE - 1),  # end past the file: clamped
        ("BYTES = 5-9", 5, 9),  # unit case-insensitive, spaces tolerated
    ],
)
def test_range_forms_get_206_with_content_range(server, contents, header, start, end):
    response = requests.get(f"{server.base_url}/data/{LARGE}", headers={"Range": header}, timeout=30)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{LARGE_SIZE}"
    assert int(response.headers["Content-Length"]) == end - start + 1
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Content-MD5" not in response.headers  # it would not be the md5 of this body
    assert response.content == contents[LARGE][start : end + 1]


def test_ranged_segments_reassemble_byte_identical_with_matching_md5(server, contents):
    url = f"{server.base_url}/data/{LARGE}"
    expected_md5 = requests.get(url, stream=True, timeout=30).headers["Content-MD5"]
    bounds = sorted({0, LARGE_SIZE, *random.Random(3).sample(range(1, LARGE_SIZE), 6)})
    segments = list(itertools.pairwise(bounds))  # 7 uneven [begin, end) segments

    def fetch(segment: tuple[int, int]) -> tuple[int, bytes]:
        begin, end = segment
        response = requests.get(url, headers={"Range": f"bytes={begin}-{end - 1}"}, timeout=30)
        assert response.status_code == 206
        return begin, response.content

    with ThreadPoolExecutor(4) as pool:  # concurrently, as gdc-client's processes do
        parts = sorted(pool.map(fetch, segments))
    assembled = b"".join(part for _, part in parts)
    assert assembled == contents[LARGE]
    assert md5(assembled) == expected_md5


def test_ranged_reads_keep_the_connection_alive(server, contents):
    session = requests.Session()
    before = server.connections_accepted
    for start in range(0, 4096, 1024):
        response = session.get(
            f"{server.base_url}/data/{LARGE}", headers={"Range": f"bytes={start}-{start + 1023}"}, timeout=10
        )
        assert response.content == contents[LARGE][start : start + 1024]
    assert server.connections_accepted - before == 1


@pytest.mark.parametrize(
    "file_id, header, total",
    [
        (LARGE, f"bytes={LARGE_SIZE}-", LARGE_SIZE),  # first byte past the end
        (LARGE, f"bytes={LARGE_SIZE + 5}-{LARGE_SIZE + 9}", LARGE_SIZE),
        (LARGE, "bytes=-0", LARGE_SIZE),  # empty suffix
        (EMPTY, "bytes=0-0", 0),  # nothing to select in an empty file
        (EMPTY, "bytes=-5", 0),
    ],
)
def test_unsatisfiable_range_is_416_with_content_range_star(server, file_id, header, total):
    response = requests.get(f"{server.base_url}/data/{file_id}", headers={"Range": header}, timeout=10)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{total}"
    assert "not satisfiable" in response.json()["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-1,5-9"},  # several ranges: the whole file (documented choice)
        {"Range": "bytes=9-5"},  # invalid: ignored (RFC 9110 14.2)
        {"Range": "bytes=abc"},
        {"Range": "items=0-5"},  # unknown unit
        {"Range": "bytes=0-9", "If-Range": '"some-etag"'},  # no validator of ours can match
    ],
)
def test_ranges_the_stand_in_ignores_get_the_whole_file(server, contents, headers):
    response = requests.get(f"{server.base_url}/data/{SMALL_1}", headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.content == contents[SMALL_1]
    assert response.headers["Content-MD5"] == md5(contents[SMALL_1])


def test_range_is_ignored_on_post(server, contents):
    response = requests.post(
        f"{server.base_url}/data", json={"ids": [SMALL_1]}, headers={"Range": "bytes=0-3"}, timeout=10
    )
    assert response.status_code == 200 and response.content == contents[SMALL_1]


def test_head_on_data_is_400_as_on_the_live_api_and_the_range_probe_gives_the_size(server):
    head = requests.head(f"{server.base_url}/data/{LARGE}", timeout=10)
    assert head.status_code == 400
    assert head.content == b""
    # what gdcfetch does instead (GDC_API_FACTS.md 1.7): a one-byte ranged GET
    probe = requests.get(f"{server.base_url}/data/{LARGE}", headers={"Range": "bytes=0-0"}, timeout=10)
    assert probe.status_code == 206 and len(probe.content) == 1
    assert int(probe.headers["Content-Range"].rsplit("/", 1)[-1]) == LARGE_SIZE
    assert ("HEAD", f"/data/{LARGE}", 400) in server.request_log


def test_head_data_headers_mode_sends_get_headers_without_body(bundle, gdc_standin_factory, contents):
    server = gdc_standin_factory(bundle, head_data="headers")
    session = requests.Session()
    head = session.head(f"{server.base_url}/data/{LARGE}", timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) == LARGE_SIZE
    assert head.headers["Content-Disposition"] == f"attachment; filename={LARGE}.wgs.large.bin"
    assert head.headers["Content-MD5"] == md5(contents[LARGE])
    assert head.headers["Accept-Ranges"] == "bytes"
    assert session.head(f"{server.base_url}/data/{CONTROLLED}", timeout=10).status_code == 403
    assert session.head(f"{server.base_url}/data/{UNKNOWN}", timeout=10).status_code == 404
    # HEAD elsewhere is GET without the body; the keep-alive connection stays usable afterwards
    status = session.head(f"{server.base_url}/status", timeout=10)
    assert status.status_code == 200 and status.content == b"" and int(status.headers["Content-Length"]) > 0
    assert session.get(f"{server.base_url}/data/{SMALL_1}", timeout=10).content == contents[SMALL_1]
    with pytest.raises(ValueError, match="head_data"):
        gdc_standin_factory(bundle, head_data="maybe")


# -- archives even for one id ---------------------------------------------------------------------------------


def test_one_id_with_tarfile_is_a_plain_tar_archive(server, bundle, contents):
    name = file_doc(bundle, SMALL_1)["file_name"]
    for response in (
        requests.post(f"{server.base_url}/data?tarfile", json={"ids": [SMALL_1]}, timeout=10),
        requests.get(f"{server.base_url}/data/{SMALL_1}?tarfile", timeout=10),
    ):
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].endswith(".tar")
        assert response.content[:2] != b"\x1f\x8b"
        assert "Content-MD5" not in response.headers and "Content-Length" not in response.headers  # streamed
        members = tar_members(response.content)
        assert set(members) == {f"{SMALL_1}/{name}", "MANIFEST.txt"}
        assert members[f"{SMALL_1}/{name}"] == contents[SMALL_1]
        assert members["MANIFEST.txt"].decode().splitlines()[1].split("\t")[0] == SMALL_1


def test_compress_gives_tar_gz_for_one_id_and_several_ids_with_tarfile_stay_plain(server, contents):
    compressed = requests.post(f"{server.base_url}/data?compress", json={"ids": [SMALL_1]}, timeout=10)
    assert compressed.content[:2] == b"\x1f\x8b"
    assert compressed.headers["Content-Disposition"].endswith(".tar.gz")
    assert len(tar_members(compressed.content)) == 2
    several = requests.get(f"{server.base_url}/data/{SMALL_1},{NEW_2}?tarfile", timeout=10)
    assert several.content[:2] != b"\x1f\x8b" and len(tar_members(several.content)) == 3
    bare = requests.post(f"{server.base_url}/data", json={"ids": [SMALL_1]}, timeout=10)
    assert bare.content == contents[SMALL_1]  # one id without ?tarfile/?compress: the bare file, as before


def test_parse_range_unit():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10).content_range(10) == "bytes 2-4/10"
    assert parse_range("bytes=-100", 10).content_range(10) == "bytes 0-9/10"
    assert parse_range("bytes=0-1, 3-4", 10) is None
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=10-", 10)


# -- gdc-client's request sequence, re-enacted ----------------------------------------------------------------


class Interrupted(Exception):
    """The replay stopped on purpose mid-download (as a user's Ctrl-C or a lost machine would)."""


class GdcClientReplay:
    """gdc-client's `download` subcommand, request for request (see the module docstring for the sources).

    1. `POST <server>/files/versions {"ids": [...]}` in chunks of 500; a non-200 stops the download.
    2. `POST /v0/files` (fields file_id,file_size,md5sum,annotations.annotation_id,metadata_files.file_id,
       index_files.file_id,access; filters as a JSON *string*; from/size as strings), then the same to
       `/v0/legacy/files` (404 here: no hits from it).
    3. Files with related files/annotations, absent from the index, or larger than `http_chunk_size`
       (default 1 GiB) are "big"; the rest are grouped by access in groups whose running size passes
       `http_chunk_size` before a new group starts.
    4. Each group: `POST /data?tarfile {"ids": group}` (on a non-200/203: `legacy/data?tarfile`, whose answer
       is the one looked at: a 403 would skip the group, anything else but 200/203 fails it); the archive is saved under Content-Disposition's `filename=`, untarred (except
       MANIFEST.txt) and every member's md5 compared with the index md5sum.
    5. Each big file: `GET /data/<id>` for Content-Length, Content-Disposition and Content-MD5 (body left
       unread); a sparse `<name>.partial`; segments of `remaining // n` bytes (one process below 0.01 GiB),
       each a `GET` with `Range: bytes=a-b` and `host`, written at its offset, a short segment retried from
       where it stopped (5 times); completed intervals with their md5 kept in a state file under `logs/`;
       a rerun re-checks those md5s and downloads only the rest; at the end the whole file's md5 must equal
       Content-MD5 ("the server did not provide an md5sum" otherwise); `.partial` is renamed.
    Sessions mount `HTTPAdapter(max_retries=16)` as gdc-client's DownloadStream does. State is saved per
    segment (gdc-client saves every `--save-interval` bytes); the replay's state file is JSON, not a pickle.
    """

    def __init__(self, server_url: str, directory: Path, *, http_chunk_size: int = GIB, n_procs: int = 4) -> None:
        self.server = server_url
        self.directory = directory
        self.http_chunk_size = http_chunk_size
        self.n_procs = n_procs
        self.ranges_requested: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.downloaded: list[str] = []
        self._lock = threading.Lock()

    # -- steps 1-3 -------------------------------------------------------------------------------------------

    def latest_versions(self, ids: list[str]) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            response = requests.post(self.server + "/files/versions", json={"ids": chunk}, timeout=60)
            if not response.ok:
                raise requests.HTTPError(f"/files/versions answered {response.status_code}", response=response)
            for result in response.json():
                mapping[result.get("id")] = result.get("latest_id") or result.get("id")
        return mapping

    def index(self, ids: list[str]) -> dict[str, dict]:
        filters = {"op": "and", "content": [{"op": "in", "content": {"field": "files.file_id", "value": list(ids)}}]}
        query = {
            "fields": "file_id,file_size,md5sum,annotations.annotation_id,metadata_files.file_id,"
            "index_files.file_id,access",
            "filters": json.dumps(filters),
            "from": "0",
            "size": str(len(ids)),
        }
        hits: list[dict] = []
        for endpoint in ("/v0/files", "/v0/legacy/files"):
            response = requests.post(urljoin(self.server, endpoint), json=query, timeout=60)
            if response.status_code == 200 and (response.json().get("data") or {}).get("hits") is not None:
                hits += response.json()["data"]["hits"]
        metadata: dict[str, dict] = {}
        for hit in hits:
            related = [r["file_id"] for r in hit.get("index_files", []) + hit.get("metadata_files", [])]
            annotations = [a["annotation_id"] for a in hit.get("annotations", [])]
            metadata.setdefault(
                hit["id"],
                {
                    "access": hit["access"],
                    "file_size": hit["file_size"],
                    "md5sum": hit["md5sum"],
                    "related": related,
                    "annotations": annotations,
                },
            )
        return metadata

    def separate(self, ids: list[str], metadata: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
        bigs: list[str] = []
        groups: dict[str, list[list[str]]] = {"open": [], "controlled": []}
        running = {"open": self.http_chunk_size + 1, "controlled": self.http_chunk_size + 1}
        for file_id in ids:
            meta = metadata.get(file_id)
            if meta is None or meta["related"] or meta["annotations"]:
                bigs.append(file_id)
                continue
            for access in groups:  # both groupings advance together, as in gdc-client
                if running[access] > self.http_chunk_size:
                    groups[access].append([])
                    running[access] = 0
            if int(meta["file_size"]) > self.http_chunk_size:
                bigs.append(file_id)
            elif meta["access"] in groups:
                groups[meta["access"]][-1].append(file_id)
                running[meta["access"]] += int(meta["file_size"])
        smalls = [g for g in groups["open"] + groups["controlled"] if g]
        return bigs, smalls

    # -- step 4 ----------------------------------------------------------------------------------------------

    def download_group(self, group: list[str], metadata: dict[str, dict]) -> None:
        response = None
        for path in ("data?tarfile", "legacy/data?tarfile"):
            response = requests.post(
                urljoin(self.server + "/", path),
                json={"ids": group},
                stream=True,
                headers={"X-Auth-Token": None},
                timeout=60,
            )
            if response.status_code in (200, 203):
                break
        assert response is not None
        if response.status_code == 403:
            self.errors += [f"{i}: 403" for i in group]
            return
        if response.status_code not in (200, 203):
            self.errors += [f"{i}: {response.status_code}" for i in group]
            return
        disposition = response.headers.get("content-disposition")
        tar_path = self.directory / (disposition.split("=")[1] if disposition else "gdc-client.tar")
        with open(tar_path, "wb") as handle:
            for chunk in response:
                handle.write(chunk)
        with tarfile.open(tar_path) as archive:  # compression detected, as tarfile.open(name) does
            members = [m for m in archive.getmembers() if m.name != "MANIFEST.txt"]
            archive.extractall(path=self.directory, members=members, filter="data")
        tar_path.unlink()
        for member in members:
            file_id = member.name.split("/")[0]
            if md5((self.directory / member.name).read_bytes()) != metadata[file_id]["md5sum"]:
                self.errors.append(f"{file_id}: md5 mismatch")
            else:
                self.downloaded.append(file_id)

    # -- step 5 ----------------------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.mount("http", HTTPAdapter(max_retries=16))
        return session

    def download_big(self, file_id: str, stop_after_segments: int | None = None) -> None:
        url = urljoin(self.server + "/", f"data/{file_id}")
        with self._session().get(url, headers={"X-Auth-Token": None}, stream=True, timeout=60) as info:
            info.raise_for_status()
            length = info.headers.get("Content-Length")
            size = int(length) if length else None
            disposition = info.headers.get("content-disposition")
            name = os.path.basename(disposition.split("filename=")[-1].strip("\"'")) if disposition else "untitled"
            content_md5 = info.headers.get("content-md5", "") if size is not None else None
        if not size:
            raise AssertionError("no Content-Length: gdc-client would fall back to a plain GET")
        folder = self.directory / file_id
        partial, final = folder / f"{name}.partial", folder / name
        state_path = folder / "logs" / f"{name}.parcel"
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        completed = self._recover(state_path, partial, final, content_md5)
        if completed is None:  # final file present and valid
            self.downloaded.append(file_id)
            return
        if not completed:
            with open(partial, "wb") as handle:
                handle.truncate(size)
        work = self._remaining(size, completed)
        n_procs = 1 if size < 0.01 * GIB else self.n_procs
        block = sum(e - b for b, e in work) // n_procs
        segments = []
        for begin, end in work:
            while begin < end:
                segments.append((begin, min(end, begin + block)))
                begin = segments[-1][1]

        def run(segment: tuple[int, int]) -> None:
            for begin, end, chunk_md5 in self._write_segment(url, partial, segment):
                with self._lock:
                    completed.append([begin, end, chunk_md5])
                    state_path.write_text(json.dumps(completed))

        if stop_after_segments is not None:
            for segment in segments[:stop_after_segments]:
                run(segment)
            raise Interrupted(f"stopped after {stop_after_segments} of {len(segments)} segments")
        with ThreadPoolExecutor(n_procs) as pool:
            list(pool.map(run, segments))
        if not content_md5:
            raise AssertionError("Cannot validate this file since the server did not provide an md5sum")
        if md5(partial.read_bytes()) != content_md5:
            raise AssertionError("File checksum is invalid")
        partial.rename(final)
        self.downloaded.append(file_id)

    def _write_segment(self, url: str, partial: Path, segment: tuple[int, int], retries: int = 5):
        begin, end = segment
        written = 0
        pieces = []
        host = urlparse(url).netloc
        try:
            with self._lock:
                self.ranges_requested.append((begin, end - 1))
            with self._session().get(
                url,
                headers={"X-Auth-Token": None, "Range": f"bytes={begin}-{end - 1}", "host": host},
                stream=True,
                timeout=60,
            ) as response:
                response.raise_for_status()
                with open(partial, "r+b") as handle:
                    for chunk in response.iter_content(chunk_size=min(self.http_chunk_size, MIB)):
                        if not chunk:
                            continue
                        handle.seek(begin + written)
                        handle.write(chunk)
                        pieces.append((begin + written, begin + written + len(chunk), md5(chunk)))
                        written += len(chunk)
        except (requests.RequestException, OSError):
            if retries > 0:
                return pieces + self._write_segment(url, partial, (begin + written, end), retries - 1)
            raise
        if written != end - begin:  # truncated or elongated: retry the rest
            if retries > 0 and written < end - begin:
                return pieces + self._write_segment(url, partial, (begin + written, end), retries - 1)
            raise AssertionError(f"Segment corruption: {written} bytes for {begin}-{end - 1}")
        return pieces

    @staticmethod
    def _remaining(size: int, completed: list[list]) -> list[tuple[int, int]]:
        work, cursor = [], 0
        for begin, end, _ in sorted(completed):
            if begin > cursor:
                work.append((cursor, begin))
            cursor = max(cursor, end)
        if cursor < size:
            work.append((cursor, size))
        return work

    @staticmethod
    def _recover(state_path: Path, partial: Path, final: Path, content_md5: str | None) -> list[list] | None:
        """Completed intervals still valid ([] = start over); None = the final file is already complete."""
        if not state_path.is_file():
            return []
        completed = json.loads(state_path.read_text())
        if final.is_file():
            return None if md5(final.read_bytes()) == content_md5 else []
        if not partial.is_file():
            return []
        data = partial.read_bytes()
        return [c for c in completed if md5(data[c[0] : c[1]]) == c[2]]  # corrupt segments are fetched again

    # -- the subcommand --------------------------------------------------------------------------------------

    def download(self, ids: list[str], *, stop_after_segments: int | None = None) -> GdcClientReplay:
        ids_map = self.latest_versions(list(dict.fromkeys(ids)))
        wanted = list(ids_map)  # ids /files/versions does not know are dropped here, silently
        metadata = self.index(wanted)
        bigs, smalls = self.separate(wanted, metadata)
        for group in smalls:
            self.download_group(group, metadata)
        for file_id in bigs:
            try:
                self.download_big(file_id, stop_after_segments)
            except requests.HTTPError as exc:
                self.errors.append(f"{file_id}: {exc}")
        return self


def _manifest_ids(text: str) -> list[str]:
    return [line.split("\t")[0] for line in text.splitlines()[1:] if line.strip()]


def test_replay_single_small_file_goes_through_a_one_id_tarfile(server, tmp_path, bundle, contents):
    replay = GdcClientReplay(server.base_url, tmp_path).download([SMALL_1])
    assert replay.errors == [] and replay.downloaded == [SMALL_1]
    assert (tmp_path / SMALL_1 / file_doc(bundle, SMALL_1)["file_name"]).read_bytes() == contents[SMALL_1]
    assert server.request_log == [
        ("POST", "/files/versions", 200),
        ("POST", "/v0/files", 200),
        ("POST", "/v0/legacy/files", 404),
        ("POST", "/data", 200),
    ]
    assert not list(tmp_path.glob("*.tar"))  # the archive was removed after untarring


def test_replay_manifest_downloads_groups_and_skips_controlled_and_unknown(server, tmp_path, bundle, contents):
    manifest = requests.get(
        f"{server.base_url}/manifest/{SMALL_1},{NEW_2},{EMPTY},{LARGE},{CONTROLLED}", timeout=10
    ).text
    replay = GdcClientReplay(server.base_url, tmp_path).download(_manifest_ids(manifest) + [UNKNOWN])
    assert sorted(replay.downloaded) == sorted([SMALL_1, NEW_2, EMPTY, LARGE])  # LARGE < 1 GiB: grouped too
    # gdc-client retries any non-200/203 against legacy/data, so the controlled group's 403 becomes the
    # legacy 404 (as on the live API since legacy's removal): it is reported failed, not skipped as "no access".
    assert replay.errors == [f"{CONTROLLED}: 404"]
    for file_id in (SMALL_1, NEW_2, EMPTY, LARGE):
        assert (tmp_path / file_id / file_doc(bundle, file_id)["file_name"]).read_bytes() == contents[file_id]
    assert not (tmp_path / UNKNOWN).exists()
    data_posts = [entry for entry in server.request_log if entry[1].endswith("/data")]
    assert data_posts == [("POST", "/data", 200), ("POST", "/data", 403), ("POST", "/legacy/data", 404)]


def test_replay_large_file_is_fetched_in_ranged_segments(server, tmp_path, bundle, contents):
    replay = GdcClientReplay(server.base_url, tmp_path, http_chunk_size=MIB, n_procs=4).download([LARGE, SMALL_1])
    assert replay.errors == []
    assert sorted(replay.downloaded) == sorted([LARGE, SMALL_1])
    target = tmp_path / LARGE / file_doc(bundle, LARGE)["file_name"]
    assert target.read_bytes() == contents[LARGE]
    assert not target.with_name(target.name + ".partial").exists()
    data_gets = [status for method, path, status in server.request_log if path == f"/data/{LARGE}"]
    assert data_gets[0] == 200 and set(data_gets[1:]) == {206}
    block = LARGE_SIZE // 4
    assert sorted(replay.ranges_requested)[:4] == [(i * block, (i + 1) * block - 1) for i in range(4)]
    assert len(data_gets) - 1 == len(replay.ranges_requested) == 5  # 4 blocks + the 3-byte remainder


def test_replay_resumes_an_interrupted_download_with_only_the_missing_ranges(server, tmp_path, bundle, contents):
    first = GdcClientReplay(server.base_url, tmp_path, http_chunk_size=MIB, n_procs=4)
    with pytest.raises(Interrupted):
        first.download([LARGE], stop_after_segments=2)
    done = set(first.ranges_requested)
    name = file_doc(bundle, LARGE)["file_name"]
    assert (tmp_path / LARGE / f"{name}.partial").is_file() and (tmp_path / LARGE / "logs" / f"{name}.parcel").is_file()

    second = GdcClientReplay(server.base_url, tmp_path, http_chunk_size=MIB, n_procs=4).download([LARGE])
    assert second.errors == [] and second.downloaded == [LARGE]
    assert (tmp_path / LARGE / name).read_bytes() == contents[LARGE]
    resumed = sorted(second.ranges_requested)
    fetched_first = sum(e - b + 1 for b, e in done)
    assert resumed[0][0] == max(e for _, e in done) + 1  # starts where the first run stopped
    assert sum(e - b + 1 for b, e in resumed) == LARGE_SIZE - fetched_first  # nothing fetched twice
    assert all(b > e0 for b, _ in resumed for _, e0 in done)


def test_replay_survives_a_dropped_connection_mid_download(server, tmp_path, contents, bundle):
    server.faults.inject("drop_connection", endpoint="/data", times=1, after=2)
    replay = GdcClientReplay(server.base_url, tmp_path, http_chunk_size=MIB, n_procs=4).download([LARGE])
    assert replay.errors == [] and replay.downloaded == [LARGE]
    assert (tmp_path / LARGE / file_doc(bundle, LARGE)["file_name"]).read_bytes() == contents[LARGE]
    assert any(status == 0 for _, path, status in server.request_log if path == f"/data/{LARGE}")


def test_replay_stops_when_files_versions_fails(server, tmp_path):
    server.faults.inject("http_500", endpoint="/files/versions", times=None)
    with pytest.raises(requests.HTTPError, match="500"):
        GdcClientReplay(server.base_url, tmp_path).download([SMALL_1])
    assert [path for _, path, _ in server.request_log] == ["/files/versions"]


# -- the real gdc-client CLI, when one is installed -----------------------------------------------------------


def _gdc_client() -> str | None:
    return os.environ.get("GDC_CLIENT") or shutil.which("gdc-client")


@pytest.mark.slow
@pytest.mark.skipif(
    _gdc_client() is None,
    reason=(
        "gdc-client is not installed: it is not on PyPI (NCI ships a frozen binary); set GDC_CLIENT=/path/to/gdc-client "
        "to run it against the stand-in. The GdcClientReplay tests above re-enact its requests meanwhile."
    ),
)
def test_real_gdc_client_downloads_through_the_stand_in(server, tmp_path, bundle, contents):
    """Never run where this test was written (no gdc-client there): single file, manifest, ranged, resumed."""
    client = _gdc_client()
    assert client is not None

    def run(directory: Path, *args: str) -> subprocess.CompletedProcess:
        directory.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [
                client,
                "download",
                "-s",
                server.base_url,
                "-d",
                str(directory),
                "--no-annotations",
                "--no-related-files",
                "--wait-time",
                "0.1",
                "-n",
                "4",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def downloaded(directory: Path, file_id: str) -> bytes:
        return (directory / file_id / file_doc(bundle, file_id)["file_name"]).read_bytes()

    single = run(tmp_path / "single", SMALL_1)
    assert downloaded(tmp_path / "single", SMALL_1) == contents[SMALL_1], single.stdout + single.stderr
    assert ("POST", "/files/versions", 200) in server.request_log

    manifest = tmp_path / "manifest.txt"
    manifest.write_text(requests.get(f"{server.base_url}/manifest/{SMALL_1},{NEW_2},{EMPTY}", timeout=10).text)
    listed = run(tmp_path / "manifest", "-m", str(manifest))
    for file_id in (SMALL_1, NEW_2, EMPTY):
        assert downloaded(tmp_path / "manifest", file_id) == contents[file_id], listed.stdout + listed.stderr

    ranged = run(tmp_path / "ranged", "-c", str(MIB), LARGE)
    assert downloaded(tmp_path / "ranged", LARGE) == contents[LARGE], ranged.stdout + ranged.stderr
    assert sum(1 for _, path, status in server.request_log if path == f"/data/{LARGE}" and status == 206) >= 4

    # resumed: a first run loses every ranged request after two, leaving .partial + state; the rerun completes it
    server.faults.inject("drop_connection", endpoint=f"/data/{LARGE}", times=None, after=3)
    run(tmp_path / "resumed", "-c", str(MIB), "--retry-amount", "0", "--save-interval", str(MIB), LARGE)
    server.faults.clear()
    time.sleep(0.2)
    resumed = run(tmp_path / "resumed", "-c", str(MIB), "--save-interval", str(MIB), LARGE)
    assert downloaded(tmp_path / "resumed", LARGE) == contents[LARGE], resumed.stdout + resumed.stderr
