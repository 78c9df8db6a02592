"""GdcClient downloads and line streaming against the real stand-in, and what goes over the wire.

`TcpRelay` sits between client and stand-in on real sockets: it records the bytes the client sends
(to see the X-Auth-Token header on the wire) and can cut one /data response part-way through its body,
the failure the stand-in's own faults (which act before a response starts) do not produce.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from gdc.client import (
    DownloadResult,
    GdcClient,
    GdcError,
    GdcHttpError,
    GdcIntegrityError,
)

pytestmark = pytest.mark.timeout(60)

TOKEN = "tok-7f3a-SECRET-do-not-log"


class LineLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args if args else msg)

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args if args else msg)


class TcpRelay:
    """127.0.0.1 TCP forwarder to an upstream port; records client bytes; can cut one /data response."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.sent_by_client = bytearray()
        self.cut_next_data_response_after: int | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with self._lock:
            self._sockets += [client, upstream]
        first = client.recv(65536)
        with self._lock:
            self.sent_by_client += first
            cut = None
            if self.cut_next_data_response_after is not None and first.startswith(b"GET /data/"):
                cut, self.cut_next_data_response_after = self.cut_next_data_response_after, None
        upstream.sendall(first)
        threading.Thread(target=self._pump, args=(client, upstream, True, None), daemon=True).start()
        self._pump(upstream, client, False, cut)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool, limit: int | None) -> None:
        forwarded = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if record:
                    with self._lock:
                        self.sent_by_client += data
                if limit is not None and forwarded + len(data) >= limit:
                    sink.sendall(data[: limit - forwarded])
                    with self._lock:
                        self.cuts += 1
                    break
                sink.sendall(data)
                forwarded += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@pytest.fixture
def relay_factory():
    relays: list[TcpRelay] = []

    def make(upstream_port: int) -> TcpRelay:
        relay = TcpRelay(upstream_port)
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        relay.close()


def make_client(base_url: str, **overrides: Any) -> GdcClient:
    settings: dict[str, Any] = dict(
        base_url=base_url,
        connect_timeout=2.0,
        read_timeout=5.0,
        max_retries=3,
        backoff_factor=0.01,
        backoff_max=0.1,
        logger=LineLog(),
    )
    settings.update(overrides)
    return GdcClient(**settings)


