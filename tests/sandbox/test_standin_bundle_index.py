"""The stand-in keeps an index per endpoint instead of the documents: answers must not change for it.

The reference below is what the stand-in did when it held every document as a dict: filter the parsed
documents, sort them with the multi-key stable sort, project and serialise each hit. Responses are
compared byte for byte, over page geometries that cross the hit cache's chunks, cached and uncached.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.gdc_standin import bundle as bundle_module
from sandbox.gdc_standin.bundle import BundleError, ReleaseStore, parse_line
from sandbox.gdc_standin.hit_cache import CHUNK_HITS
from sandbox.gdc_standin.query import (
    SortColumns,
    build_projection,
    compile_filter,
    compile_projection,
    facet_buckets,
    leaf_values,
    pagination,
    parse_sort,
    project,
)
from sandbox.gdc_standin.testing import write_bundle

N_CASES = 2 * CHUNK_HITS + 123
PROJECTS = ["TCGA-GBM", "TCGA-LGG", "CPTAC-3"]
TREATMENTS = ["Radiation Therapy, NOS", "Pharmaceutical Therapy, NOS", "Surgery, NOS"]


def _case(index: int, rng: random.Random) -> dict[str, Any]:
    case_id = f"{rng.getrandbits(128):032x}"
    doc: dict[str, Any] = {
        "id": case_id,
        "case_id": case_id,
        "submitter_id": f"TCGA-{index % 97:02d}-{index:04d}",
        "project": {"project_id": rng.choice(PROJECTS), "program": {"name": "TCGA"}},
        "primary_site": rng.choice(["Brain", ["Brain", "Spine"], None]),
        "available_variation_data": rng.sample(["ssm", "cnv", "methylation"], rng.randint(0, 3)),
    }
    if rng.random() < 0.85:
        # Mixed types on purpose: numbers, numeric strings, text, bools, null, absent.
        doc["demographic"] = {
            "gender": rng.choice(["male", "female", "not reported", None]),
            "vital_status": rng.choice(["Alive", "Dead", "Not Reported"]),
            "age_at_index": rng.choice(
                [rng.randint(18, 90), float(rng.randint(18, 90)), str(rng.randint(18, 90)), None, True, "unknown"]
            ),
        }
        if rng.random() < 0.5:
            doc["demographic"]["days_to_death"] = rng.choice([rng.randint(1, 4000), 0, -0.0, 1.5])
    if rng.random() < 0.9:
        doc["diagnoses"] = [
            {
                "age_at_diagnosis": rng.choice([rng.randint(5000, 30000), None]),
                "tumor_grade": rng.choice(["G2", "G3", "G4", "Not Reported"]),
                "treatments": [
                    {"treatment_type": rng.choice(TREATMENTS), "days_to_treatment": rng.randint(0, 50)}
                    for _ in range(rng.randint(0, 3))
                ],
            }
            for _ in range(rng.randint(1, 3))
        ]
    if rng.random() < 0.3:
        doc["follow_ups"] = [{"karnofsky_performance_status": rng.choice(["80", "90", 100, "Unknown"])}]
    return doc


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    rng = random.Random(20261202)
    return [_case(index, rng) for index in range(N_CASES)]


@pytest.fixture(scope="module")
def root(cases, tmp_path_factory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("indexed"), {"45.0": {"cases": cases}}, current="45.0")


# -- the reference: the dict-holding implementation --------------------------------------------------------


def _reference_sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, int, float)):
        return (0, float(value))
    return (1, str(value))


def reference_sort(docs: list[dict], keys) -> list[dict]:
    result = list(docs)
    for key in reversed(keys):
        present, missing = [], []
        for doc in result:
            values = leaf_values(doc, key.path)
            if values:
                keyed = [_reference_sort_value(v) for v in values]
                present.append((max(keyed) if key.descending else min(keyed), doc))
            else:
                missing.append(doc)
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        result = [doc for _, doc in present] + missing
    return result


def reference_body(docs: list[dict], body: dict[str, Any]) -> bytes:
    filters = body.get("filters")
    if filters is not None:
        predicate = compile_filter(filters, "cases")
        docs = [d for d in docs if predicate(d)]
    docs = reference_sort(docs, parse_sort(body.get("sort"), "cases"))
    fields = [f for f in body.get("fields", "").split(",") if f]
    expand = [f for f in body.get("expand", "").split(",") if f]
    projector = compile_projection(build_projection("cases", fields, expand))
    size, offset = body.get("size", 10), body.get("from", 0)
    page = docs[offset : offset + size] if size else []
    hits = []
    for doc in page:
        hit = projector(doc)
        hit["id"] = doc.get("id") or doc.get("case_id")
        hits.append(json.dumps(hit, separators=(",", ":")))
    tail = json.dumps(pagination(len(docs), size, offset, len(page)), separators=(",", ":"))
    return ('{"data":{"hits":[' + ",".join(hits) + '],"pagination":' + tail + '},"warnings":{}}').encode()


def leaf(op: str, field: str, value: Any = None) -> dict:
    content: dict[str, Any] = {"field": field}
    if value is not None:
        content["value"] = value
    return {"op": op, "content": content}


FILTERS = [
    None,
    leaf("in", "project.project_id", ["TCGA-GBM", "TCGA-LGG"]),
    leaf(">=", "demographic.age_at_index", 50),
    leaf("is", "demographic.days_to_death"),
    leaf("exclude", "diagnoses.treatments.treatment_type", ["Surgery, NOS"]),
    {"op": "or", "content": [leaf("=", "demographic.vital_status", "dead"), leaf("in", "submitter_id", ["TCGA-1*"])]},
]
SORTS = [
    None,
    "case_id:asc",
    "demographic.age_at_index:desc,submitter_id",
    "diagnoses.treatments.days_to_treatment,demographic.days_to_death:desc",
    "follow_ups.karnofsky_performance_status:desc",
    "primary_site,available_variation_data:desc,diagnoses.age_at_diagnosis",
]
FIELDS = ["case_id,demographic.gender,diagnoses.treatments.treatment_type", ""]


def _page_all(base_url: str, body: dict[str, Any], size: int) -> list[bytes]:
    pages, offset = [], 0
    while True:
        response = requests.post(f"{base_url}/cases", json={**body, "size": size, "from": offset}, timeout=30)
        assert response.status_code == 200, response.text
        pages.append(response.content)
        offset += size
        if offset >= json.loads(response.content)["data"]["pagination"]["total"]:
            return pages


@pytest.mark.parametrize("hit_cache_bytes", [bundle_module.HIT_CACHE_BYTES, 40_000])  # ample, and evicting
def test_pages_are_byte_identical_to_the_dict_holding_reference(root, cases, gdc_standin_factory, hit_cache_bytes):
    server = gdc_standin_factory(root, hit_cache_bytes=hit_cache_bytes)
    rng = random.Random(7)
    for filters in FILTERS:
        for sort in rng.sample(SORTS, 3):
            fields = rng.choice(FIELDS)
            body: dict[str, Any] = {"fields": fields, "expand": "" if fields else "diagnoses"}
            if filters is not None:
                body["filters"] = filters
            if sort is not None:
                body["sort"] = sort
            for size in (CHUNK_HITS, 333, 1000):  # whole chunks, pages straddling chunks, one big page
                for _ in range(2):  # the second pass is served from the hit cache where it fits
                    got = _page_all(server.base_url, body, size)
                    want = [reference_body(cases, {**body, "size": size, "from": i * size}) for i in range(len(got))]
                    assert got == want, (filters, sort, size)


def test_uncached_hits_and_odd_offsets_match_the_reference(root, cases, gdc_standin_factory):
    cached = gdc_standin_factory(root)
    uncached = gdc_standin_factory(root, cache_hits=False)
    body = {"sort": "demographic.age_at_index,case_id:desc", "fields": "submitter_id,demographic"}
    for offset, size in (
        (0, 10),
        (CHUNK_HITS - 3, 7),
        (CHUNK_HITS, CHUNK_HITS),
        (N_CASES - 5, 50),
        (N_CASES, 5),
        (3, 0),
        (1, N_CASES),
    ):
        want = reference_body(cases, {**body, "size": size, "from": offset})
        for server in (cached, uncached, cached):
            got = requests.post(f"{server.base_url}/cases", json={**body, "size": size, "from": offset}, timeout=30)
            assert got.content == want, (offset, size)


def test_single_entities_and_unknown_ids(root, cases, gdc_standin_factory):
    server = gdc_standin_factory(root)
    projection = build_projection("cases", [], ["diagnoses"])
    for doc in cases[:: CHUNK_HITS // 3]:
        body = requests.get(f"{server.base_url}/cases/{doc['id']}", params={"expand": "diagnoses"}, timeout=10).json()
        assert body["data"] == project(doc, projection, doc["id"])
    assert requests.get(f"{server.base_url}/cases/{'0' * 32}", timeout=10).status_code == 404


def test_id_lookups_survive_hash_collisions(root, cases, monkeypatch):
    monkeypatch.setattr(bundle_module, "_id_hash", lambda _id: 42)  # every id collides
    source = ReleaseStore(root).release().source("cases")
    assert len(source) == N_CASES
    for doc in cases[::50]:
        assert source.get(doc["id"]) == doc
    assert source.get("not-an-id") is None


def test_sort_columns_order_like_the_reference_sort(cases):
    rng = random.Random(3)
    for sort in SORTS[1:] + ["demographic.gender:desc", "demographic.days_to_death", "nothing.here:desc,case_id"]:
        keys = parse_sort(sort, "cases")
        docs = rng.sample(cases, 200)
        columns = SortColumns(keys)
        for doc in docs:
            columns.add(doc)
        assert [docs[i]["id"] for i in columns.order()] == [d["id"] for d in reference_sort(docs, keys)], sort


def test_facets_and_projects_from_streaming_passes(root, cases, gdc_standin_factory):
    server = gdc_standin_factory(root)
    alive = leaf("=", "demographic.vital_status", "Alive")
    body = {"size": 0, "facets": "project.project_id,demographic.vital_status", "filters": alive}
    for _ in range(2):  # computed, then cached
        aggregations = requests.post(f"{server.base_url}/cases", json=body, timeout=10).json()["data"]["aggregations"]
        kept = compile_filter(alive, "cases")
        assert aggregations["project.project_id"] == facet_buckets(
            [d for d in cases if kept(d)], ("project", "project_id")
        )
        # a facet ignores the filter on its own field
        assert aggregations["demographic.vital_status"] == facet_buckets(cases, ("demographic", "vital_status"))
    counts: dict[str, int] = {}
    for doc in cases:
        counts[doc["project"]["project_id"]] = counts.get(doc["project"]["project_id"], 0) + 1
    projects = requests.get(
        f"{server.base_url}/projects", params={"size": 10, "fields": "project_id,summary.case_count"}, timeout=10
    ).json()["data"]["hits"]
    assert {p["project_id"]: p["summary"]["case_count"] for p in projects} == counts


def test_evicted_releases_leave_no_cached_results(tmp_path, cases):
    root = write_bundle(
        tmp_path / "b", {label: {"cases": cases[:CHUNK_HITS]} for label in ("44.0", "45.0", "46.0")}, current="44.0"
    )
    store = ReleaseStore(root, releases_kept=2)
    first = store.release("44.0")
    rows = store.matching(first, "cases", None, parse_sort("case_id", "cases"))
    store.hits.page(first.serial, "q", rows, 0, len(rows), lambda some: [b"{}" for _ in some])
    assert len(store.hits) == 1
    store.release("45.0")
    store.release("46.0")  # evicts 44.0
    assert len(store.hits) == 0
    assert store.release("44.0").serial != first.serial  # read again: a new identity in cache keys


# -- bundle errors still name the file and the line -----------------------------------------------------------


def _release_with(tmp_path: Path, lines: list[str]) -> ReleaseStore:
    root = write_bundle(tmp_path / "bad", {"45.0": {"cases": []}}, current="45.0")
    (root / "releases" / "45.0" / "cases.jsonl").write_text("".join(line + "\n" for line in lines))
    return ReleaseStore(root)


def _error(store: ReleaseStore) -> str:
    with pytest.raises(BundleError) as raised:
        store.matching(store.release(), "cases", None, ())
    return str(raised.value)


def test_invalid_json_names_file_and_line_counting_blank_lines(tmp_path):
    store = _release_with(tmp_path, ['{"id": "a"}', "", '{"id": "b"}', "{not json"])
    message = _error(store)
    assert message.startswith(f"{store.root / 'releases/45.0/cases.jsonl'} line 4: invalid JSON (")


def test_document_without_id_names_its_line(tmp_path):
    message = _error(_release_with(tmp_path, ['{"id": "a"}', '{"submitter_id": "x"}']))
    assert message.endswith("cases.jsonl line 2: document without 'id' or 'case_id'")


def test_duplicate_id_names_the_repeating_line(tmp_path):
    message = _error(_release_with(tmp_path, ['{"id": "a"}', '{"id": "b"}', "", '{"case_id": "c"}', '{"id": "b"}']))
    assert message.endswith("cases.jsonl line 5: duplicate id b")


def test_the_first_bad_line_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_module, "_id_hash", lambda _id: 0)  # collisions must not pass for duplicates
    duplicate_first = _release_with(tmp_path / "1", ['{"id": "a"}', '{"id": "z"}', '{"id": "a"}', "{bad"])
    assert _error(duplicate_first).endswith("line 3: duplicate id a")
    invalid_first = _release_with(tmp_path / "2", ['{"id": "a"}', "[1, 2]", '{"id": "a"}'])
    assert _error(invalid_first).endswith("line 2: document without 'id' or 'case_id'")
    later_duplicate = _release_with(tmp_path / "3", ['{"id": "a"}', '{"id": "b"}', '{"id": "b"}', '{"id": "a"}'])
    assert _error(later_duplicate).endswith("line 3: duplicate id b")


def test_bundle_errors_reach_clients_as_500(tmp_path, gdc_standin_factory):
    store = _release_with(tmp_path, ['{"id": "a"}', "{oops"])
    server = gdc_standin_factory(store.root)
    for path in ("/cases", "/cases/a", "/projects"):
        response = requests.get(server.base_url + path, timeout=10)
        assert response.status_code == 500
        assert "cases.jsonl line 2: invalid JSON" in response.json()["message"]


def test_a_release_rewritten_while_served_is_reported(tmp_path, gdc_standin_factory):
    store = _release_with(tmp_path, ['{"id": "a", "n": 1}', '{"id": "b", "n": 2}'])
    server = gdc_standin_factory(store.root)
    assert requests.get(f"{server.base_url}/cases", params={"sort": "n"}, timeout=10).status_code == 200
    (store.root / "releases/45.0/cases.jsonl").write_text('{"id": "a", "n": 1}\n')
    response = requests.get(f"{server.base_url}/cases", params={"sort": "n:desc"}, timeout=10)
    assert response.status_code == 500
    assert "changed on disk" in response.json()["message"]


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": "a", "n": [1, 2.5, null, true]}\n',
        b'{"id": "a"}\r\n',
        b'  {"id": "a"}\n',
        b'{"id": "a"}  \t\n',
        '\ufeff{"id": "a"}\n'.encode(),
        '{"id": "a"}\n'.encode("utf-16"),
        b'{"id": "\\ud800 \\u00e9"}\n',
        '{"id": "é"}\n'.encode(),
        b'{"id": "\xed\xa0\x80"}\n',
        b'{"n": NaN, "m": 123456789012345678901234567890}\n',
        b"[1, 2]\n",
        b'"text"\n',
    ],
)
def test_parse_line_is_json_loads(line):
    assert parse_line(line) == json.loads(line) or repr(parse_line(line)) == repr(json.loads(line))


@pytest.mark.parametrize(
    "line", [b'{"id": "a"} {"id": "b"}\n', b"{not json\n", b'{"id": "a"\n', b"\xff\xfe\x00\n", b""]
)
def test_parse_line_fails_as_json_loads_does(line):
    with pytest.raises(ValueError) as expected:
        json.loads(line)
    with pytest.raises(type(expected.value)) as raised:
        parse_line(line)
    assert str(raised.value) == str(expected.value)
