"""Many small files in one POST /data tar.gz, each member checked against its md5 and size."""

from __future__ import annotations

import hashlib
import json

import pytest

from gdc.client import ArchiveFile, GdcClient, GdcIntegrityError


def _files(release_dir, count=None):
    documents = [json.loads(line) for line in open(release_dir / "files.jsonl")]
    return [ArchiveFile(d["file_id"], d["md5sum"], d["file_size"]) for d in documents[:count]]


@pytest.mark.realdata
def test_an_archive_yields_every_requested_file_with_the_bytes_of_the_bundle(real_dev_bundle, gdc_standin_factory):
    server = gdc_standin_factory(real_dev_bundle)
    release_dir = real_dev_bundle / "releases" / "45.0"
    wanted = _files(release_dir, 40)
    with GdcClient(base_url=server.base_url, backoff_factor=0.01) as client:
        delivered = dict(client.iter_archive_files(wanted))
    assert set(delivered) == {f.file_id for f in wanted}
    for f in wanted:
        assert delivered[f.file_id] == (release_dir / "data" / f.file_id).read_bytes()
        assert hashlib.md5(delivered[f.file_id]).hexdigest() == f.md5
    assert [m for m, p, s in server.request_log if p == "/data"] == ["POST"]


@pytest.mark.realdata
@pytest.mark.parametrize("fault", ["drop_connection", "http_503", "http_504_html"])
def test_an_archive_request_that_fails_once_is_retried_and_gives_the_same_files(
    real_dev_bundle, gdc_standin_factory, fault
):
    server = gdc_standin_factory(real_dev_bundle)
    wanted = _files(real_dev_bundle / "releases" / "45.0", 25)
    server.faults.inject(fault, endpoint="/data", times=1)
    with GdcClient(base_url=server.base_url, backoff_factor=0.01) as client:
        delivered = dict(client.iter_archive_files(wanted))
        assert client.stats.retries >= 1
    assert set(delivered) == {f.file_id for f in wanted}


@pytest.mark.realdata
def test_a_member_whose_md5_differs_fails_naming_the_file(real_dev_bundle, gdc_standin_factory):
    server = gdc_standin_factory(real_dev_bundle)
    wanted = _files(real_dev_bundle / "releases" / "45.0", 5)
    tampered = ArchiveFile(wanted[2].file_id, "0" * 32, wanted[2].size)
    with GdcClient(base_url=server.base_url, backoff_factor=0.01) as client:
        with pytest.raises(GdcIntegrityError, match=wanted[2].file_id):
            dict(client.iter_archive_files([*wanted[:2], tampered, *wanted[3:]]))
