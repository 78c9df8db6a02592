"""Throughput check of the stand-in: page through N case documents with a bare requests loop.

`python -m sandbox.gdc_standin.perf --source-bundle ../shared/realdata/bundles/tcga_gbmlgg_dev --cases 100000`
builds a throwaway bundle in a temp dir (the source's cases copied with fresh ids until N), then times
paging all of them at each page size with the fields a clinical client asks for. Not a test; prints figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import requests

from sandbox.gdc_standin.server import GdcStandIn

CLINICAL_FIELDS = ",".join(
    [
        "case_id",
        "submitter_id",
        "project.project_id",
        "demographic.vital_status",
        "demographic.days_to_death",
        "demographic.gender",
        "demographic.sex_at_birth",
        "demographic.age_at_index",
        "diagnoses.age_at_diagnosis",
        "diagnoses.primary_diagnosis",
        "diagnoses.tumor_grade",
        "diagnoses.days_to_last_follow_up",
        "diagnoses.treatments.treatment_type",
        "diagnoses.treatments.therapeutic_agents",
        "follow_ups.days_to_follow_up",
        "follow_ups.karnofsky_performance_status",
    ]
)


def _release_dir(bundle: Path) -> Path:
    if (bundle / "status.json").exists():
        return bundle
    return bundle / "releases" / (bundle / "CURRENT").read_text().strip()


def build_big_bundle(source_bundle: Path, n_cases: int, target: Path) -> Path:
    """A one-release bundle of `n_cases` cases: the source's cases repeated with new ids and barcodes."""
    source = _release_dir(source_bundle)
    release = target / "releases" / "45.0"
    release.mkdir(parents=True)
    (target / "CURRENT").write_text("45.0\n")
    shutil.copy(source / "status.json", release / "status.json")
    templates = [json.loads(line) for line in (source / "cases.jsonl").open()]
    with (release / "cases.jsonl").open("w") as out:
        for index in range(n_cases):
            doc = json.loads(json.dumps(templates[index % len(templates)]))
            case_id = str(uuid.UUID(int=index + 1, version=4))
            doc["id"] = doc["case_id"] = case_id
            doc["submitter_id"] = f"TCGA-ZZ-{index:06d}"
            out.write(json.dumps(doc) + "\n")
    return target


def time_paging(base_url: str, page_size: int, fields: str) -> tuple[float, int]:
    session = requests.Session()
    seen = 0
    offset = 0
    started = time.perf_counter()
    while True:
        response = session.post(
            f"{base_url}/cases",
            json={
                "fields": fields,
                "size": page_size,
                "from": offset,
                "sort": "case_id:asc",
            },
            timeout=600,
        )
        response.raise_for_status()
        data = response.json()["data"]
        seen += len(data["hits"])
        offset += page_size
        if offset >= data["pagination"]["total"]:
            break
    return time.perf_counter() - started, seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-bundle", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--page-sizes", default="1000,5000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bundle = build_big_bundle(args.source_bundle, args.cases, Path(tmp) / "bundle")
        size_mb = (bundle / "releases/45.0/cases.jsonl").stat().st_size / 1e6
        print(f"built {args.cases} cases ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s")
        with GdcStandIn(bundle) as server:
            started = time.perf_counter()
            requests.get(f"{server.base_url}/cases", params={"size": 1}, timeout=600).raise_for_status()
            print(f"first request (parse + index): {time.perf_counter() - started:.1f} s")
            for page_size in (int(s) for s in args.page_sizes.split(",")):
                for attempt in ("cold", "warm"):
                    seconds, seen = time_paging(server.base_url, page_size, CLINICAL_FIELDS)
                    print(
                        f"size={page_size} {attempt}: {seen} cases in {seconds:.2f} s ({seen / seconds:,.0f} cases/s)"
                    )


if __name__ == "__main__":
    main()
