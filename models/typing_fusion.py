"""Late fusion of the omics blocks for molecular typing, beside the early fusion of models.molecular_typing
(LightGBM on the concatenated blocks), on the same folds.

Blocks: clinical (age, sex, histology, histological grade), genomic (the other markers) and expression (the genes
chosen inside the training fold). One LightGBM per block; a multinomial logistic regression (the stacker) combines
the blocks' log-probabilities, fit on *out-of-fold* block predictions (an inner 3-fold CV inside the training
fold), so it learns how far to trust each block on patients that block's model did not see.

Missing blocks: a patient without expression is scored by the blocks it has, by a second stacker fit on the
clinical and genomic blocks alone (on every training patient), instead of imputing an expression it never had.
Pure: no Dagster, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from contracts.features import MOLECULAR_TYPE_CLASSES

INNER_FOLDS = 3
_FLOOR = 1e-6  # log-probabilities of a block that is certain stay finite


class LateFusionTyping:
    """`set_blocks({"clinical": columns, "genomic": columns, "expression": columns})` before `fit`."""

    def __init__(self, seed: int, block_model: Callable[[int], object]) -> None:
        self.seed = seed
        self.block_model = block_model  # seed -> an unfitted model with fit / predict_proba (one per block)
        self.blocks: dict[str, NDArray[np.intp]] = {}
        self.block_models: dict[str, object] = {}
        self.stackers: dict[tuple[str, ...], LogisticRegression] = {}

    def set_blocks(self, blocks: dict[str, NDArray[np.intp]]) -> LateFusionTyping:
        self.blocks = {name: np.asarray(columns, dtype=np.intp) for name, columns in blocks.items() if len(columns)}
        return self

    def _block_model(self) -> object:
        return self.block_model(self.seed)

    def _has_block(self, features: NDArray, name: str) -> NDArray[np.bool_]:
        if name != "expression":
            return np.ones(features.shape[0], dtype=bool)
        return np.isfinite(features[:, self.blocks[name]]).all(axis=1)

    def fit(self, features: NDArray, label: NDArray) -> LateFusionTyping:
        if not self.blocks:
            raise ValueError("late fusion needs its blocks (set_blocks) before fit")
        n_classes = len(MOLECULAR_TYPE_CLASSES)
        out_of_fold = {name: np.full((features.shape[0], n_classes), np.nan) for name in self.blocks}
        for name, columns in self.blocks.items():
            rows = np.flatnonzero(self._has_block(features, name))
            if rows.size < 2 * INNER_FOLDS or np.unique(label[rows]).size < n_classes:
                continue  # too few patients carry this block to learn from it
            inner = StratifiedKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=self.seed)
            for train, test in inner.split(rows, label[rows]):
                model = self._block_model().fit(features[rows[train]][:, columns], label[rows[train]])
                out_of_fold[name][rows[test]] = model.predict_proba(features[rows[test]][:, columns])
            self.block_models[name] = self._block_model().fit(features[rows][:, columns], label[rows])
        fitted = tuple(name for name in self.blocks if name in self.block_models)
        for pattern in {fitted, tuple(name for name in fitted if name != "expression")}:
            if not pattern:
                continue
            stacked = self._stacked(out_of_fold, pattern)
            rows = np.isfinite(stacked).all(axis=1)
            self.stackers[pattern] = LogisticRegression(C=1.0, max_iter=2000).fit(stacked[rows], label[rows])
        return self

    @staticmethod
    def _stacked(probabilities: dict[str, NDArray], pattern: tuple[str, ...]) -> NDArray:
        return np.hstack([np.log(np.clip(probabilities[name], _FLOOR, 1.0)) for name in pattern])

    def block_probabilities(self, features: NDArray) -> dict[str, NDArray]:
        """Each fitted block model's probabilities; NaN rows where the patient lacks the block."""
        n_classes = len(MOLECULAR_TYPE_CLASSES)
        result = {}
        for name, model in self.block_models.items():
            probability = np.full((features.shape[0], n_classes), np.nan)
            rows = np.flatnonzero(self._has_block(features, name))
            if rows.size:
                probability[rows] = model.predict_proba(features[rows][:, self.blocks[name]])
            result[name] = probability
        return result

    def _stacker_rows(self, per_block: dict[str, NDArray]):
        """(pattern, its stacked inputs, the rows it scores): each patient by the widest stacker whose blocks it
        has — all blocks, else the blocks without expression."""
        done = np.zeros(next(iter(per_block.values())).shape[0], dtype=bool)
        for pattern in sorted(self.stackers, key=len, reverse=True):
            stacked = self._stacked(per_block, pattern)
            rows = ~done & np.isfinite(stacked).all(axis=1)
            done |= rows
            yield pattern, stacked, rows

    def _combine(self, per_block: dict[str, NDArray]) -> NDArray:
        result = np.full((next(iter(per_block.values())).shape[0], len(MOLECULAR_TYPE_CLASSES)), np.nan)
        for pattern, stacked, rows in self._stacker_rows(per_block):
            if rows.any():
                result[rows] = self.stackers[pattern].predict_proba(stacked[rows])
        return result

    def predict_proba(self, features: NDArray) -> NDArray:
        return self._combine(self.block_probabilities(features))

    def block_contributions(self, features: NDArray) -> dict[str, NDArray]:
        """Per block, its share of each patient's stacked logit for the predicted class: the stacker's
        coefficients times the block's log-probabilities (what each omics block moved), NaN where not used."""
        per_block = self.block_probabilities(features)
        predicted = self._combine(per_block).argmax(axis=1)
        n_classes = len(MOLECULAR_TYPE_CLASSES)
        result = {name: np.full(features.shape[0], np.nan) for name in self.block_models}
        for pattern, stacked, rows in self._stacker_rows(per_block):
            coefficients = self.stackers[pattern].coef_  # (classes, blocks x classes)
            for position, name in enumerate(pattern):
                block = slice(position * n_classes, (position + 1) * n_classes)
                weights = coefficients[predicted[rows]][:, block]
                result[name][rows] = (weights * stacked[rows][:, block]).sum(axis=1)
        return result
