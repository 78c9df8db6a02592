"""write_real_two_release_root: a real TCGA bundle split into two releases (70 % of the cases, then all),
served by the stand-in release by release, with documents byte for byte as in the source."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests

from sandbox.real_two_release import RealTwoReleaseRoot, main, write_real_two_release_root

pytestmark = pytest.mark.realdata

SOURCE_CASES = 777
FIRST_CASES = round(0.7 * SOURCE_CASES)  # 544
DOCUMENT_FILES = ("cases.jsonl", "ssm_occurrences.jsonl", "cnv_occurrences.jsonl", "files.jsonl")


def _source_dir(real_dev_bundle: Path) -> Path:
    return real_dev_bundle / "releases" / (real_dev_bundle / "CURRENT").read_text().strip()


def _case_ids_of(name: str, doc: dict) -> list[str]:
    if name == "cases.jsonl":
        return [doc["case_id"]]
    if name == "files.jsonl":
        return [c["case_id"] for c in doc["cases"]]
    return [doc["case"]["case_id"]]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="module")
def two_releases(real_dev_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> RealTwoReleaseRoot:
    return write_real_two_release_root(real_dev_bundle, tmp_path_factory.mktemp("real_two") / "root")


def test_first_release_holds_a_seeded_70_percent_and_the_second_adds_the_rest(two_releases, real_dev_bundle):
    source_ids = [json.loads(line)["case_id"] for line in _lines(_source_dir(real_dev_bundle) / "cases.jsonl")]
    assert len(source_ids) == SOURCE_CASES
    first, new = two_releases.first_case_ids, two_releases.new_case_ids
    assert len(first) == FIRST_CASES and len(new) == SOURCE_CASES - FIRST_CASES
    assert not set(first) & set(new)
    assert set(first) | set(new) == set(source_ids)
    assert list(first) == [c for c in source_ids if c in set(first)]  # document order kept
    root = two_releases.root
    assert (root / "CURRENT").read_text() == "46.0\n"
    first_ids = [json.loads(line)["case_id"] for line in _lines(root / "releases/45.0/cases.jsonl")]
    assert first_ids == list(first)


def test_first_release_lines_are_the_source_lines_of_its_cases_byte_for_byte(two_releases, real_dev_bundle):
    """Every document file of the first release is exactly the source's lines (same bytes, same order) whose
    case(s) are in the first release; ssm/cnv/files of the other cases are gone; data/ holds the kept files."""
    source = _source_dir(real_dev_bundle)
    first = set(two_releases.first_case_ids)
    release = two_releases.root / "releases" / two_releases.first_release
    for name in DOCUMENT_FILES:
        expected = [
            line for line in _lines(source / name) if all(c in first for c in _case_ids_of(name, json.loads(line)))
        ]
        assert _lines(release / name) == expected, name
        assert 0 < len(expected) < len(_lines(source / name)), name
    file_docs = [json.loads(line) for line in _lines(release / "files.jsonl")]
    assert sorted(p.name for p in (release / "data").iterdir()) == sorted(d["file_id"] for d in file_docs)
    for doc in file_docs[:25]:
        data = (release / "data" / doc["file_id"]).read_bytes()
        assert hashlib.md5(data).hexdigest() == doc["md5sum"] and len(data) == doc["file_size"]


def test_second_release_is_the_source_release_with_a_new_status_label(two_releases, real_dev_bundle):
    source = _source_dir(real_dev_bundle)
    release = two_releases.root / "releases" / two_releases.second_release
    for name in DOCUMENT_FILES:
        assert (release / name).read_bytes() == (source / name).read_bytes(), name
    assert sorted(os.listdir(release / "data")) == sorted(os.listdir(source / "data"))
    status, original = (json.loads((d / "status.json").read_text()) for d in (release, source))
    assert status["data_release"] == "Data Release 46.0 - August 10, 2026"
    assert {k: v for k, v in status.items() if k != "data_release"} == {
        k: v for k, v in original.items() if k != "data_release"
    }
    first_status = two_releases.root / "releases" / two_releases.first_release / "status.json"
    assert first_status.read_bytes() == (source / "status.json").read_bytes()  # same label: verbatim


def test_standin_serves_both_releases_with_their_cases_and_files(two_releases, gdc_standin_factory):
    server = gdc_standin_factory(two_releases.root)
    session = requests.Session()
    root = two_releases.root

    def total(endpoint: str) -> int:
        body = session.get(f"{server.base_url}/{endpoint}", params={"size": 0}, timeout=30).json()
        return body["data"]["pagination"]["total"]

    def served_case_ids() -> set[str]:
        body = session.get(f"{server.base_url}/cases", params={"fields": "case_id", "size": 1000}, timeout=30).json()
        return {hit["case_id"] for hit in body["data"]["hits"]}

    def release_label() -> str:
        return session.get(f"{server.base_url}/status", timeout=30).json()["data_release"]

    everyone = set(two_releases.first_case_ids) | set(two_releases.new_case_ids)
    assert release_label().startswith("Data Release 46.0")  # CURRENT
    assert total("cases") == SOURCE_CASES and served_case_ids() == everyone

    server.set_release("45.0")
    assert release_label() == "Data Release 45.0 - December 04, 2025"
    assert total("cases") == FIRST_CASES
    assert served_case_ids() == set(two_releases.first_case_ids)
    release = root / "releases/45.0"
    for endpoint in ("ssm_occurrences", "cnv_occurrences", "files"):
        assert total(endpoint) == len(_lines(release / f"{endpoint}.jsonl")), endpoint
    kept = json.loads(_lines(release / "files.jsonl")[0])["file_id"]
    dropped = next(
        json.loads(line)["file_id"]
        for line in _lines(root / "releases/46.0/files.jsonl")
        if json.loads(line)["cases"][0]["case_id"] in set(two_releases.new_case_ids)
    )
    assert session.get(f"{server.base_url}/data/{kept}", timeout=30).content == (release / "data" / kept).read_bytes()
    assert session.get(f"{server.base_url}/data/{dropped}", timeout=30).status_code == 404

    server.set_release("46.0")
    assert total("cases") == SOURCE_CASES
    assert total("files") == len(_lines(root / "releases/46.0/files.jsonl"))
    assert session.get(f"{server.base_url}/data/{dropped}", timeout=30).status_code == 200


def test_the_seed_decides_the_split_and_a_larger_share_contains_a_smaller_one(two_releases, real_dev_bundle, tmp_path):
    again = write_real_two_release_root(real_dev_bundle, tmp_path / "again", link_data=False)
    assert again.first_case_ids == two_releases.first_case_ids
    for name in DOCUMENT_FILES:
        assert (tmp_path / "again/releases/45.0" / name).read_bytes() == (
            two_releases.root / "releases/45.0" / name
        ).read_bytes()
    other = write_real_two_release_root(real_dev_bundle, tmp_path / "other", seed=1)
    assert len(other.first_case_ids) == FIRST_CASES
    assert set(other.first_case_ids) != set(two_releases.first_case_ids)
    half = write_real_two_release_root(real_dev_bundle, tmp_path / "half", first_share=0.5)
    assert set(half.first_case_ids) < set(two_releases.first_case_ids)


def test_data_files_are_copied_by_default_and_hard_linked_only_on_request(two_releases, real_dev_bundle, tmp_path):
    source = _source_dir(real_dev_bundle) / "data"
    file_id = sorted(os.listdir(two_releases.root / "releases/45.0/data"))[0]
    original = (source / file_id).stat()
    copied = two_releases.root / "releases/45.0/data" / file_id
    assert copied.stat().st_ino != original.st_ino  # a test corrupting a served file cannot touch shared data
    assert copied.read_bytes() == (source / file_id).read_bytes()
    linked = (
        write_real_two_release_root(real_dev_bundle, tmp_path / "linked", link_data=True).root
        / "releases/45.0/data"
        / file_id
    ).stat()
    if linked.st_dev == original.st_dev:
        assert linked.st_ino == original.st_ino


def test_rewriting_an_existing_root_replaces_its_releases(real_dev_bundle, tmp_path):
    write_real_two_release_root(real_dev_bundle, tmp_path / "root", first_share=0.5)
    result = write_real_two_release_root(real_dev_bundle, tmp_path / "root")
    assert len(_lines(tmp_path / "root/releases/45.0/cases.jsonl")) == len(result.first_case_ids) == FIRST_CASES
    assert sorted(p.name for p in (tmp_path / "root/releases").iterdir()) == ["45.0", "46.0"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_share": 0.0},
        {"first_share": 1.5},
        {"first_release": "46.0", "second_release": "46.0"},
        {"second_release": "latest"},
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(real_dev_bundle, tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_real_two_release_root(real_dev_bundle, tmp_path / "root", **kwargs)
    assert not (tmp_path / "root").exists()


def test_cli_writes_the_root_and_reports_the_counts(real_dev_bundle, tmp_path, capsys):
    assert main(["--source", str(real_dev_bundle), "--target", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert f"release 45.0 {FIRST_CASES} cases" in out and f"release 46.0 {SOURCE_CASES} cases" in out
    assert (tmp_path / "cli/CURRENT").read_text().strip() == "46.0"
    assert main(["--source", str(tmp_path / "missing"), "--target", str(tmp_path / "x")]) == 2
