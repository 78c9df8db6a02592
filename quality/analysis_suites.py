"""Quality suites of the expression analyses' tables (quality.suites): keys unique, p-values and proportions in
range, intervals around their estimates, group sizes large enough to have been tested, vocabularies from the
declarations. A failure names a statistics bug, not a data problem: the inputs were checked upstream."""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from analyses.cohorts import CONTRASTS, SURVIVAL_COHORTS
from analyses.differential_expression import MIN_GROUP_SIZE
from analyses.gene_sets import SUBTYPES
from contracts.analysis_tables import SUBTYPE_NAMES
from quality.expectations import (
    between,
    expectation_suite,
    in_set,
    not_null,
    release_is_partition,
    tag,
    unique,
)
from quality.tables import BLOCKING, WARNING

_CONTRASTS = tuple(c.name for c in CONTRASTS)
SURVIVAL_METHODS = ("cox", "median_split", "quartile_split", "maxstat_split")


def _unique_key(columns: list[str], why: str) -> gxe.Expectation:
    return tag(gxe.ExpectCompoundColumnsToBeUnique(column_list=columns), BLOCKING, why)


def _probability(column: str, why: str = "a p-value or proportion lies in [0, 1]") -> gxe.Expectation:
    return between(column, 0, 1, BLOCKING, why)


def _at_least(column_a: str, column_b: str, why: str) -> gxe.Expectation:
    return tag(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=column_a, column_B=column_b, or_equal=True, ignore_row_if="either_value_is_missing"
        ),
        BLOCKING,
        why,
    )


def analytics_differential_expression_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "analytics/differential_expression",
        [
            release_is_partition(),
            in_set("contrast", _CONTRASTS, BLOCKING, "contrasts are declared in analyses.cohorts"),
            _unique_key(["contrast", "gene_id"], "one row per contrast and tested gene"),
            not_null("gene_id"),
            not_null("method", why="every row says how it was computed"),
            between("n_numerator", MIN_GROUP_SIZE, None, BLOCKING, "a contrast is tested with enough patients"),
            between("n_reference", MIN_GROUP_SIZE, None, BLOCKING, "a contrast is tested with enough patients"),
            between("base_mean", 0, None, BLOCKING, "a mean of normalised counts is not negative"),
            _probability("p_value"),
            _probability("adjusted_p_value"),
            _at_least("adjusted_p_value", "p_value", "Benjamini-Hochberg never lowers a p-value"),
            between(
                "log2_fold_change_standard_error", 0, None, WARNING, "a standard error is positive", strict_min=True
            ),
        ],
        with_row_count_change,
    )


def analytics_enrichment_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "analytics/enrichment",
        [
            release_is_partition(),
            in_set("contrast", _CONTRASTS, BLOCKING, "contrasts are declared in analyses.cohorts"),
            in_set(
                "analysis",
                ("gsea_preranked", "over_representation_up", "over_representation_down"),
                BLOCKING,
                "the three analyses of analyses.enrichment",
            ),
            _unique_key(["contrast", "analysis", "gene_set"], "one row per contrast, analysis and gene set"),
            _at_least("set_size", "genes_measured", "a set cannot have more measured genes than genes"),
            _probability("p_value"),
            _probability("adjusted_p_value"),
            between("overlap", 0, None, BLOCKING, "an overlap is a count"),
        ],
        with_row_count_change,
    )


def harmonised_expression_subtypes_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "harmonised/expression_subtypes",
        [
            release_is_partition(),
            unique("case_id", "one subtype call per patient with expression"),
            in_set("subtype", SUBTYPES, BLOCKING, "Wang et al. 2017 subtypes"),
            in_set("centroid_subtype", SUBTYPES, BLOCKING, "Wang et al. 2017 subtypes"),
            *[
                between(f"{name}_p_value", 0, 1, BLOCKING, "an empirical p lies in (0, 1]", strict_min=True)
                for name in SUBTYPE_NAMES
            ],
            *[
                between(f"{name}_genes_measured", 1, 70, WARNING, "some of the subtype's 70 genes must be measured")
                for name in SUBTYPE_NAMES
            ],
            between("permutations", 100, None, BLOCKING, "an empirical p needs enough random gene sets"),
        ],
        with_row_count_change,
    )


def analytics_survival_by_gene_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "analytics/survival_by_gene",
        [
            release_is_partition(),
            in_set("cohort", tuple(c.name for c in SURVIVAL_COHORTS), BLOCKING, "cohorts of analyses.cohorts"),
            in_set("method", SURVIVAL_METHODS, BLOCKING, "methods of analyses.release_results"),
            _unique_key(["cohort", "method", "gene_id"], "one row per cohort, method and gene"),
            _at_least("n_patients", "n_events", "deaths are among the cohort's patients"),
            _at_least("hazard_ratio", "ci_low", "an interval contains its estimate"),
            _at_least("ci_high", "hazard_ratio", "an interval contains its estimate"),
            _probability("p_value"),
            _probability("adjusted_p_value"),
            tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="cut_point_searched",
                    value_set=[True],
                    row_condition=Column("method") == "maxstat_split",
                ),
                BLOCKING,
                "a maxstat cut-point is searched, and says so",
            ),
        ],
        with_row_count_change,
    )
