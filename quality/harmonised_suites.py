"""Quality suites of the harmonised tables (quality.suites): patients, molecular markers, WHO CNS5 class and
quarantine, checked against the vocabularies of docs/contracts.md. Records the transforms quarantined are
gone here, so their rules block.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from contracts.panels import SSM_PANEL_GENES
from contracts.tables import TABLES_BY_PATH
from quality.expectations import (
    ETHNICITY_VALUES,
    GLIOBLASTOMA_IDH_WILDTYPE,
    HISTOLOGY_FAMILIES,
    MGMT_SOURCES,
    MUTATION_STATUS_VALUES,
    NOT_CLASSIFIABLE,
    OLIGODENDROGLIOMA,
    RACE_VALUES,
    SEX_VALUES,
    VITAL_STATUS_VALUES,
    WHO_CNS5_CLASSES,
    WHO_GRADE_SOURCES,
    WHO_GRADES,
    between,
    case_keys,
    expectation_suite,
    in_set,
    matches_regex,
    not_null,
    release_is_partition,
    tag,
)
from quality.tables import BLOCKING, WARNING


def harmonised_patients_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "harmonised/patients",
        [
            *case_keys(),
            in_set("sex", SEX_VALUES, WARNING, "mapped sex vocabulary (null for sentinels)"),
            in_set("race", RACE_VALUES, WARNING, "mapped race vocabulary (null for sentinels)"),
            in_set("ethnicity", ETHNICITY_VALUES, WARNING, "mapped ethnicity vocabulary (null for sentinels)"),
            in_set(
                "vital_status", VITAL_STATUS_VALUES, WARNING, "mapped vital status (Unknown / Not Reported -> null)"
            ),
            in_set("histology_family", HISTOLOGY_FAMILIES, BLOCKING, "histology family is a model feature"),
            between(
                "age_at_diagnosis_years", 0, 120, BLOCKING, "age in years; days not divided by 365.25 would exceed it"
            ),
            between(
                "overall_survival_days", 0, None, BLOCKING, "a negative survival time corrupts the survival models"
            ),
            between("karnofsky_score", 0, 100, BLOCKING, "Karnofsky performance status is 0-100"),
            in_set("who_grade", WHO_GRADES, BLOCKING, "WHO grade of diffuse glioma is 2, 3 or 4 (grading target)"),
            in_set("who_grade_source", WHO_GRADE_SOURCES, WARNING, "where the grade came from"),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="who_grade_missing_reason", row_condition=Column("who_grade").is_null()
                ),
                WARNING,
                "a missing grade states why it is missing",
            ),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="death_observed", row_condition=Column("overall_survival_days").is_not_null()
                ),
                BLOCKING,
                "a survival time needs its event flag",
            ),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="overall_survival_days", row_condition=Column("death_observed").is_not_null()
                ),
                BLOCKING,
                "an event flag needs its survival time",
            ),
            tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="vital_status",
                    value_set=["Dead"],
                    row_condition=Column("death_observed") == True,  # noqa: E712
                ),
                BLOCKING,
                "an observed death means vital_status Dead",
            ),
            not_null(
                "survival_rule",
                BLOCKING,
                "every endpoint records which branch of the survival rule produced it",
            ),
        ],
        with_row_count_change,
    )


MUTATION_COLUMNS: tuple[str, ...] = tuple(f"mutation_{gene.lower()}" for gene in SSM_PANEL_GENES)


def harmonised_molecular_markers_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "harmonised/molecular_markers",
        [
            # The marker table keeps every raw case with an id, also one harmonised/patients quarantined for
            # a bad barcode (a case key, not a model input); blocking here would stop the release for a case
            # already quarantined. The barcode rules block on harmonised/patients and who_cns5_class.
            *case_keys(WARNING, "; blocking on harmonised/patients, which quarantines bad barcodes"),
            not_null("ssm_profiled", why="profiling flags decide wild type vs unknown"),
            not_null("cnv_profiled", why="profiling flags decide wild type vs unknown"),
            in_set("idh_status", MUTATION_STATUS_VALUES, BLOCKING, "IDH status drives the WHO CNS5 class"),
            *[
                in_set(column, MUTATION_STATUS_VALUES, WARNING, "mutation status vocabulary")
                for column in (*MUTATION_COLUMNS, "atrx_status", "tp53_status", "tert_status")
            ],
            between("mgmt_stp27_probability", 0.0, 1.0, BLOCKING, "MGMT-STP27 output is a probability"),
            in_set("mgmt_source", MGMT_SOURCES, WARNING, "where the MGMT call came from"),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="mgmt_source", row_condition=Column("mgmt_promoter_methylated").is_not_null()
                ),
                WARNING,
                "an MGMT call records its source",
            ),
        ],
        with_row_count_change,
    )


def harmonised_who_cns5_class_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "harmonised/who_cns5_class",
        [
            *case_keys(),
            not_null("who_cns5_class", why="every case gets a class or 'not classifiable'"),
            in_set("who_cns5_class", WHO_CNS5_CLASSES, BLOCKING, "WHO CNS5 2021 adult diffuse glioma classes"),
            in_set("who_cns5_grade", WHO_GRADES, BLOCKING, "WHO CNS5 grades 2-4"),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="not_classifiable_reason", row_condition=Column("who_cns5_class") == NOT_CLASSIFIABLE
                ),
                WARNING,
                "'not classifiable' names the missing marker",
            ),
            # WHO CNS5 grades by type: IDH-wildtype glioblastoma is grade 4 by definition, and the
            # oligodendroglioma type has no grade 4. (A missing histological grade legitimately leaves the
            # grade of an IDH-mutant type null, so there is no not-null rule for those.)
            tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="who_cns5_grade",
                    value_set=[4],
                    row_condition=Column("who_cns5_class") == GLIOBLASTOMA_IDH_WILDTYPE,
                ),
                BLOCKING,
                "glioblastoma, IDH-wildtype is CNS WHO grade 4",
            ),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="who_cns5_grade", row_condition=Column("who_cns5_class") == GLIOBLASTOMA_IDH_WILDTYPE
                ),
                BLOCKING,
                "glioblastoma, IDH-wildtype always has its grade 4",
            ),
            tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="who_cns5_grade",
                    value_set=[2, 3],
                    row_condition=Column("who_cns5_class") == OLIGODENDROGLIOMA,
                ),
                BLOCKING,
                "oligodendroglioma, IDH-mutant and 1p/19q-codeleted is CNS WHO grade 2 or 3",
            ),
        ],
        with_row_count_change,
    )


def harmonised_quarantine_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    # A quarantined record may be there *because* its ids are bad, so no barcode/id-shape rules here.
    return expectation_suite(
        "harmonised/quarantine",
        [
            release_is_partition(),
            not_null("table", why="the raw table the record came from"),
            in_set("table", tuple(TABLES_BY_PATH), WARNING, "a known lake table"),
            not_null("reason", why="a machine-stable reason code is required"),
            matches_regex("reason", r"^[a-z0-9_]+$", WARNING, "reason codes are snake_case"),
            not_null("detail", why="a human sentence naming case, field and value"),
            not_null("record", why="the whole raw document is kept so nothing is lost"),
        ],
        with_row_count_change,
    )
