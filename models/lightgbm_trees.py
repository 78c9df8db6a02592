"""The one reader of a LightGBM model's structure, and the rules by which LightGBM routes a value at a split.

Explanations (`models.explain`: which values every split treats alike) and the tree-by-tree scoring pass
(`models.pattern_shap`: which way each value goes at each split) both read a booster through `read_forest`,
from `booster.dump_model()`, LightGBM's documented JSON form of a model, into typed per-tree arrays numbered as
LightGBM numbers its nodes. LightGBM's decision constants are declared here once, next to `goes_left`, its
`NumericalDecision` for arrays.

Those passes are exact only as long as LightGBM decides as read here. `exactness_verified` is the guard: the
passes run only on LightGBM versions their exactness tests passed on (`EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS`);
on any other version scoring uses LightGBM's own `predict` and `pred_contrib` and the log says so once.
"""

from __future__ import annotations

import enum
import functools
import logging
import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

# -- LightGBM's decision rules (v4.x C++ sources) -------------------------------------------------------------

# include/LightGBM/meta.h: `const double kZeroThreshold = 1e-35f;`, a float literal widened to double (not the
# double 1e-35). The dense-matrix readers of src/c_api.cpp keep a value only when fabs(v) > kZeroThreshold or it
# is NaN, so smaller values are predicted as 0.0; `Tree::IsZero` (include/LightGBM/tree.h) uses the same bound.
ZERO_THRESHOLD = float(np.float32(1e-35))


class MissingType(enum.IntEnum):
    """include/LightGBM/bin.h `enum MissingType { None, Zero, NaN }`: what a split sends its default way."""

    NONE = 0  # nothing: NaN is read as 0.0 and compared with the threshold
    ZERO = 1  # zero (|v| <= ZERO_THRESHOLD, and NaN, read as 0.0)
    NAN = 2  # NaN


# How `dump_model()` spells them (src/io/tree.cpp, `Tree::NodeToJSON`).
_MISSING_TYPE_NAMES = {"None": MissingType.NONE, "Zero": MissingType.ZERO, "NaN": MissingType.NAN}

# src/io/tree.cpp writes a threshold into the JSON through `Common::AvoidInf`, which clamps it to +-1e300, while
# the model may hold +inf (the upper bound of a feature's last bin: a split of missing values against all
# others). A dumped +-1e300 stands for any threshold at or beyond it. Bins are cut between distinct training
# values (src/io/bin.cpp), so a finite threshold lies within its feature's training range: where that range
# (the dump's `feature_infos`) is within +-1e300, a dumped +-1e300 is read as +-inf, exactly. Elsewhere it is
# left at +-1e300 and the feature marked (`SplitPoints.beyond_limit_unknown`): values that far out are unplaced.
JSON_THRESHOLD_LIMIT = 1e300


def as_lightgbm_reads(features: NDArray) -> NDArray[np.float64]:
    """The values LightGBM's predictor actually uses: |v| <= ZERO_THRESHOLD become 0.0 (NaN stays NaN)."""
    features = np.array(features, dtype=np.float64)
    features[np.abs(features) <= ZERO_THRESHOLD] = 0.0
    return features


def goes_left(
    values: NDArray[np.float64],
    threshold: NDArray[np.float64],
    default_left: NDArray[np.bool_],
    missing_type: NDArray[np.integer],
) -> NDArray[np.bool_]:
    """include/LightGBM/tree.h `Tree::NumericalDecision`, elementwise (arguments broadcast): NaN reads as 0.0
    unless the split's missing type is NaN; a NaN (NaN type) or zero (Zero type) value takes the default side;
    any other value goes left when `value <= threshold`. `values` as LightGBM reads them (`as_lightgbm_reads`)."""
    is_nan = np.isnan(values)
    read = np.where(is_nan & (missing_type != MissingType.NAN), 0.0, values)
    by_default = ((missing_type == MissingType.ZERO) & (np.abs(read) <= ZERO_THRESHOLD)) | (
        (missing_type == MissingType.NAN) & is_nan
    )
    with np.errstate(invalid="ignore"):
        return np.where(by_default, default_left, read <= threshold)


