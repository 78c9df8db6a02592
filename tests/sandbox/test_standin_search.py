"""The stand-in's search endpoints answer as the live GDC API does (over real HTTP, with requests)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import requests

from sandbox.gdc_standin.testing import (
    CASE_GBM_NO_DEMOGRAPHIC,
    CASE_GBM_RT_TMZ,
    CASE_LGG_NO_DIAGNOSES,
    CASE_LGG_RT,
    small_bundle,
)

ALL_CASES = {CASE_GBM_RT_TMZ, CASE_LGG_RT, CASE_LGG_NO_DIAGNOSES, CASE_GBM_NO_DEMOGRAPHIC}


@pytest.fixture
def server(tmp_path: Path, gdc_standin_factory):
    return gdc_standin_factory(small_bundle(tmp_path / "bundle"))


def leaf(op: str, field: str, value=None) -> dict:
    content = {"field": field}
    if value is not None:
        content["value"] = value
    return {"op": op, "content": content}


def case_ids(server, filters: dict, endpoint: str = "cases") -> set[str]:
    response = requests.post(f"{server.base_url}/{endpoint}", json={"filters": filters, "size": 100}, timeout=10)
    assert response.status_code == 200, response.text
    return {hit["id"] for hit in response.json()["data"]["hits"]}


# -- envelopes and paging --------------------------------------------------------------------------------------


def test_search_envelope_has_hits_pagination_and_empty_warnings(server):
    body = requests.get(f"{server.base_url}/cases", timeout=10).json()
    assert set(body) == {"data", "warnings"}
    assert body["warnings"] == {}
    assert set(body["data"]) == {"hits", "pagination"}
    assert body["data"]["pagination"] == {
        "count": 4,
        "total": 4,
        "size": 10,
        "from": 0,
        "sort": "",
        "page": 1,
        "pages": 1,
    }


def test_status_is_bare_and_answers_under_v0(server):
    for path in ("/status", "/v0/status"):
        body = requests.get(server.base_url + path, timeout=10).json()
        assert "data" not in body
        assert body["data_release"] == "Data Release 45.0 - December 04, 2025"
        assert body["status"] == "OK"


def test_page_arithmetic_with_string_size_and_from(server):
    page = requests.get(f"{server.base_url}/cases", params={"size": "3", "from": "3"}, timeout=10).json()["data"]
    assert page["pagination"] == {"count": 1, "total": 4, "size": 3, "from": 3, "sort": "", "page": 2, "pages": 2}
    assert len(page["hits"]) == 1


def test_size_zero_gives_pages_equal_total_and_no_hits(server):
    page = requests.post(f"{server.base_url}/cases", json={"size": 0}, timeout=10).json()["data"]
    assert page["hits"] == []
    assert page["pagination"]["pages"] == page["pagination"]["total"] == 4
    assert page["pagination"]["count"] == 0


def test_from_past_the_end_gives_empty_hits_with_count_zero(server):
    page = requests.post(f"{server.base_url}/cases", json={"size": 2, "from": 50}, timeout=10).json()["data"]
    assert page["hits"] == []
    assert page["pagination"]["count"] == 0
    assert page["pagination"]["total"] == 4
    assert page["pagination"]["page"] == 26
    assert page["pagination"]["pages"] == 2


def test_no_match_gives_page_zero_of_zero(server):
    filters = leaf("=", "submitter_id", "TCGA-XX-9999")
    page = requests.post(f"{server.base_url}/cases", json={"filters": filters}, timeout=10).json()["data"]
    assert page["hits"] == []
    assert page["pagination"] == {"count": 0, "total": 0, "size": 10, "from": 0, "sort": "", "page": 0, "pages": 0}


def test_paging_with_sort_visits_every_case_once_even_when_sort_given(server):
    seen = []
    for offset in range(0, 4, 3):
        body = requests.post(
            f"{server.base_url}/cases", json={"size": 3, "from": offset, "sort": "submitter_id:desc"}, timeout=10
        ).json()
        assert body["data"]["pagination"]["sort"] == ""  # echoed as "", not the sort given
        seen += [hit["submitter_id"] for hit in body["data"]["hits"]]
    assert seen == ["TCGA-DU-0003", "TCGA-DU-0002", "TCGA-06-0001", "TCGA-02-0004"]


def test_sort_bare_field_multiple_keys_and_missing_values_last(server):
    def order(sort: str) -> list[str]:
        body = requests.get(f"{server.base_url}/cases", params={"sort": sort, "fields": "submitter_id"}, timeout=10)
        return [hit["submitter_id"] for hit in body.json()["data"]["hits"]]

    assert order("demographic.age_at_index") == ["TCGA-DU-0002", "TCGA-DU-0003", "TCGA-06-0001", "TCGA-02-0004"]
    assert order("demographic.age_at_index:desc") == ["TCGA-06-0001", "TCGA-DU-0003", "TCGA-DU-0002", "TCGA-02-0004"]
    assert order("project.project_id:desc,submitter_id:asc") == [
        "TCGA-DU-0002",
        "TCGA-DU-0003",
        "TCGA-02-0004",
        "TCGA-06-0001",
    ]


def test_size_above_one_hundred_thousand_is_accepted(server):
    body = requests.get(f"{server.base_url}/cases", params={"size": 100000}, timeout=10).json()
    assert body["data"]["pagination"]["size"] == 100000
    assert body["data"]["pagination"]["count"] == 4


# -- filters ---------------------------------------------------------------------------------------------------


def test_equality_is_case_insensitive_and_accepts_one_element_list(server):
    assert case_ids(server, leaf("=", "demographic.gender", "MALE")) == {CASE_GBM_RT_TMZ}
    assert case_ids(server, leaf("=", "demographic.gender", ["female"])) == {CASE_LGG_RT}


def test_endpoint_prefix_on_field_names_is_optional(server):
    with_prefix = case_ids(server, leaf("in", "cases.project.project_id", ["TCGA-LGG"]))
    without_prefix = case_ids(server, leaf("in", "project.project_id", ["TCGA-LGG"]))
    assert with_prefix == without_prefix == {CASE_LGG_RT, CASE_LGG_NO_DIAGNOSES}


def test_not_equal_keeps_documents_without_the_field(server):
    assert case_ids(server, leaf("!=", "demographic.gender", "male")) == ALL_CASES - {CASE_GBM_RT_TMZ}


def test_range_operators_on_numbers_and_on_any_diagnosis(server):
    assert case_ids(server, leaf(">=", "diagnoses.age_at_diagnosis", 23000)) == {
        CASE_GBM_RT_TMZ,
        CASE_GBM_NO_DEMOGRAPHIC,
    }  # case 1 via its second diagnosis only
    assert case_ids(server, leaf(">", "diagnoses.age_at_diagnosis", "23100")) == {CASE_GBM_NO_DEMOGRAPHIC}
    assert case_ids(server, leaf("<", "demographic.age_at_index", 45)) == {CASE_LGG_RT}
    assert case_ids(server, leaf("<=", "demographic.age_at_index", 45)) == {CASE_LGG_RT, CASE_LGG_NO_DIAGNOSES}
    # Karnofsky is a string in GDC; a numeric bound still compares it as a number
    assert case_ids(server, leaf(">=", "follow_ups.karnofsky_performance_status", 80)) == {CASE_GBM_RT_TMZ}


def test_in_on_nested_treatments_matches_any_child_and_returns_all_children(server):
    filters = leaf("in", "diagnoses.treatments.therapeutic_agents", ["temozolomide"])
    body = requests.post(
        f"{server.base_url}/cases",
        json={"filters": filters, "fields": "diagnoses.treatments.treatment_type"},
        timeout=10,
    ).json()
    (hit,) = body["data"]["hits"]
    assert hit["id"] == CASE_GBM_RT_TMZ
    # the whole parent comes back: both treatments, not just the matching one
    assert [t["treatment_type"] for t in hit["diagnoses"][0]["treatments"]] == [
        "Radiation Therapy, NOS",
        "Pharmaceutical Therapy, NOS",
    ]


def test_exclude_drops_only_when_all_children_match_excludeifany_when_any(server):
    radiation = ["Radiation Therapy, NOS"]
    assert case_ids(server, leaf("exclude", "diagnoses.treatments.treatment_type", radiation)) == {
        CASE_GBM_RT_TMZ,
        CASE_LGG_NO_DIAGNOSES,
        CASE_GBM_NO_DEMOGRAPHIC,
    }
    assert case_ids(server, leaf("excludeifany", "diagnoses.treatments.treatment_type", radiation)) == {
        CASE_LGG_NO_DIAGNOSES,
        CASE_GBM_NO_DEMOGRAPHIC,
    }


def test_is_and_not_test_missing_values_with_parent_quirk(server):
    # explicit null counts as missing; a case without demographic is not "missing" it (documented ES quirk)
    assert case_ids(server, leaf("is", "demographic.days_to_death")) == {CASE_LGG_RT, CASE_LGG_NO_DIAGNOSES}
    assert case_ids(server, leaf("not", "demographic.days_to_death")) == {CASE_GBM_RT_TMZ}
    assert case_ids(server, {"op": "is", "content": {"field": "diagnoses", "value": "MISSING"}}) == {
        CASE_LGG_NO_DIAGNOSES
    }


def test_missing_parent_quirk_can_be_switched_off(tmp_path, gdc_standin_factory):
    server = gdc_standin_factory(small_bundle(tmp_path / "b"), missing_parent_quirk=False)
    assert case_ids(server, leaf("is", "demographic.days_to_death")) == {
        CASE_LGG_RT,
        CASE_LGG_NO_DIAGNOSES,
        CASE_GBM_NO_DEMOGRAPHIC,
    }


def test_wildcard_and_boolean_values(server):
    assert case_ids(server, leaf("=", "diagnoses.primary_diagnosis", "oligo*")) == {CASE_LGG_RT}
    assert case_ids(server, leaf("=", "diagnoses.primary_diagnosis", "*NOS")) == {CASE_LGG_RT}
    assert case_ids(server, leaf("=", "diagnoses.diagnosis_is_primary_disease", False)) == {CASE_GBM_RT_TMZ}
    assert case_ids(server, leaf("=", "diagnoses.diagnosis_is_primary_disease", "true")) == {
        CASE_GBM_RT_TMZ,
        CASE_LGG_RT,
    }


def test_and_or_combinations(server):
    gbm = leaf("=", "project.project_id", "TCGA-GBM")
    dead = leaf("=", "demographic.vital_status", "Dead")
    lgg_g2 = leaf("=", "diagnoses.tumor_grade", "G2")
    assert case_ids(server, {"op": "and", "content": [gbm, dead]}) == {CASE_GBM_RT_TMZ}
    assert case_ids(server, {"op": "or", "content": [dead, lgg_g2]}) == {CASE_GBM_RT_TMZ, CASE_LGG_RT}


def test_occurrence_filters_use_case_and_ssm_paths(server):
    by_gene = leaf("in", "ssm.consequence.transcript.gene.symbol", ["IDH1", "IDH2"])
    body = requests.post(
        f"{server.base_url}/ssm_occurrences",
        json={"filters": by_gene, "fields": "case.submitter_id,ssm.consequence.transcript.gene.symbol"},
        timeout=10,
    ).json()
    (hit,) = body["data"]["hits"]
    assert hit["case"] == {"submitter_id": "TCGA-DU-0002"}
    # all transcripts come back, also the overlapping gene's
    assert [c["transcript"]["gene"]["symbol"] for c in hit["ssm"]["consequence"]] == ["IDH1", "OVERLAP1"]
    assert case_ids(server, leaf("=", "ssm_occurrences.case.project.project_id", "TCGA-GBM"), "ssm_occurrences") == {
        "55000000-0000-4000-8000-000000000001"
    }
    assert case_ids(server, leaf("=", "cnv.cnv_change_5_category", "amplification"), "cnv_occurrences") == {
        "c7000000-0000-4000-8000-000000000001"
    }


def test_get_with_pretty_printed_url_encoded_filters(server):
    filters = json.dumps(
        {"op": "and", "content": [leaf("in", "cases.project.project_id", ["TCGA-GBM"])]}, indent=2
    ).replace("\n", "\r\n")
    url = f"{server.base_url}/cases?filters={quote_plus(filters)}&size=10"
    assert "%0D%0A" in url and "+" in url
    body = requests.get(url, timeout=10).json()
    assert {hit["id"] for hit in body["data"]["hits"]} == {CASE_GBM_RT_TMZ, CASE_GBM_NO_DEMOGRAPHIC}


def test_post_accepts_filters_as_json_string_and_form_encoding(server):
    filters = leaf("=", "project.project_id", "TCGA-LGG")
    as_string = requests.post(
        f"{server.base_url}/cases", json={"filters": json.dumps(filters), "size": "5"}, timeout=10
    ).json()
    as_form = requests.post(
        f"{server.base_url}/cases", data={"filters": json.dumps(filters), "size": "5"}, timeout=10
    ).json()
    assert as_string == as_form
    assert as_form["data"]["pagination"]["total"] == 2


@pytest.mark.parametrize(
    "filters, problem",
    [
        ("{not json", "not valid JSON"),
        ({"op": "like", "content": {"field": "submitter_id", "value": "x"}}, "unknown filter op 'like'"),
        ({"op": "and", "content": {"field": "x"}}, "must be a list"),
        ({"op": "=", "content": {"value": "x"}}, "without a string 'field'"),
        ({"op": "in", "content": {"field": "submitter_id"}}, "has no 'value'"),
        ({"content": []}, "without 'op'"),
    ],
)
def test_malformed_filters_get_400_naming_the_problem(server, filters, problem):
    payload = filters if isinstance(filters, str) else json.dumps(filters)
    response = requests.get(f"{server.base_url}/cases", params={"filters": payload}, timeout=10)
    assert response.status_code == 400
    assert problem in response.json()["message"]


def test_bad_size_gets_400(server):
    response = requests.get(f"{server.base_url}/cases", params={"size": "ten"}, timeout=10)
    assert response.status_code == 400
    assert "size" in response.json()["message"]


# -- fields, expand, defaults ----------------------------------------------------------------------------------


def test_default_hit_has_only_top_level_scalars_and_id(server):
    hit = requests.get(f"{server.base_url}/cases/{CASE_GBM_RT_TMZ}", timeout=10).json()["data"]
    assert hit["id"] == hit["case_id"] == CASE_GBM_RT_TMZ
    assert hit["available_variation_data"] == ["ssm", "cnv"]
    assert not {"project", "demographic", "diagnoses", "follow_ups"} & set(hit)


def test_fields_are_projected_into_nested_objects_and_unknown_fields_are_absent(server):
    fields = (
        "submitter_id,project.project_id,demographic.vital_status,diagnoses.vital_status,diagnoses.age_at_diagnosis"
    )
    body = requests.get(f"{server.base_url}/cases", params={"fields": fields, "sort": "submitter_id"}, timeout=10)
    hits = {hit["id"]: hit for hit in body.json()["data"]["hits"]}
    assert hits[CASE_GBM_RT_TMZ] == {
        "id": CASE_GBM_RT_TMZ,
        "submitter_id": "TCGA-06-0001",
        "project": {"project_id": "TCGA-GBM"},
        "demographic": {"vital_status": "Dead"},
        "diagnoses": [{"age_at_diagnosis": 22894}, {"age_at_diagnosis": 23100}],
    }
    assert not any("." in key for hit in hits.values() for key in hit)
    assert "diagnoses" not in hits[CASE_LGG_NO_DIAGNOSES]  # absent child collection stays absent, not []
    assert "demographic" not in hits[CASE_GBM_NO_DEMOGRAPHIC]


def test_explicit_null_is_kept_as_null(server):
    hit = requests.get(
        f"{server.base_url}/cases/{CASE_LGG_RT}", params={"fields": "demographic.days_to_death"}, timeout=10
    ).json()["data"]
    assert hit == {"id": CASE_LGG_RT, "demographic": {"days_to_death": None}}


def test_expand_gives_group_scalars_and_needs_its_own_expand_for_children(server):
    hit = requests.get(f"{server.base_url}/cases/{CASE_GBM_RT_TMZ}", params={"expand": "diagnoses"}, timeout=10).json()[
        "data"
    ]
    assert hit["submitter_id"] == "TCGA-06-0001"  # expand alone keeps the default fields
    assert hit["diagnoses"][0]["tumor_grade"] == "G4"
    assert "treatments" not in hit["diagnoses"][0]
    hit = requests.get(
        f"{server.base_url}/cases/{CASE_GBM_RT_TMZ}",
        params={"expand": "diagnoses,diagnoses.treatments", "fields": "submitter_id"},
        timeout=10,
    ).json()["data"]
    assert hit["diagnoses"][0]["treatments"][1]["therapeutic_agents"] == "Temozolomide"
    assert "case_id" not in hit  # fields given: no default set


def test_single_entity_404_for_unknown_id_and_unknown_paths(server):
    # (/files/versions is served since the gdc-client protocol work: tests/sandbox/test_standin_gdc_client_protocol.py)
    for path in (
        "/cases/c0ffee00-0000-4000-8000-00000000dead",
        "/no_such_endpoint",
        "/legacy/files",
        "/history/x",
        "/files/_mapping",
    ):
        response = requests.get(server.base_url + path, timeout=10)
        assert response.status_code == 404, path
        assert "message" in response.json()


def test_pretty_output_is_indented_and_identical_in_content(server):
    plain = requests.get(f"{server.base_url}/cases", params={"size": 1}, timeout=10)
    pretty = requests.get(f"{server.base_url}/cases", params={"size": 1, "pretty": "TRUE"}, timeout=10)
    assert "\n  " in pretty.text and "\n" not in plain.text
    assert pretty.json() == plain.json()


# -- projects --------------------------------------------------------------------------------------------------


def test_projects_are_derived_from_cases_and_addressed_by_project_id(server):
    body = requests.get(f"{server.base_url}/projects", timeout=10).json()
    assert [hit["id"] for hit in body["data"]["hits"]] == ["TCGA-GBM", "TCGA-LGG"]
    lgg = requests.get(f"{server.base_url}/projects/TCGA-LGG", params={"expand": "summary,program"}, timeout=10).json()[
        "data"
    ]
    assert lgg["name"] == "Brain Lower Grade Glioma"
    assert lgg["primary_site"] == ["Brain"] and lgg["disease_type"] == ["Gliomas"]
    assert lgg["program"] == {"name": "TCGA"}
    assert lgg["summary"]["case_count"] == 2
    assert lgg["summary"]["file_count"] == 2


# -- facets ----------------------------------------------------------------------------------------------------


def test_facets_give_buckets_with_missing_and_ignore_a_filter_on_their_own_field(server):
    filters = {"op": "and", "content": [leaf("in", "project.project_id", ["TCGA-GBM"])]}
    body = requests.post(
        f"{server.base_url}/cases",
        json={"filters": filters, "size": 0, "facets": "project.project_id,demographic.vital_status"},
        timeout=10,
    ).json()
    aggregations = body["data"]["aggregations"]
    assert aggregations["project.project_id"]["buckets"] == [
        {"key": "TCGA-GBM", "doc_count": 2},
        {"key": "TCGA-LGG", "doc_count": 2},
    ]
    assert aggregations["demographic.vital_status"]["buckets"] == [
        {"key": "Dead", "doc_count": 1},
        {"key": "_missing", "doc_count": 1},
    ]
    assert body["data"]["pagination"]["total"] == 2


def test_facets_with_a_range_filter_are_rejected(server):
    response = requests.post(
        f"{server.base_url}/cases",
        json={"filters": leaf(">", "demographic.age_at_index", 1), "facets": "project.project_id"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "facets" in response.json()["message"]


# -- TSV -------------------------------------------------------------------------------------------------------


def _tsv_rows(text: str) -> list[dict[str, str]]:
    header, *lines = text.rstrip("\n").split("\n")
    columns = header.split("\t")
    return [dict(zip(columns, line.split("\t"), strict=True)) for line in lines]


def test_tsv_flattens_with_dots_and_indices_sorted_columns_id_booleans_and_nulls(server):
    response = requests.get(
        f"{server.base_url}/cases",
        params={
            "format": "tsv",
            "sort": "submitter_id",
            "fields": "submitter_id,demographic.days_to_death,diagnoses.diagnosis_is_primary_disease,"
            "diagnoses.treatments.treatment_type",
        },
        timeout=10,
    )
    assert response.headers["Content-Type"].startswith("text/tab-separated-values")
    header = response.text.split("\n")[0].split("\t")
    assert header == sorted(header)
    assert {
        "id",
        "demographic.days_to_death",
        "diagnoses.0.treatments.1.treatment_type",
        "diagnoses.1.diagnosis_is_primary_disease",
    } <= set(header)
    rows = {row["submitter_id"]: row for row in _tsv_rows(response.text)}
    assert rows["TCGA-06-0001"]["diagnoses.0.diagnosis_is_primary_disease"] == "True"
    assert rows["TCGA-06-0001"]["diagnoses.1.diagnosis_is_primary_disease"] == "False"
    assert rows["TCGA-06-0001"]["diagnoses.0.treatments.1.treatment_type"] == "Pharmaceutical Therapy, NOS"
    assert rows["TCGA-DU-0002"]["demographic.days_to_death"] == ""  # null -> empty
    assert rows["TCGA-DU-0002"]["id"] == CASE_LGG_RT
    assert "pagination" not in response.text


def test_tsv_scalar_lists_get_indices_and_format_is_case_insensitive(server):
    text = requests.get(f"{server.base_url}/projects", params={"format": "TSV"}, timeout=10).text
    assert text.split("\n")[0].split("\t") == ["disease_type.0", "id", "name", "primary_site.0", "project_id"]


def test_tsv_underscore_style_of_2016(tmp_path, gdc_standin_factory):
    server = gdc_standin_factory(small_bundle(tmp_path / "b"), tsv_style="underscores")
    text = requests.get(
        f"{server.base_url}/files",
        params={"format": "tsv", "fields": "cases.submitter_id,cases.samples.sample_type"},
        timeout=10,
    ).text
    header = text.split("\n")[0].split("\t")
    assert "cases_0_samples_0_sample_type" in header
    assert not any("." in column for column in header)


# -- the real dev bundle ---------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_dev_bundle_counts(real_dev_bundle, gdc_standin_factory):
    server = gdc_standin_factory(real_dev_bundle)

    def total(endpoint: str, filters: dict | None = None) -> int:
        body = {"size": 0, **({"filters": filters} if filters else {})}
        return requests.post(f"{server.base_url}/{endpoint}", json=body, timeout=30).json()["data"]["pagination"][
            "total"
        ]

    assert total("cases") == 777
    assert total("cases", leaf("in", "cases.project.project_id", ["TCGA-GBM"])) == 417
    assert total("ssm_occurrences") == 1385
    assert total("cnv_occurrences") == 10200
    assert total("files") == 645
    assert total("files", leaf("=", "cases.project.project_id", "TCGA-LGG")) == 360
    assert total("ssm_occurrences", leaf("=", "case.project.project_id", "TCGA-LGG")) == 916


@pytest.mark.realdata
def test_real_dev_bundle_pages_sorted_cover_every_case_exactly_once(real_dev_bundle, gdc_standin_factory):
    server = gdc_standin_factory(real_dev_bundle)
    session = requests.Session()
    seen: list[str] = []
    offset = 0
    while True:
        body = session.post(
            f"{server.base_url}/v0/cases",
            json={
                "size": 200,
                "from": offset,
                "sort": "case_id:asc",
                "fields": "case_id,project.project_id,demographic.vital_status,diagnoses.treatments.treatment_type",
            },
            timeout=30,
        ).json()
        seen += [hit["id"] for hit in body["data"]["hits"]]
        pagination = body["data"]["pagination"]
        if pagination["page"] >= pagination["pages"]:
            break
        offset += 200
    assert len(seen) == len(set(seen)) == 777
    assert seen == sorted(seen)


def test_answers_are_the_same_with_and_without_the_hit_cache(tmp_path, gdc_standin_factory):
    bundle = small_bundle(tmp_path / "b")
    cached = gdc_standin_factory(bundle)
    uncached = gdc_standin_factory(bundle, cache_hits=False)
    request = {
        "size": 2,
        "from": 1,
        "sort": "submitter_id",
        "fields": "submitter_id,diagnoses.treatments",
        "facets": "project.project_id",
    }
    answers = [
        requests.post(f"{server.base_url}/cases", json=request, timeout=10).json()
        for server in (cached, cached, uncached)
    ]
    assert answers[0] == answers[1] == answers[2]
    assert [hit["submitter_id"] for hit in answers[0]["data"]["hits"]] == ["TCGA-06-0001", "TCGA-DU-0002"]


@pytest.mark.realdata
def test_concurrent_first_requests_load_the_release_once_and_agree(real_dev_bundle, gdc_standin_factory):
    from concurrent.futures import ThreadPoolExecutor

    server = gdc_standin_factory(real_dev_bundle)

    def page(offset: int) -> list[str]:
        body = requests.post(
            f"{server.base_url}/cases",
            json={"size": 100, "from": offset, "sort": "submitter_id", "fields": "submitter_id"},
            timeout=30,
        ).json()
        assert body["data"]["pagination"]["total"] == 777
        return [hit["submitter_id"] for hit in body["data"]["hits"]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        pages = list(pool.map(page, range(0, 800, 100)))
    barcodes = [barcode for chunk in pages for barcode in chunk]
    assert barcodes == sorted(barcodes) and len(set(barcodes)) == 777