@pytest.fixture(scope="module")
def methylation_files(real_dev_bundle: Path) -> list[dict[str, Any]]:
    lines = (real_dev_bundle / "releases" / "45.0" / "files.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:5]]


@pytest.fixture
def standin(gdc_standin_factory, real_dev_bundle: Path):
    return gdc_standin_factory(real_dev_bundle)


@pytest.fixture
def big_file_release(tmp_path: Path) -> tuple[Path, dict[str, Any], bytes]:
    """A one-file release whose methylation-like file (~2.2 MB) spans many stream chunks."""
    release_dir = tmp_path / "big_release"
    (release_dir / "data").mkdir(parents=True)
    (release_dir / "status.json").write_text(
        json.dumps(
            {"data_release": "Data Release 45.0 - December 04, 2025", "status": "OK", "tag": "8.5.0", "version": 1}
        )
    )
    content = "".join(f"cg{probe:08d}\t{(probe * 7919 % 10000) / 10000:.4f}\n" for probe in range(120_000))
    content = content.replace("cg00000500\t", "cg12434587\t").encode()  # an MGMT promoter probe inside
    file_id = "0b1e55ed-0000-4000-8000-00000000b16f"
    (release_dir / "data" / file_id).write_bytes(content)
    doc = {
        "id": file_id,
        "file_id": file_id,
        "file_name": f"{file_id}.methylation_array.sesame.level3betas.txt",
        "access": "open",
        "md5sum": hashlib.md5(content).hexdigest(),
        "file_size": len(content),
    }
    (release_dir / "files.jsonl").write_text(json.dumps(doc) + "\n")
    return release_dir, doc, content


def data_bytes(bundle: Path, file_id: str) -> bytes:
    return (bundle / "releases" / "45.0" / "data" / file_id).read_bytes()


# --------------------------------------------------------------------------------------------------------
# download()


def test_download_writes_the_verified_file_and_nothing_else(standin, real_dev_bundle, methylation_files, tmp_path):
    client = make_client(standin.base_url)
    for doc in methylation_files:
        dest = tmp_path / "methylation" / f"{doc['file_id']}.txt"
        result = client.download(doc["file_id"], dest, md5=doc["md5sum"], size=doc["file_size"])
        assert isinstance(result, DownloadResult)
        assert result.path == dest and result.bytes == doc["file_size"] and result.md5 == doc["md5sum"]
        assert result.retries == 0
        assert dest.read_bytes() == data_bytes(real_dev_bundle, doc["file_id"])
    assert sorted(p.name for p in (tmp_path / "methylation").iterdir()) == sorted(
        f"{doc['file_id']}.txt" for doc in methylation_files
    )
    assert client.stats.bytes_received == sum(doc["file_size"] for doc in methylation_files)


def test_download_with_md5_mismatch_leaves_no_file(standin, methylation_files, tmp_path):
    doc = methylation_files[0]
    dest = tmp_path / "out" / "file.txt"
    with pytest.raises(GdcIntegrityError) as caught:
        make_client(standin.base_url).download(doc["file_id"], dest, md5="0" * 32, size=doc["file_size"])
    assert doc["file_id"] in str(caught.value) and doc["md5sum"] in str(caught.value) and "0" * 32 in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # neither dest nor the temp file


def test_download_with_size_mismatch_leaves_no_file(standin, methylation_files, tmp_path):
    doc = methylation_files[0]
    with pytest.raises(GdcIntegrityError, match=f"received {doc['file_size']} bytes, expected file_size 10"):
        make_client(standin.base_url).download(doc["file_id"], tmp_path / "f.txt", md5=doc["md5sum"], size=10)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_keeps_an_existing_dest_untouched(standin, methylation_files, tmp_path):
    doc = methylation_files[0]
    dest = tmp_path / "file.txt"
    dest.write_bytes(b"previous verified version")
    with pytest.raises(GdcIntegrityError):
        make_client(standin.base_url).download(doc["file_id"], dest, md5="f" * 32, size=None)
    assert dest.read_bytes() == b"previous verified version"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_download_survives_a_dropped_connection_and_a_503(standin, real_dev_bundle, methylation_files, tmp_path):
    doc = methylation_files[1]
    standin.faults.inject("drop_connection", endpoint="/data", times=1)
    standin.faults.inject("http_503", endpoint="/data", times=1, after=1)
    result = make_client(standin.base_url).download(
        doc["file_id"], tmp_path / "f.txt", md5=doc["md5sum"], size=doc["file_size"]
    )
    assert result.retries == 2
    assert (tmp_path / "f.txt").read_bytes() == data_bytes(real_dev_bundle, doc["file_id"])


def test_download_failing_for_good_raises_naming_the_file_and_writes_nothing(standin, methylation_files, tmp_path):
    doc = methylation_files[2]
    standin.faults.inject("http_503", endpoint="/data", times=None)
    with pytest.raises(GdcHttpError, match=f"GET /data/{doc['file_id']}: HTTP 503 .*after 2 retries"):
        make_client(standin.base_url, max_retries=2).download(
            doc["file_id"], tmp_path / "f.txt", md5=doc["md5sum"], size=doc["file_size"]
        )
    assert list(tmp_path.iterdir()) == []


def test_download_of_an_unknown_file_is_a_404_error(standin, tmp_path):
    with pytest.raises(GdcHttpError) as caught:
        make_client(standin.base_url).download(
            "c0ffee00-0000-4000-8000-000000000000", tmp_path / "x", md5="0" * 32, size=None
        )
    assert caught.value.status_code == 404
    assert "c0ffee00-0000-4000-8000-000000000000" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_download_cut_mid_body_is_re_requested_and_completed(
    gdc_standin_factory, relay_factory, big_file_release, tmp_path
):
    release_dir, doc, content = big_file_release
    server = gdc_standin_factory(release_dir)
    relay = relay_factory(server.port)
    relay.cut_next_data_response_after = 700_000  # ~10 chunks of 64 KiB delivered, then the socket dies
    client = make_client(relay.base_url)

    result = client.download(doc["file_id"], tmp_path / "big.txt", md5=doc["md5sum"], size=doc["file_size"])

    assert relay.cuts == 1
    assert result.retries == 1
    assert (tmp_path / "big.txt").read_bytes() == content
    assert b"Range: bytes=" in relay.sent_by_client  # resumed from the first byte not yet written
    # ... and the stand-in answered the resume with only the missing bytes (206), not the whole file again.
    data_statuses = [status for _, path, status in server.request_log if path.startswith(f"/data/{doc['file_id']}")]
    assert data_statuses[-1] == 206, server.request_log
    assert any("MB/s" in line for line in client.log.lines)  # type: ignore[attr-defined]


def test_download_cut_with_no_rerequests_left_fails_and_leaves_nothing(
    gdc_standin_factory, relay_factory, big_file_release, tmp_path
):
    release_dir, doc, _ = big_file_release
    relay = relay_factory(gdc_standin_factory(release_dir).port)
    client = make_client(relay.base_url, max_body_retries=0)
    relay.cut_next_data_response_after = 300_000
    out = tmp_path / "out"
    with pytest.raises(GdcError, match=f"GET /data/{doc['file_id']}: body broken after [0-9]+ bytes"):
        client.download(doc["file_id"], out / "big.txt", md5=doc["md5sum"], size=doc["file_size"])
    assert relay.cuts == 1
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------------------------------------
# iter_file_lines()


def test_iter_file_lines_yields_every_line_of_the_file(standin, real_dev_bundle, methylation_files):
    doc = methylation_files[0]
    lines = list(
        make_client(standin.base_url).iter_file_lines(doc["file_id"], md5=doc["md5sum"], size=doc["file_size"])
    )
    assert lines == data_bytes(real_dev_bundle, doc["file_id"]).splitlines()
    assert all(len(line.split(b"\t")) == 2 for line in lines)


def test_iter_file_lines_raises_after_the_last_line_on_md5_mismatch(standin, real_dev_bundle, methylation_files):
    doc = methylation_files[0]
    seen: list[bytes] = []
    with pytest.raises(GdcIntegrityError, match=f"data/{doc['file_id']}: md5"):
        for line in make_client(standin.base_url).iter_file_lines(doc["file_id"], md5="1" * 32, size=None):
            seen.append(line)
    assert seen == data_bytes(real_dev_bundle, doc["file_id"]).splitlines()


def test_iter_file_lines_finds_the_mgmt_probe_across_a_cut_connection(
    gdc_standin_factory, relay_factory, big_file_release
):
    release_dir, doc, content = big_file_release
    relay = relay_factory(gdc_standin_factory(release_dir).port)
    relay.cut_next_data_response_after = 500_000
    lines = list(make_client(relay.base_url).iter_file_lines(doc["file_id"], md5=doc["md5sum"], size=doc["file_size"]))
    assert relay.cuts == 1
    assert lines == content.splitlines()  # each line once, in order, across the resume
    assert [line for line in lines if line.startswith(b"cg12434587\t")] == [b"cg12434587\t0.9500"]


# --------------------------------------------------------------------------------------------------------
# The token


def test_token_goes_out_as_x_auth_token_and_nowhere_else(standin, relay_factory, methylation_files, tmp_path, caplog):
    relay = relay_factory(standin.port)
    client = make_client(relay.base_url, token=TOKEN, max_retries=1)
    standin.faults.inject("http_503", endpoint="/cases", times=None)
    with caplog.at_level(logging.DEBUG):
        client.status()
        client.download(methylation_files[0]["file_id"], tmp_path / "f", md5=methylation_files[0]["md5sum"], size=None)
        with pytest.raises(GdcHttpError) as caught:
            client.search_all("cases", filters=None, sort="case_id:asc")

    wire = bytes(relay.sent_by_client)
    assert wire.count(f"X-Auth-Token: {TOKEN}\r\n".encode()) >= 3  # status, data, every search attempt
    failure = "".join(traceback.format_exception(caught.value))
    assert "HTTP 503" in failure
    for text in (repr(client), str(client.__dict__.get("stats")), failure, caplog.text, "\n".join(client.log.lines)):  # type: ignore[attr-defined]
        assert TOKEN not in text
    assert "token='***'" in repr(client)


def test_no_token_means_no_auth_header(standin, relay_factory):
    relay = relay_factory(standin.port)
    make_client(relay.base_url).status()
    assert b"GET /status" in relay.sent_by_client
    assert b"x-auth-token" not in bytes(relay.sent_by_client).lower()