# -- the reader -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """One tree of a model (a multiclass model has one tree per class per iteration), its nodes numbered as
    LightGBM numbers them: split i is the dump's `split_index` i, leaf j its `leaf_index` j, and a child c is
    split c when c >= 0 and leaf ~c otherwise (LightGBM's own child encoding)."""

    split_feature: NDArray[np.int64]  # per split
    threshold: NDArray[np.float64]  # per split; NaN for a categorical split (its categories are not read)
    default_left: NDArray[np.bool_]  # per split: where a missing (or, for Zero type, zero) value goes
    missing_type: NDArray[np.int8]  # per split: a `MissingType`
    categorical: NDArray[np.bool_]  # per split: decision_type '==' (a category set) rather than '<='
    left_child: NDArray[np.int64]  # per split
    right_child: NDArray[np.int64]  # per split
    leaf_value: NDArray[np.float64]  # per leaf: the output (a linear tree's constant term)
    linear: bool  # leaves are linear models (`linear_tree`): the output also depends on feature values

    @property
    def num_leaves(self) -> int:
        return self.leaf_value.size

    @property
    def max_abs_leaf(self) -> float:
        return float(np.abs(self.leaf_value).max()) if self.leaf_value.size else 0.0

    def leaf_of(self, values: NDArray[np.float64]) -> NDArray[np.int64]:
        """The leaf each row of `values` (n_rows, n_features; as LightGBM reads them) lands in, numeric splits
        only. Thresholds at the dump's +-1e300 limit route values beyond it as if the limit were the threshold."""
        if self.categorical.any():
            raise ValueError("a categorical split cannot be routed from the dump")
        node = np.zeros(values.shape[0], np.int64) if self.split_feature.size else np.full(values.shape[0], -1)
        rows = np.flatnonzero(node >= 0)
        while rows.size:
            at = node[rows]
            left = goes_left(
                values[rows, self.split_feature[at]], self.threshold[at], self.default_left[at], self.missing_type[at]
            )
            node[rows] = np.where(left, self.left_child[at], self.right_child[at])
            rows = rows[node[rows] >= 0]
        return ~node


@dataclass(frozen=True)
class SplitPoints:
    """Where a tree ensemble's splits cut each feature: a row's prediction and TreeSHAP values depend only on
    which side of every threshold each of its values falls, whether it is missing and (for `missing_type` Zero
    splits) whether it is zero. `exact_rows_only`: some split is categorical or some tree is linear, so only
    exactly equal rows are known to share their outputs."""

    thresholds: tuple[NDArray[np.float64], ...]  # per feature: sorted distinct thresholds of its numeric splits
    nan_splits: NDArray[np.bool_]  # per feature: some split sends NaN its own (default) way
    zero_splits: NDArray[np.bool_]  # per feature: some split sends zero its own (default) way
    exact_rows_only: bool
    # per feature: some threshold was dumped at +-JSON_THRESHOLD_LIMIT, so it is not known how the splits treat
    # values of magnitude >= 1e300 (each such value is its own case)
    beyond_limit_unknown: NDArray[np.bool_]


@dataclass(frozen=True)
class Forest:
    """A booster's trees as `dump_model()` describes them, in LightGBM's order (iteration by iteration, within
    an iteration class by class)."""

    trees: tuple[Tree, ...]
    feature_names: tuple[str, ...]
    trees_per_iteration: int  # the number of classes of a multiclass model, else 1
    # Random-forest mode: LightGBM's `predict` averages the trees' outputs, but only after the raw score
    # (src/boosting/gbdt_prediction.cpp, `GBDT::Predict` divides what `PredictRaw` added up).
    average_output: bool

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def has_categorical(self) -> bool:
        return any(tree.categorical.any() for tree in self.trees)

    @property
    def has_linear(self) -> bool:
        return any(tree.linear for tree in self.trees)

    @functools.cached_property
    def split_points(self) -> SplitPoints:
        n_features = self.n_features

        def numeric(field: str, dtype) -> NDArray:  # every numeric split's `field` (a category list is no threshold)
            return np.concatenate([np.empty(0, dtype)] + [getattr(t, field)[~t.categorical] for t in self.trees])

        feature, threshold = numeric("split_feature", np.int64), numeric("threshold", np.float64)
        missing_type = numeric("missing_type", np.int8)
        thresholds = tuple(np.unique(threshold[feature == j]) for j in range(n_features))  # sorted, distinct
        at_limit = np.abs(threshold) == JSON_THRESHOLD_LIMIT  # left clamped by the reader: unknown beyond
        by_feature = np.arange(n_features)
        return SplitPoints(
            thresholds=thresholds,
            nan_splits=np.isin(by_feature, feature[missing_type == MissingType.NAN]),
            zero_splits=np.isin(by_feature, feature[missing_type == MissingType.ZERO]),
            exact_rows_only=self.has_categorical or self.has_linear,
            beyond_limit_unknown=np.isin(by_feature, feature[at_limit]),
        )

    def raw_score(self, features: NDArray) -> NDArray[np.float64]:
        """LightGBM's `predict(features, raw_score=True)` recomputed from the dump, leaf values added in
        LightGBM's order: the check that this reader reads a model as LightGBM predicts with it (numeric,
        non-linear trees; on a feature marked `beyond_limit_unknown`, values within +-1e300)."""
        if self.has_linear:
            raise ValueError("a linear tree's output cannot be recomputed from its leaf values")
        values = as_lightgbm_reads(features)
        k = self.trees_per_iteration
        raw = np.zeros((values.shape[0], k))
        for t, tree in enumerate(self.trees):
            raw[:, t % k] += tree.leaf_value[tree.leaf_of(values)]
        return raw[:, 0] if k == 1 else raw


def _read_tree(info: dict, infinite_at_limit: NDArray[np.bool_]) -> Tree:
    """One `tree_info` entry of `dump_model()`: nodes are nested under `tree_structure`, each split with its
    `split_index`, each leaf with its `leaf_index` (a single-leaf tree's one leaf has none). Per feature,
    `infinite_at_limit`: a threshold dumped as +-JSON_THRESHOLD_LIMIT is +-inf."""
    n_splits = int(info["num_leaves"]) - 1
    split_feature = np.zeros(n_splits, np.int64)
    threshold = np.full(n_splits, np.nan)
    default_left = np.zeros(n_splits, bool)
    missing_type = np.zeros(n_splits, np.int8)
    categorical = np.zeros(n_splits, bool)
    left_child = np.zeros(n_splits, np.int64)
    right_child = np.zeros(n_splits, np.int64)
    leaf_value = np.zeros(n_splits + 1)
    linear = False

    def number(node: dict) -> int:
        return node["split_index"] if "split_index" in node else ~node.get("leaf_index", 0)

    pending = [info["tree_structure"]]  # a stack rather than recursion: a tree may be deeper than Python's limit
    while pending:
        node = pending.pop()
        if "split_index" not in node:
            leaf_value[node.get("leaf_index", 0)] = node["leaf_value"]
            linear = linear or "leaf_coeff" in node
            continue
        i = node["split_index"]
        split_feature[i] = node["split_feature"]
        categorical[i] = node["decision_type"] == "=="
        if not categorical[i]:  # a categorical threshold is a category list such as "1||4"
            threshold[i] = float(node["threshold"])
            if abs(threshold[i]) == JSON_THRESHOLD_LIMIT and infinite_at_limit[split_feature[i]]:
                threshold[i] = math.copysign(math.inf, threshold[i])
        default_left[i] = node["default_left"]
        missing_type[i] = _MISSING_TYPE_NAMES[node["missing_type"]]
        left_child[i], right_child[i] = number(node["left_child"]), number(node["right_child"])
        pending += [node["left_child"], node["right_child"]]
    return Tree(
        split_feature=split_feature,
        threshold=threshold,
        default_left=default_left,
        missing_type=missing_type,
        categorical=categorical,
        left_child=left_child,
        right_child=right_child,
        leaf_value=leaf_value,
        linear=linear,
    )


def read_forest(booster: lgb.Booster) -> Forest:
    """Every tree `booster.predict` uses by default (up to its best iteration, like `dump_model()` itself).
    Thresholds and leaf values are written with 17 significant digits, so they read back bit for bit (a
    threshold beyond +-1e300 as explained at JSON_THRESHOLD_LIMIT)."""
    model = booster.dump_model()
    names = tuple(model["feature_names"])
    ranges = model.get("feature_infos", {})

    def within_limit(name: str) -> bool:  # the feature's training values are all within +-1e300
        info = ranges.get(name, {})
        low, high = float(info.get("min_value", -math.inf)), float(info.get("max_value", math.inf))
        return max(abs(low), abs(high)) < JSON_THRESHOLD_LIMIT

    infinite_at_limit = np.array([within_limit(name) for name in names], dtype=bool)
    return Forest(
        trees=tuple(_read_tree(info, infinite_at_limit) for info in model["tree_info"]),
        feature_names=names,
        trees_per_iteration=int(model["num_tree_per_iteration"]),
        average_output=bool(model.get("average_output", False)),
    )


def split_points(booster: lgb.Booster) -> SplitPoints:
    """The split thresholds of every tree of `booster`, per feature."""
    return read_forest(booster).split_points


# -- the guard ------------------------------------------------------------------------------------------------

# LightGBM versions on which the exactness tests (EXACTNESS_TESTS) passed: the reader above reads their models as
# they predict, and the decision-pattern passes reproduce their predict and pred_contrib. To verify a new one,
# add it here (the tests exercise the fast passes only for listed versions), run those tests, and keep it only
# if they all pass; tests/models/test_lightgbm_trees.py fails while the version pyproject.toml pins is not here.
EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS: tuple[str, ...] = ("4.7.0",)
EXACTNESS_TESTS: tuple[str, ...] = (
    "tests/models/test_lightgbm_trees.py",
    "tests/models/test_pattern_evaluation.py",
    "tests/models/test_explanation_dedup.py",
    "tests/models/test_scoring_and_explanations.py",
)

_log = logging.getLogger(__name__)
_warned_versions: set[str] = set()  # a warning per process and version, not per scored batch


def exactness_verified() -> bool:
    """Whether the installed LightGBM is one the exactness tests passed on. When it is not, the fast passes are
    skipped (LightGBM's own predict and pred_contrib are used: exact, slower) and a warning is logged once."""
    version = lgb.__version__
    if version in EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS:
        return True
    if version not in _warned_versions:
        _warned_versions.add(version)
        _log.warning(
            "LightGBM %s is not among the versions the exactness tests passed on (%s): scores and explanations "
            "come from LightGBM's predict and pred_contrib directly (exact, slower). To verify it, add %r to "
            "EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS in models/lightgbm_trees.py, run `.venv/bin/python -m pytest %s` "
            "and keep the version there only if they all pass.",
            version,
            ", ".join(EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS),
            version,
            " ".join(EXACTNESS_TESTS),
        )
    return False
