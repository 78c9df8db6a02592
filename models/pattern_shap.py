"""A tree ensemble's predictions and TreeSHAP contributions for a large cohort at close to the cost of one
prediction.

A tree's output and its TreeSHAP values for a row depend only on which way the row goes at each of that tree's
splits (its *decision pattern* in that tree), and a tree with 8-31 leaves sees a few hundred to a few thousand
patterns among 100,000 patients even when nearly every patient is unique over the whole ensemble. So LightGBM
evaluates each tree once per pattern present (`predict(..., start_iteration=t, num_iteration=1)` on one row per
pattern) and compiled loops (numba) spread the results over the patients:

- raw scores are the leaf values summed in LightGBM's own order (iteration by iteration, per class), so they
  are bit-identical to `booster.predict(features, raw_score=True)`;
- contributions are each tree's `pred_contrib` summed in another order than LightGBM's, so they may differ
  from it in the last bits. `rounding_bound` bounds that; `models.explain` uses the sums only where the bound
  cannot change the top contributions (order, sign, zero) and the exact `pred_contrib` for the other rows.

The splits that define the patterns are read by `models.lightgbm_trees`, whose `exactness_verified` decides
whether this pass runs at all (`models.explain.Evaluation`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from models.lightgbm_trees import JSON_THRESHOLD_LIMIT, Forest, Tree, goes_left

_EPS = float(np.finfo(np.float64).eps)
_DENSE_TABLE_LIMIT = 1 << 22  # key spaces up to this size are indexed directly, larger ones hashed


@functools.cache
def _kernels() -> SimpleNamespace:
    """The compiled loops, compiled (or loaded from numba's on-disk cache where the package directory is
    writable) on first use: processes that never score do not import numba."""
    import numba

    def jit(function):
        try:
            return numba.njit(cache=True, nogil=True)(function)
        except RuntimeError:  # no writable cache location: compile in each process
            return numba.njit(nogil=True)(function)

    return SimpleNamespace(
        tree_patterns=jit(_tree_patterns),
        ordered_sum=jit(_ordered_sum),
        restrict=jit(_restrict),
        add_trees=jit(_add_trees),
    )


def rounding_bound(trees: Sequence[Tree]) -> float:
    """An upper bound on |pattern sum - LightGBM's pred_contrib| for any entry. TreeSHAP computes a leaf's share
    of a contribution in O(depth^2) floating-point steps on weights in [0, 1], depth < leaves, so each tree's
    value is within 8 L^3 eps max|leaf| of exact (a factor 8 to spare); summing T tree values of magnitude at
    most L max|leaf| adds T eps L max|leaf| each. Both results are that close to the exact sum."""
    n_trees = len(trees)
    per_side = sum(_EPS * tree.max_abs_leaf * (8 * tree.num_leaves**3 + n_trees * tree.num_leaves) for tree in trees)
    return 2 * per_side


def _tree_patterns(codes, features, scaled_luts, dense, table, slot_keys, pattern, keys):
    """Each row's pattern number in one tree (first-seen order, written to `pattern`) and one row per pattern.
    `codes`: (n_features, n_rows) decision-signature codes; a row's key in the tree is
    sum_j scaled_luts[j, code of feature j] (computed feature by feature into `keys`). With `dense` the key
    indexes `table` directly, otherwise it is hashed into it (open addressing on `slot_keys`). Both scratch
    tables are all -1 on entry and are left so."""
    n_rows = codes.shape[1]
    keys[:n_rows] = 0
    for j in range(features.shape[0]):
        column = codes[features[j]]
        lut = scaled_luts[j]
        for row in range(n_rows):
            keys[row] += lut[column[row]]
    representative = np.empty(n_rows, np.int64)
    used_slots = np.empty(n_rows, np.int64)
    count = 0
    bits = 0
    while (1 << bits) < slot_keys.shape[0]:
        bits += 1
    mask = slot_keys.shape[0] - 1
    for row in range(n_rows):
        key = keys[row]
        if dense:
            slot = key
        else:
            slot = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
            while slot_keys[slot] != -1 and slot_keys[slot] != key:
                slot = (slot + 1) & mask
            slot_keys[slot] = key
        found = table[slot]
        if found < 0:
            found = count
            table[slot] = count
            representative[count] = row
            used_slots[count] = slot
            count += 1
        pattern[row] = found
    for p in range(count):
        table[used_slots[p]] = -1
        if not dense:
            slot_keys[used_slots[p]] = -1
    return representative[:count]


def _ordered_sum(patterns, leaf_values, offsets, outputs, raw, start, stop):
    """raw[row, outputs[t]] += leaf value of the row's pattern in tree t, tree after tree (LightGBM's order),
    for rows start..stop."""
    for t in range(patterns.shape[0]):
        output = outputs[t]
        base = offsets[t]
        for row in range(start, stop):
            raw[row, output] += leaf_values[base + patterns[t, row]]


def _restrict(pattern, rows, count):
    """The patterns of one tree present among `rows`: each pattern's number among them (-1 when absent) and one
    row per present pattern."""
    local = np.full(count, -1, np.int32)
    representative = np.empty(min(count, rows.shape[0]), np.int64)
    found = 0
    for r in range(rows.shape[0]):
        p = pattern[rows[r]]
        if local[p] < 0:
            local[p] = found
            representative[found] = rows[r]
            found += 1
    return local, representative[:found]


def _add_trees(
    total, patterns, rows, all_rows, trees, feature_ptr, features, local_ptr, local, value_ptr, values, start, stop
):
    """total[feature, r] += the value of tree t (for t in `trees`, one tree after the other: its values stay in
    cache) for the pattern of row rows[r] (of row r when `all_rows`), for r in start..stop. Tree t splits on
    features[feature_ptr[t]:feature_ptr[t + 1]]; its value for its j-th feature and pattern p is
    values[value_ptr[t] + p * (its number of features) + j] (a pattern's values side by side), with p
    renumbered by local[local_ptr[t] + p] unless `all_rows`."""
    for i in range(trees.shape[0]):
        t = trees[i]
        first, width = feature_ptr[t], feature_ptr[t + 1] - feature_ptr[t]
        base, local_base = value_ptr[t], local_ptr[t]
        for r in range(start, stop):
            if all_rows:
                at = base + patterns[t, r] * width
            else:
                at = base + local[local_base + patterns[t, rows[r]]] * width
            for j in range(width):
                total[features[first + j], r] += values[at + j]


@dataclass(frozen=True)
class PatternContributions:
    values: NDArray[np.float64]  # (n_rows, n_features), bias dropped
    bound: float  # |values - pred_contrib| <= bound


@dataclass(frozen=True)
class _TreeKey:
    """How one tree's decision pattern of a row is read from the row's signature codes."""

    features: NDArray[np.int64]  # the features it splits on (none for a single leaf)
    scaled_luts: NDArray[np.int64]  # (features, codes): a code's decision class in the tree times its stride
    space: int  # number of possible keys


def _decision_classes(decisions: NDArray[np.bool_], tree_of_node: NDArray[np.int64], n_trees: int) -> NDArray:
    """For one feature: `decisions` (codes, nodes) = which way each code goes at each node splitting on it,
    `tree_of_node` = the tree (column) of each node. Returns (codes, n_trees): a code's class in each tree, codes
    of one class going the same way at every node of that tree on this feature, numbered densely from 0."""
    n_codes, n_nodes = decisions.shape
    position = np.zeros(n_nodes, dtype=np.int64)  # bit of a node within its tree's nodes on this feature
    order = np.argsort(tree_of_node, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(tree_of_node[order]) != 0])
    position[order] = np.arange(n_nodes) - np.repeat(starts, np.diff(np.r_[starts, n_nodes]))
    if position.max(initial=0) < 52:  # float64 matrix product: sums of distinct powers below 2^52 are exact
        bits = np.zeros((n_nodes, n_trees))
        bits[np.arange(n_nodes), tree_of_node] = np.exp2(position)
        packed = decisions.astype(np.float64) @ bits
    elif position.max() < 63:
        bits = np.zeros((n_nodes, n_trees), dtype=np.int64)
        bits[np.arange(n_nodes), tree_of_node] = np.int64(1) << position
        packed = decisions.astype(np.int64) @ bits
    else:
        raise OverflowError("more than 62 splits on one feature in one tree")
    by_value = np.argsort(packed, axis=0, kind="stable")
    ordered = np.take_along_axis(packed, by_value, axis=0)
    ranks_ordered = np.zeros(packed.shape, dtype=np.int64)
    ranks_ordered[1:] = np.cumsum(ordered[1:] != ordered[:-1], axis=0)
    classes = np.empty_like(ranks_ordered)
    np.put_along_axis(classes, by_value, ranks_ordered, axis=0)
    return classes


def _tree_keys(trees: Sequence[Tree], features: NDArray, codes: NDArray[np.int64]) -> list[_TreeKey] | None:
    n_rows, n_features = features.shape
    width = int(codes.max()) + 1 if codes.size else 1
    n_trees = len(trees)
    # Every split of every tree, side by side.
    tree_of_node = np.repeat(np.arange(n_trees), [tree.split_feature.size for tree in trees])

    def joined(field: str, dtype) -> NDArray:
        return np.concatenate([np.empty(0, dtype)] + [getattr(tree, field) for tree in trees])

    split_feature = joined("split_feature", np.int64)
    threshold, default_left = joined("threshold", np.float64), joined("default_left", bool)
    missing_type = joined("missing_type", np.int8)
    # Per feature: one row per code present (its split decisions are those of any row that has it), and the
    # code's class in every tree.
    present: dict[int, NDArray[np.int64]] = {}
    classes: dict[int, NDArray[np.int64]] = {}
    for feature in np.unique(split_feature):
        first = np.full(width, -1, np.int64)
        first[codes[::-1, feature]] = np.arange(n_rows - 1, -1, -1)
        present[feature] = np.flatnonzero(first >= 0)
        at = np.flatnonzero(split_feature == feature)
        decisions = goes_left(
            features[first[present[feature]], feature][:, None],
            threshold[at][None, :],
            default_left[at][None, :],
            missing_type[at][None, :],
        )
        try:
            classes[feature] = _decision_classes(decisions, tree_of_node[at], n_trees)
        except OverflowError:
            return None
    keys = []
    for t, tree in enumerate(trees):
        split_features = np.unique(tree.split_feature)
        luts = np.zeros((split_features.size, width), np.int64)
        radices = []
        for j, feature in enumerate(split_features):
            local = classes[feature][:, t]
            luts[j, present[feature]] = local
            radices.append(int(local.max()) + 1)
        space = math.prod(radices)
        if space >= 2**63:
            return None
        strides = np.array([math.prod(radices[:j]) for j in range(len(radices))], dtype=np.int64)
        keys.append(_TreeKey(split_features, luts * strides[:, None], space))
    return keys


def _in_threads(function, shares: list) -> list:
    if len(shares) == 1:
        return [function(shares[0])]
    with ThreadPoolExecutor(len(shares)) as pool:
        return list(pool.map(function, shares))


class PatternEvaluation:
    """A model evaluated on a cohort tree by tree and pattern by pattern: `raw_score` (bit-identical to
    `booster.predict(features, raw_score=True)`), then `contributions` on demand. `build` returns None for a
    model this does not cover (categorical splits, linear trees, random-forest averaging, huge key spaces)."""

    def __init__(
        self,
        model_text: str,
        features: NDArray,
        trees: Sequence[Tree],
        keys: list[_TreeKey],
        codes: NDArray[np.int64],
        n_outputs: int,
        workers: int,
    ):
        self._model_text, self._features, self._trees, self._keys = model_text, features, trees, keys
        self._n_outputs, self._workers = n_outputs, workers
        n_rows = features.shape[0]
        largest = int(codes.max()) if codes.size else 0
        self._codes = np.ascontiguousarray(  # narrow codes: the key loops read them once per tree
            codes.T, dtype=np.uint8 if largest < 2**8 else np.uint16 if largest < 2**16 else np.int64
        )
        kernels = _kernels()
        # Pattern numbers are below min(rows, key space) in each tree: int16 when that is below 2^15.
        narrow = all(min(n_rows, key.space) <= 2**15 for key in keys)
        self._patterns = np.empty((len(trees), n_rows), dtype=np.int16 if narrow else np.int32)
        self._representatives: list[NDArray[np.int64]] = [np.empty(0, np.int64)] * len(trees)
        leaf_values: list[NDArray[np.float64]] = [np.empty(0)] * len(trees)

        def evaluate(share: list[int]) -> None:
            booster = lgb.Booster(model_str=model_text)  # LightGBM keeps a prediction's iteration range in it
            slot_keys = np.full(1 << max(1, (2 * n_rows - 1).bit_length()), -1, np.int64)
            table = np.full(max(_DENSE_TABLE_LIMIT, slot_keys.size), -1, np.int32)
            row_keys = np.empty(n_rows, np.int64)
            for t in share:
                key = keys[t]
                rows = kernels.tree_patterns(
                    self._codes,
                    key.features,
                    key.scaled_luts,
                    key.space <= table.size,
                    table,
                    slot_keys,
                    self._patterns[t],
                    row_keys,
                )
                leaves = booster.predict(
                    features[rows], raw_score=True, start_iteration=t // n_outputs, num_iteration=1, num_threads=1
                )
                self._representatives[t] = rows
                leaf_values[t] = np.ascontiguousarray(leaves.reshape(len(rows), n_outputs)[:, t % n_outputs])

        _in_threads(evaluate, self._shares())
        offsets = np.cumsum([0] + [len(v) for v in leaf_values[:-1]]).astype(np.int64)
        outputs = np.arange(len(trees), dtype=np.int64) % n_outputs
        flat = np.concatenate(leaf_values) if trees else np.empty(0)
        raw = np.zeros((n_rows, n_outputs))
        cuts = np.linspace(0, n_rows, workers + 1).astype(np.int64)
        _in_threads(
            lambda w: kernels.ordered_sum(self._patterns, flat, offsets, outputs, raw, cuts[w], cuts[w + 1]),
            list(range(workers)),
        )
        self.raw_score = raw[:, 0] if n_outputs == 1 else raw

    @classmethod
    def build(
        cls, booster: lgb.Booster, features: NDArray, codes: NDArray[np.int64], forest: Forest, *, workers: int = 2
    ) -> PatternEvaluation | None:
        """`codes`: `models.explain.decision_signature` of `features` (LightGBM's reading of them); `forest`:
        `models.lightgbm_trees.read_forest(booster)`."""
        if forest.average_output or forest.has_categorical or forest.has_linear or not forest.trees:
            return None  # LightGBM averages the trees, or a tree's output is not fixed by its decision pattern
        beyond = forest.split_points.beyond_limit_unknown
        if (np.abs(features[:, beyond]) >= JSON_THRESHOLD_LIMIT).any():
            return None  # a value past a threshold the dump clamped: which way it goes is unknown
        keys = _tree_keys(forest.trees, features, codes)
        if keys is None:
            return None
        return cls(booster.model_to_string(), features, forest.trees, keys, codes, forest.trees_per_iteration, workers)

    def _shares(self) -> list[list[int]]:
        return [share for w in range(self._workers) if (share := list(range(w, len(self._trees), self._workers)))]

    def contributions(self, predicted_class: NDArray | None = None) -> PatternContributions:
        """Per-feature contributions to the raw score (towards each row's `predicted_class` for a multiclass
        model), within `bound` of `pred_contrib`."""
        n_rows, n_features = self._features.shape
        k = self._n_outputs
        kernels = _kernels()
        if k == 1:
            class_rows = [np.arange(n_rows, dtype=np.int64)]
        else:
            predicted_class = np.asarray(predicted_class, dtype=np.int64)
            class_rows = [np.flatnonzero(predicted_class == c).astype(np.int64) for c in range(k)]
        n_trees = len(self._trees)
        tree_values: list[NDArray[np.float64]] = [np.empty(0)] * n_trees
        tree_local: list[NDArray[np.int32]] = [np.empty(0, np.int32)] * n_trees
        n_values = np.zeros(n_trees, dtype=np.int64)

        def explain(share: list[int]) -> None:
            booster = lgb.Booster(model_str=self._model_text)  # one per thread, as in __init__
            for t in share:
                key, rows = self._keys[t], class_rows[t % k]
                if key.features.size == 0 or rows.size == 0:
                    continue
                if k == 1:
                    representative = self._representatives[t]
                else:
                    tree_local[t], representative = kernels.restrict(
                        self._patterns[t], rows, self._representatives[t].size
                    )
                # One iteration's pred_contrib: each of its k trees adds into its own class's block of
                # n_features + 1 columns, which starts at zero, so the block of tree t's class holds tree t's
                # values alone, bit for bit (what a one-class model of that tree would give, for k-1 trees more).
                values = booster.predict(
                    self._features[representative],
                    start_iteration=t // k,
                    num_iteration=1,
                    pred_contrib=True,
                    num_threads=1,
                )
                block = (t % k) * (n_features + 1)
                tree_values[t] = np.ascontiguousarray(values[:, block + key.features]).reshape(-1)
                n_values[t] = representative.size

        _in_threads(explain, self._shares())
        kept = [self._keys[t].features if n_values[t] else np.empty(0, np.int64) for t in range(n_trees)]
        feature_ptr = np.cumsum([0] + [f.size for f in kept]).astype(np.int64)
        features = np.concatenate(kept).astype(np.int64)
        value_ptr = np.cumsum([0] + [v.size for v in tree_values[:-1]]).astype(np.int64)
        local_ptr = np.cumsum([0] + [m.size for m in tree_local[:-1]]).astype(np.int64)
        values, local = np.concatenate(tree_values), np.concatenate(tree_local).astype(np.int32)
        total = np.zeros((n_features, n_rows))
        for c, rows in enumerate(class_rows):
            # A class's totals are added up compactly (its rows side by side), then put in place.
            trees = np.arange(c, n_trees, k, dtype=np.int64)
            part = total if k == 1 else np.zeros((n_features, rows.size))
            cuts = np.linspace(0, rows.size, self._workers + 1).astype(np.int64)
            _in_threads(
                lambda w, part=part, rows=rows, trees=trees, cuts=cuts: kernels.add_trees(
                    part,
                    self._patterns,
                    rows,
                    k == 1,
                    trees,
                    feature_ptr,
                    features,
                    local_ptr,
                    local,
                    value_ptr,
                    values,
                    cuts[w],
                    cuts[w + 1],
                ),
                list(range(self._workers)),
            )
            if k > 1:
                total[:, rows] = part
        bound = max(rounding_bound(self._trees[c::k]) for c in range(k))
        return PatternContributions(values=np.ascontiguousarray(total.T), bound=bound)
