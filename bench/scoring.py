"""Scoring benchmark: the two score steps (models/scoring.py) against a bare LightGBM predict + Parquet write of
the same rows, before and after the scoring speed-ups, at 100,000 patients.

    python bench/scoring.py                  # data/bench/refresh/full-100000: 45.0 -> 46.0 (5% of cases changed)
    python bench/scoring.py --skip-before    # only the current code (the old one takes minutes at 100,000)
    python bench/scoring.py --rows 20000     # the first 20,000 patients of each release

Each score step is timed as the asset runs it: read the model matrix, hash it (the reuse record), read the
earlier scores (and, for the next release, the previous matrix), score, write the partition. Cases:

  bare      the three champion boosters' `predict` over the release's rows, each written as Parquet
            (bench/refresh.py `child_bare_predict`)
  before    the scoring code of `--before-rev` (git, read-only): plain `pred_contrib` over every row and
            all classes, sentences row by row; its rows are compared with the current code's (bit for bit)
  full      current code, nothing to reuse (the first scoring of a release by a model); best of --repeat runs,
            as the bare loop is the best of 3
  no-op     the same release again, same models: every row reused
  next      46.0 after 45.0 was scored: unchanged patients reused, the others scored

The lake is only read; scores are written under a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

BASE_REV = "51c5ceb"  # the commit before deduplicated TreeSHAP and reuse


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _load_before(rev: str) -> types.ModuleType:
    """models.scoring (and the models.explain it uses) as of `rev`, as modules beside the current ones."""

    def source(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=REPO_ROOT, check=True, capture_output=True, text=True
        ).stdout

    explain = types.ModuleType("bench_before_explain")
    sys.modules[explain.__name__] = explain
    exec(compile(source("models/explain.py"), f"{rev}:models/explain.py", "exec"), explain.__dict__)
    scoring = types.ModuleType("bench_before_scoring")
    sys.modules[scoring.__name__] = scoring
    text = source("models/scoring.py").replace("from models.explain import", "from bench_before_explain import")
    exec(compile(text, f"{rev}:models/scoring.py", "exec"), scoring.__dict__)
    return scoring


def _champions(data_dir: Path, work: Path):
    from models.grading import GBM_VS_LGG, WHO_GRADE
    from models.pipeline import load_model
    from models.registry import current_champion, read_model_artifacts, read_training_rows
    from models.registry_store import registry_connection
    from models.survival import SURVIVAL_RISK

    registry = work / "model_registry.duckdb"  # a copy: the benchmark lake is not touched
    shutil.copy(data_dir / "model_registry.duckdb", registry)
    champions = {}
    with registry_connection(registry, read_only=True) as connection:
        for task in (GBM_VS_LGG, WHO_GRADE, SURVIVAL_RISK):
            entry = current_champion(connection, task)
            text, metadata = read_model_artifacts(data_dir / "models", entry.model_version)
            rows = read_training_rows(data_dir / "models", entry.model_version)
            champions[task] = (entry, load_model(task, text, metadata), metadata, rows["case_id"].to_list())
    return champions


def _grading_kwargs(champions) -> dict:
    from models.conformal import ConformalCalibrator

    def conformal(metadata):
        return ConformalCalibrator.from_json(json.dumps(metadata["conformal"])) if metadata.get("conformal") else None

    gbm_entry, gbm, gbm_metadata, gbm_rows = champions["grading_gbm_vs_lgg"]
    grade_entry, grade, grade_metadata, grade_rows = champions["grading_who_grade"]
    return dict(
        gbm_model=gbm,
        model_version=gbm_entry.model_version,
        grade_model=grade,
        grade_model_version=grade_entry.model_version,
        training_case_ids=gbm_rows,
        grade_training_case_ids=grade_rows,
        conformal=conformal(gbm_metadata),
        grade_conformal=conformal(grade_metadata),
    )


def _survival_kwargs(champions) -> dict:
    entry, model, _, rows = champions["survival_risk"]
    return dict(model=model, model_version=entry.model_version, training_case_ids=rows)


def bare_predict(matrix_path: Path, champions, out: Path) -> float:
    import polars as pl

    boosters = [champions[task][1].booster for task in champions]
    started = time.perf_counter()
    matrix = pl.read_parquet(matrix_path)
    for index, booster in enumerate(boosters):
        X = matrix.select(booster.feature_name()).cast(pl.Float64).to_numpy()
        prediction = booster.predict(X).reshape(len(X), -1)
        columns = {"case_id": matrix["case_id"], **{f"p{k}": prediction[:, k] for k in range(prediction.shape[1])}}
        pl.DataFrame(columns).write_parquet(out / f"bare-{index}.parquet", compression="zstd")
    return time.perf_counter() - started


def score_step(
    kind: str,
    release: str,
    matrix_path: Path,
    champions,
    out: Path,
    *,
    scoring=None,
    earlier_scores: Path | None = None,
    earlier_matrix: Path | None = None,
) -> dict:
    """One score step as the asset runs it; `scoring` = the module to score with (default: current)."""
    import polars as pl

    import models.scoring as current
    from lake.integrity import content_hash
    from lake.writes import write_parquet_atomic
    from models.scoring import EarlierScores, ScoringInputs, scoring_code_version

    scored_at = datetime.now(UTC)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    matrix = pl.read_parquet(matrix_path)
    earlier = []
    if scoring is None:
        ScoringInputs(content_hash(matrix), scoring_code_version())
        if earlier_scores is not None:
            source_matrix = matrix if earlier_matrix is None else pl.read_parquet(earlier_matrix)
            if earlier_matrix is not None:
                content_hash(source_matrix)  # the asset checks the previous matrix against the record
            earlier = [EarlierScores(pl.read_parquet(earlier_scores), source_matrix)]
    timings["read"] = time.perf_counter() - started
    began = time.perf_counter()
    if kind == "grading":
        kwargs = _grading_kwargs(champions)
        if scoring is None:
            result = current.rescore_grading(matrix, release=release, scored_at=scored_at, earlier=earlier, **kwargs)
        else:
            result = scoring.score_grading(matrix, release=release, scored_at=scored_at, **kwargs)
    else:
        kwargs = _survival_kwargs(champions)
        if scoring is None:
            result = current.rescore_survival(matrix, release=release, scored_at=scored_at, earlier=earlier, **kwargs)
        else:
            result = scoring.score_survival(matrix, release=release, scored_at=scored_at, **kwargs)
    scores = result.scores if scoring is None else result
    timings["score"] = time.perf_counter() - began
    began = time.perf_counter()
    target = out / f"{kind}-{release}-{'before' if scoring else 'after'}-{time.time_ns()}.parquet"
    write_parquet_atomic(scores.sort(["model_version", "case_id"]), target)
    timings["write"] = time.perf_counter() - began
    timings["total"] = time.perf_counter() - started
    reused = result.reused if scoring is None else {}
    return {"seconds": timings, "reused": reused, "rows": scores.height, "path": str(target), "frame": scores}


def _identical(a, b) -> bool:
    import numpy as np
    import polars as pl

    a, b = a.drop("scored_at").sort("case_id"), b.drop("scored_at").sort("case_id")
    if a.schema != b.schema or not a.equals(b, null_equal=True):
        return False
    return all(
        np.array_equal(a[c].to_numpy().view(np.uint64), b[c].to_numpy().view(np.uint64))
        for c, dtype in a.schema.items()
        if dtype == pl.Float64
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "bench" / "refresh" / "full-100000")
    parser.add_argument("--previous", default="45.0")
    parser.add_argument("--release", default="46.0")
    parser.add_argument("--rows", type=int, default=None, help="only the first N patients of each release")
    parser.add_argument("--before-rev", default=BASE_REV)
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="full score runs (the best is compared)")
    args = parser.parse_args(argv)

    import polars as pl

    from contracts.tables import FEATURES_MODEL_MATRIX
    from lake.store import Lake

    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    try:
        lake = Lake(args.data)
        matrices = {}
        for release in (args.previous, args.release):
            frame = lake.read_table(FEATURES_MODEL_MATRIX, release)
            if args.rows:
                frame = frame.head(args.rows)
            matrices[release] = work / f"matrix-{release}.parquet"
            frame.write_parquet(matrices[release], compression="zstd")
        champions = _champions(args.data, work)
        rows = pl.read_parquet(matrices[args.release]).height
        print(
            f"{rows} patients, release {args.release} (previous {args.previous}); champions: "
            + ", ".join(entry.model_version for entry, *_ in champions.values()),
            flush=True,
        )

        results: dict[str, dict] = {}
        bare_predict(matrices[args.release], champions, work)  # warm-up (file cache, LightGBM threads)
        results["bare"] = {"total": min(bare_predict(matrices[args.release], champions, work) for _ in range(3))}
        print(f"bare predict+write (3 models): {results['bare']['total']:.2f}s", flush=True)

        runs = {}
        for kind in ("grading", "survival"):
            # Like the bare loop, the best of --repeat runs (the first also loads the compiled loops from disk).
            full = [score_step(kind, args.release, matrices[args.release], champions, work) for _ in range(args.repeat)]
            print(
                f"after  full   {kind:<9} runs: " + ", ".join(f"{run['seconds']['total']:.2f}s" for run in full),
                flush=True,
            )
            runs[("full", kind)] = min(full, key=lambda run: run["seconds"]["total"])
            runs[("no-op", kind)] = score_step(
                kind,
                args.release,
                matrices[args.release],
                champions,
                work,
                earlier_scores=Path(runs[("full", kind)]["path"]),
            )
            previous = score_step(kind, args.previous, matrices[args.previous], champions, work)
            runs[("next", kind)] = score_step(
                kind,
                args.release,
                matrices[args.release],
                champions,
                work,
                earlier_scores=Path(previous["path"]),
                earlier_matrix=matrices[args.previous],
            )
            for case in ("full", "no-op", "next"):
                run = runs[(case, kind)]
                print(
                    f"after  {case:<6} {kind:<9} {run['seconds']['total']:7.2f}s  "
                    f"(read {run['seconds']['read']:.2f} score {run['seconds']['score']:.2f} "
                    f"write {run['seconds']['write']:.2f}; reused {run['reused']})",
                    flush=True,
                )
            assert _identical(runs[("no-op", kind)]["frame"], runs[("full", kind)]["frame"])
            assert _identical(runs[("next", kind)]["frame"], runs[("full", kind)]["frame"])
        if not args.skip_before:
            before = _load_before(args.before_rev)
            for kind in ("grading", "survival"):
                runs[("before", kind)] = score_step(
                    kind, args.release, matrices[args.release], champions, work, scoring=before
                )
                same = _identical(runs[("before", kind)]["frame"], runs[("full", kind)]["frame"])
                print(
                    f"before        {kind:<9} {runs[('before', kind)]['seconds']['total']:7.2f}s  "
                    f"(score {runs[('before', kind)]['seconds']['score']:.2f}); rows identical to after: {same}",
                    flush=True,
                )
                runs[("before", kind)]["identical_to_after"] = same

        bare = results["bare"]["total"]
        print(f"\n{rows} patients, 2 score steps vs bare predict+write {bare:.2f}s (goal: <= 1.5x):")
        for case in ("before", "full", "no-op", "next"):
            if (case, "grading") not in runs:
                continue
            total = runs[(case, "grading")]["seconds"]["total"] + runs[(case, "survival")]["seconds"]["total"]
            print(
                f"  {case:<7} grading {runs[(case, 'grading')]['seconds']['total']:7.2f}s + survival "
                f"{runs[(case, 'survival')]['seconds']['total']:6.2f}s = {total:7.2f}s  ({total / bare:5.1f}x)"
            )
        print(f"peak RSS {_peak_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        summary = {
            f"{case}/{kind}": {k: v for k, v in run.items() if k != "frame"} for (case, kind), run in runs.items()
        }
        print(json.dumps({"rows": rows, "bare": bare, "runs": summary}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
