"""Bundle writing: determinism, layout, atomic publication, 485k-probe files, CLI and spec validation."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from contracts.panels import MGMT_STP27_PROBES
from sandbox.synthetic import TRUTH_FILE, CohortSpec, write_bundle
from sandbox.synthetic.cli import main


def _digests(release_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(release_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(release_dir.rglob("*"))
        if p.is_file()
    }


def test_same_spec_gives_byte_identical_bundles_and_another_seed_differs(tmp_path):
    spec = CohortSpec(n_cases=180, seed=42, bad_value_share=0.05)
    first = write_bundle(tmp_path / "a", spec)
    second = write_bundle(tmp_path / "b", spec)
    digests = _digests(first.release_dir)
    assert len(digests) > 100  # the jsonl files, status, sidecars and the data files
    assert digests == _digests(second.release_dir)
    other = write_bundle(tmp_path / "c", CohortSpec(n_cases=180, seed=43, bad_value_share=0.05))
    other_digests = _digests(other.release_dir)
    for name in ("cases.jsonl", "ssm_occurrences.jsonl", "cnv_occurrences.jsonl", "files.jsonl"):
        assert other_digests[name] != digests[name]


def test_a_larger_cohort_starts_with_the_smaller_cohorts_cases(tmp_path):
    small = write_bundle(tmp_path / "small", CohortSpec(n_cases=50, seed=3, methylation_share=0.0))
    large = write_bundle(tmp_path / "large", CohortSpec(n_cases=80, seed=3, methylation_share=0.0))
    small_lines = (small.release_dir / "cases.jsonl").read_text().splitlines()
    large_lines = (large.release_dir / "cases.jsonl").read_text().splitlines()
    assert large_lines[:50] == small_lines


def test_bundle_layout_follows_the_contract_and_summary_counts_match(tmp_path):
    summary = write_bundle(tmp_path, CohortSpec(n_cases=120, seed=8, release_label="45.0"))
    assert (tmp_path / "CURRENT").read_text().strip() == "45.0"
    release = tmp_path / "releases" / "45.0"
    assert summary.release_dir == release
    for name in ("status.json", "cases.jsonl", "ssm_occurrences.jsonl", "cnv_occurrences.jsonl", "files.jsonl"):
        assert (release / name).is_file()
    lines = {
        name: (release / name).read_text().splitlines()
        for name in ("cases.jsonl", "ssm_occurrences.jsonl", "cnv_occurrences.jsonl", "files.jsonl")
    }
    assert summary.n_case_documents == len(lines["cases.jsonl"]) == summary.n_cases == 120
    assert summary.n_ssm_occurrences == len(lines["ssm_occurrences.jsonl"])
    assert summary.n_cnv_occurrences == len(lines["cnv_occurrences.jsonl"])
    assert summary.n_files == len(lines["files.jsonl"]) == len(list((release / "data").iterdir()))
    assert summary.data_bytes == sum(p.stat().st_size for p in (release / "data").iterdir())
    assert summary.total_bytes == sum(p.stat().st_size for p in release.rglob("*") if p.is_file())
    assert sum(summary.cases_per_project.values()) == 120
    for line in lines["cases.jsonl"]:
        case = json.loads(line)
        assert case["id"] == case["case_id"]
    assert not [p for p in (tmp_path / "releases").iterdir() if p.name.startswith(".")]


def test_rewriting_a_release_replaces_it_whole_and_leaves_no_temporary_directories(tmp_path):
    write_bundle(tmp_path, CohortSpec(n_cases=60, seed=1))
    first_ids = {json.loads(x)["file_id"] for x in (tmp_path / "releases/45.0/files.jsonl").read_text().splitlines()}
    write_bundle(tmp_path, CohortSpec(n_cases=40, seed=2))
    release = tmp_path / "releases" / "45.0"
    assert len((release / "cases.jsonl").read_text().splitlines()) == 40
    data_ids = {p.name for p in (release / "data").iterdir()}
    file_ids = {json.loads(x)["file_id"] for x in (release / "files.jsonl").read_text().splitlines()}
    assert data_ids == file_ids and not (data_ids & first_ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "releases"]
    assert [p.name for p in (tmp_path / "releases").iterdir()] == ["45.0"]


def test_485k_probe_files_have_the_real_size_and_keep_the_mgmt_probes(tmp_path):
    summary = write_bundle(tmp_path, CohortSpec(n_cases=2, seed=4, methylation_probes=485_000, methylation_share=1.0))
    files = [json.loads(x) for x in (summary.release_dir / "files.jsonl").read_text().splitlines()]
    hm450 = [f for f in files if f["platform"] == "Illumina Human Methylation 450"]
    assert hm450, "the seed was chosen so the two cases have 450k files"
    for document in hm450:
        path = summary.release_dir / "data" / document["file_id"]
        assert 9_000_000 <= path.stat().st_size <= 13_000_000  # real 450k files ~10-12 MB
        with path.open() as handle:
            rows = {}
            for number, line in enumerate(handle):
                probe = line[:10]
                if probe in MGMT_STP27_PROBES:
                    rows[probe] = number
        assert set(rows) == set(MGMT_STP27_PROBES)
        assert min(rows.values()) > 10_000  # deep inside the file, where their ids sort
        assert number + 1 == 485_002


def test_cli_writes_a_bundle_and_reports_it(tmp_path, capsys):
    assert (
        main(
            [
                "--out",
                str(tmp_path),
                "--cases",
                "30",
                "--seed",
                "3",
                "--profile",
                "dr17",
                "--bad-value-share",
                "0.1",
                "--methylation-probes",
                "50",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "30 cases" in out and "release 45.0 (dr17)" in out
    assert (tmp_path / "releases/45.0" / TRUTH_FILE).is_file()
    status = json.loads((tmp_path / "releases/45.0/status.json").read_text())
    assert status["data_release"].startswith("Data Release 45.0")
    data_file = next((tmp_path / "releases/45.0/data").iterdir())
    assert len(data_file.read_text().splitlines()) == 52


def test_cli_rejects_bad_arguments_with_a_clear_message(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--cases", "0"]) == 2
    assert "n_cases must be an integer from 1 to 200000, got 0" in capsys.readouterr().err
    assert main(["--out", str(tmp_path), "--cases", "5", "--bad-value-share", "1.5"]) == 2
    assert "bad_value_share" in capsys.readouterr().err
    assert not (tmp_path / "CURRENT").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_cases=200_001), "n_cases"),
        (dict(n_cases=10, profile="dr99"), "profile 'dr99' is unknown"),
        (dict(n_cases=10, methylation_share=2.0), "methylation_share"),
        (dict(n_cases=10, release_label="latest"), "release label 'latest'"),
    ],
)
def test_invalid_specs_are_rejected_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CohortSpec(**kwargs)


def test_the_package_runs_as_a_module(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "sandbox.synthetic", "--out", str(tmp_path), "--cases", "5", "--release", "44.0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "CURRENT").read_text().strip() == "44.0"


def test_a_failed_rewrite_leaves_the_published_release_and_current_untouched(tmp_path, monkeypatch):
    from sandbox.synthetic import writer

    write_bundle(tmp_path, CohortSpec(n_cases=40, seed=1))
    before = _digests(tmp_path / "releases" / "45.0")

    def broken_status(label, profile):
        raise RuntimeError("disk full while writing status.json")

    monkeypatch.setattr(writer, "status_document", broken_status)
    with pytest.raises(RuntimeError, match="disk full"):
        write_bundle(tmp_path, CohortSpec(n_cases=70, seed=2, release_label="45.0"))
    with pytest.raises(RuntimeError, match="disk full"):
        write_bundle(tmp_path, CohortSpec(n_cases=70, seed=2, release_label="46.0"))
    assert _digests(tmp_path / "releases" / "45.0") == before
    assert (tmp_path / "CURRENT").read_text().strip() == "45.0"
    assert [p.name for p in (tmp_path / "releases").iterdir()] == ["45.0"]
