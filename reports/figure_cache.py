"""Reuse a report figure whose inputs did not change instead of drawing it again.

A release's report is drawn by every job that changes what it shows (refresh, training, expression analyses), and
most of its figures are the same each time: a training run that keeps the champion changes none, the expression
job changes none of the model figures. Drawing costs ~0.5 s of CPU per figure (matplotlib layout and rasterising).

`reuse_or_draw(plot, *args, path=..., **kwargs)` digests the plot function's name, every argument but `path` (the
values of frames and arrays, not their identity), the source of the reports package and of the project modules its
plots compute with, and the versions of the drawing and numeric libraries. A figure is reused only when `path` holds
the very PNG an earlier call with the same digest wrote (its SHA-256 is kept with the digest), so a figure
overwritten since, or by another process, is drawn again. An argument of a type this module cannot digest means the
figure is always drawn. The record of each figure is `<figure directory>/.figure_inputs/<figure file>.json`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lake.files import temporary_file
from reports import COMPUTED_WITH_LIBRARIES, code_modules
from reports.plot_common import PlotResult
from reports.report import publish_file

INPUTS_DIRECTORY = ".figure_inputs"


class _Undigestable(TypeError):
    pass


@functools.cache
def _code_version() -> bytes:
    """The source of the reports package and of the project modules its plots compute with, and the versions of the
    libraries they draw and compute with (read from the installed metadata: nothing is imported for it)."""
    digest = hashlib.sha256()
    for library in COMPUTED_WITH_LIBRARIES:
        digest.update(f"{library} {importlib.metadata.version(library)};".encode())
    for module in code_modules():
        digest.update(module.encode())
        digest.update(Path(importlib.util.find_spec(module).origin).read_bytes())
    return digest.digest()


def _feed(digest: Any, value: Any) -> None:
    """Add `value` to `digest`, tagged by kind so that different values never feed the same bytes."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        digest.update(f"scalar:{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, pl.Series):
        _feed(digest, value.to_frame())
    elif isinstance(value, pl.DataFrame):
        buffer = io.BytesIO()
        value.rechunk().write_ipc(buffer, compression="uncompressed")  # schema and values
        digest.update(f"frame:{buffer.tell()};".encode())
        digest.update(buffer.getvalue())
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            digest.update(f"objects:{value.shape};".encode())
            for item in value.ravel().tolist():
                _feed(digest, item)
        else:
            digest.update(f"array:{value.dtype.str}:{value.shape};".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}:{len(value)};".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        digest.update(f"dict:{len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    else:
        raise _Undigestable(type(value).__name__)


def inputs_digest(plot: Callable[..., PlotResult], args: tuple, kwargs: dict[str, Any]) -> str | None:
    """The digest of one figure's inputs, or None when an argument cannot be digested."""
    digest = hashlib.sha256(_code_version())
    digest.update(f"{plot.__module__}.{plot.__qualname__};".encode())
    try:
        _feed(digest, args)
        _feed(digest, kwargs)
    except Exception:  # _Undigestable, or a frame Arrow cannot hold (an Object column): draw, never fail
        return None
    return digest.hexdigest()


def _record_path(path: Path) -> Path:
    return path.parent / INPUTS_DIRECTORY / f"{path.name}.json"


def reused_figure(path: Path, digest: str) -> PlotResult | None:
    """The figure at `path` when it was drawn from inputs with this digest and has not been overwritten since."""
    try:
        record = json.loads(_record_path(path).read_text(encoding="utf-8"))
        if record.get("inputs") != digest:
            return None
        if hashlib.sha256(path.read_bytes()).hexdigest() != record.get("png_sha256"):
            return None
    except (OSError, ValueError):
        return None
    return PlotResult(path, record.get("figures") or {})


def reuse_or_draw(plot: Callable[..., PlotResult], *args: Any, path: Path, **kwargs: Any) -> tuple[PlotResult, bool]:
    """`plot(*args, path=path, **kwargs)`, or the figure an identical call already wrote; (result, reused)."""
    path = Path(path)
    digest = inputs_digest(plot, args, kwargs)
    if digest is None:
        return plot(*args, path=path, **kwargs), False
    reused = reused_figure(path, digest)
    if reused is not None:
        return reused, True
    # Drawn privately, then published with the record of these very bytes: a PNG that another run of the report
    # writes to `path` meanwhile is never taken for this one (its SHA-256 differs from the record's).
    private = temporary_file(path)
    try:
        result = plot(*args, path=private, **kwargs)
        data = Path(result.path).read_bytes()
    finally:
        private.unlink(missing_ok=True)
    publish_file(data, path)
    record = {"inputs": digest, "png_sha256": hashlib.sha256(data).hexdigest(), "figures": result.figures}
    target = _record_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    publish_file(json.dumps(record, sort_keys=True).encode("utf-8"), target)
    return PlotResult(path, result.figures), False
