"""A synthetic bundle is served by the real GDC stand-in over real HTTP (the contract both sides follow)."""

from __future__ import annotations

import hashlib
import json

import requests

from sandbox.synthetic import CohortSpec, write_multi_release


def test_the_standin_serves_the_current_synthetic_release_and_its_files(tmp_path, gdc_standin_factory):
    summaries = write_multi_release(
        tmp_path, CohortSpec(n_cases=150, seed=31), releases=("45.0", "46.0"), change_share=0.2
    )
    server = gdc_standin_factory(tmp_path)
    status = requests.get(f"{server.base_url}/status", timeout=30).json()
    assert status["data_release"].startswith("Data Release 46.0 - ")

    response = requests.post(
        f"{server.base_url}/cases",
        json={
            "filters": {"op": "in", "content": {"field": "project.project_id", "value": ["TCGA-GBM", "TCGA-LGG"]}},
            "fields": "submitter_id,project.project_id",
            "size": 1000,
        },
        timeout=30,
    )
    assert response.status_code == 200
    hits = response.json()["data"]["hits"]
    assert {h["id"] for h in hits} == {
        json.loads(line)["case_id"] for line in (summaries[1].release_dir / "cases.jsonl").read_text().splitlines()
    }

    files = requests.post(
        f"{server.base_url}/files", json={"fields": "file_id,md5sum,file_size,version", "size": 1000}, timeout=30
    ).json()["data"]["hits"]
    assert len(files) == summaries[1].n_files
    for hit in files[:5] + [f for f in files if f["version"] == "2"][:3]:
        body = requests.get(f"{server.base_url}/data/{hit['file_id']}", timeout=30).content
        assert hashlib.md5(body).hexdigest() == hit["md5sum"] and len(body) == hit["file_size"]
