"""Harmonise (and checks) layer: wall time and peak RSS of each step, each in a fresh process.

    python bench/harmonise_memory.py                                  # 100k lake, both releases, harmonise
    python bench/harmonise_memory.py --checks                         # ... and the quality checks
    python bench/harmonise_memory.py --save /tmp/out-after            # keep every output for a comparison
    python bench/harmonise_memory.py --compare /tmp/out-before /tmp/out-after
    python bench/harmonise_memory.py --in-process                     # every step in ONE process (as Dagster's
                                                                      # in_process_executor): RSS sampled per step

Each step is the asset's own compute function (assets/harmonised.py, assets/checks.py), called with the
partition key and a lake resource, in its own child process, so its peak RSS (VmHWM) is its own plus the
imports (Dagster, polars; printed as `base`). The raw tables come from the benchmark lake
(data/bench/refresh/full-100000, read only: copied into a working lake under /tmp); every
output is written to the working lake with one writer, so a later step reads what an earlier one wrote.
The validation cache is cleared before each check, so every check validates (as in the `full` refresh).

With --in-process all steps run one after the other in one child process, and a thread samples its RSS every
20 ms and charges it to the running step (like bench/refresh.py): what a step leaves behind (memory the
allocators have not returned yet) then shows in the next step's peak, as in a refresh.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

BENCH_LAKE = REPO_ROOT / "data" / "bench" / "refresh" / "full-100000"
RELEASES = ("45.0", "46.0")
HARMONISE_STEPS = ("patients", "markers", "who_cns5", "quarantine")
WRITER = "benchharmonise"


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the child: one step --------------------------------------------------------------------------------


class _Context:
    def __init__(self, release: str, check_keys=()):
        self.partition_key = release
        self.selected_asset_check_keys = set(check_keys)
        self.log = None


def _resource(work: Path):
    from assets.resources import LakeResource
    from lake.store import Lake

    class BenchLake(LakeResource):
        @property
        def lake(self) -> Lake:  # one writer for every step: each reads what the previous ones wrote
            return Lake(self.data_dir, writer=WRITER)

    return BenchLake(data_dir=str(work))


def _compute(definition):
    node = getattr(definition, "op", None) or definition.node_def
    return node.compute_fn.decorated_fn


def _jsonable(value):
    from dagster import MetadataValue

    if isinstance(value, MetadataValue):
        value = value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


_VOLATILE = ("duration_seconds", "path", "validation_seconds", "data_docs_index", "bytes")


def child(work: Path, release: str, step: str, save: Path | None) -> dict:
    import assets.checks as checks
    import assets.harmonised as harmonised

    base = _status_mb("VmRSS")
    if step == "all":  # --in-process: every step of every release here, RSS sampled
        import threading

        samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(_status_mb("VmRSS"))
                stop.wait(0.02)

        threading.Thread(target=sample, daemon=True).start()
        rows = []
        for one_release in release.split(","):
            for one_step in _STEPS_IN_PROCESS:
                first = len(samples)
                row = child(work, one_release, one_step, save)
                row["peak_rss_mb"] = round(max(samples[first:], default=0.0))
                row["end_rss_mb"] = round(_status_mb("VmRSS"))
                rows.append(row)
        stop.set()
        return {"rows": rows}
    lake = _resource(work)
    started = time.perf_counter()
    outputs: list[dict] = []
    if step in HARMONISE_STEPS:
        definition = {
            "patients": harmonised.harmonised_patients,
            "markers": harmonised.harmonised_molecular_markers,
            "who_cns5": harmonised.harmonised_who_cns5_class,
            "quarantine": harmonised.harmonised_quarantine,
        }[step]
        result = _compute(definition)(_Context(release), lake)
        results = list(result) if inspect.isgenerator(result) else [result]
        for materialised in results:
            key = (
                "/".join(materialised.asset_key.path)
                if materialised.asset_key
                else {"who_cns5": "harmonised/who_cns5_class", "quarantine": "harmonised/quarantine"}[step]
            )
            outputs.append(
                {
                    "asset": key,
                    "path": str(materialised.metadata["path"].value),
                    "metadata": _jsonable(materialised.metadata),
                }
            )
    else:
        table = step.removeprefix("check:")
        shutil.rmtree(work / "reports" / "_validation_cache", ignore_errors=True)
        if table == "reconcile":
            definition, keys = checks.raw_cases_reconcile, ()
        else:
            definition = next(
                c
                for c in checks.build_all_quality_checks()
                if "/".join(next(iter(c.check_keys)).asset_key.path) == table
            )
            keys = definition.check_keys
        result = _compute(definition)(_Context(release, keys), lake)
        results = list(result) if inspect.isgenerator(result) else [result]
        for check in results:
            outputs.append(
                {
                    "asset": f"{table}:{check.check_name or 'reconcile'}",
                    "passed": check.passed,
                    "metadata": _jsonable(check.metadata),
                }
            )
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    if save is not None:
        target = save / release
        target.mkdir(parents=True, exist_ok=True)
        for output in outputs:
            name = output["asset"].replace("/", ".").replace(":", "--")
            if "path" in output:
                shutil.copyfile(output["path"], target / f"{name}.parquet")
            metadata = {k: v for k, v in output["metadata"].items() if k not in _VOLATILE}
            (target / f"{name}.json").write_text(
                json.dumps({**output, "metadata": metadata}, indent=1, sort_keys=True, default=str)
            )
        if not step.startswith("check:"):
            pass
        else:
            table = step.removeprefix("check:")
            results_file = work / "reports" / release / "checks" / f"{table.replace('/', '.')}.json"
            if results_file.exists():
                shutil.copyfile(results_file, target / f"{table.replace('/', '.')}--check_results.json")
    return {
        "release": release,
        "step": step,
        "seconds": round(seconds, 2),
        "base_mb": round(base),
        "peak_rss_mb": round(peak),
    }


# -- the parent -------------------------------------------------------------------------------------------


def _working_lake(source: Path, work: Path) -> None:
    """A fresh working lake holding a copy of the raw tables and the manifest (the source is never written)."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "lake").mkdir(parents=True)
    shutil.copyfile(source / "lake" / "_manifest.json", work / "lake" / "_manifest.json")
    shutil.copytree(source / "lake" / "raw", work / "lake" / "raw")


_STEPS_IN_PROCESS: list[str] = []


def _steps(args: argparse.Namespace) -> list[str]:
    steps = list(HARMONISE_STEPS)
    if args.checks:
        from quality.tables import QUALITY_TABLES

        steps += [f"check:{table}" for table in QUALITY_TABLES] + ["check:reconcile"]
    if args.only:
        steps = [s for s in steps if s in args.only.split(",")]
    return steps


def run(args: argparse.Namespace) -> list[dict]:
    work = Path(args.work)
    _working_lake(Path(args.lake), work)
    steps = _steps(args)
    rows = []
    if args.in_process:
        command = [
            sys.executable,
            __file__,
            "--child",
            "all",
            "--steps",
            ",".join(steps),
            "--release",
            args.releases,
            "--work",
            str(work),
        ] + (["--save", args.save] if args.save else [])
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit("in-process run failed")
        rows = json.loads(done.stdout.strip().splitlines()[-1])["rows"]
        for row in rows:
            print(
                f"{row['release']}  {row['step']:40s} {row['seconds']:7.2f} s  peak {row['peak_rss_mb']:6d} MB  "
                f"(after the step {row['end_rss_mb']} MB)",
                flush=True,
            )
    for release in args.releases.split(",") if not args.in_process else ():
        for step in steps:
            command = [sys.executable, __file__, "--child", step, "--release", release, "--work", str(work)]
            if args.save:
                command += ["--save", args.save]
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
            if done.returncode != 0:
                sys.stderr.write(done.stderr)
                raise SystemExit(f"step {step} of {release} failed")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{release}  {step:40s} {row['seconds']:7.2f} s  peak {row['peak_rss_mb']:6d} MB  "
                f"(base {row['base_mb']} MB)",
                flush=True,
            )
    print(f"max peak: {max(r['peak_rss_mb'] for r in rows)} MB; total {sum(r['seconds'] for r in rows):.1f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def compare(before: Path, after: Path) -> bool:
    """Every output of `before` equals the one of `after` (frames: same rows in the same order, same types)."""
    import polars as pl

    same = True
    names = sorted(
        {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
        | {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    )
    for name in names:
        a, b = before / name, after / name
        if not a.exists() or not b.exists():
            print(f"MISSING  {name} ({'before' if not a.exists() else 'after'})")
            same = False
            continue
        if name.suffix == ".parquet":
            left, right = pl.read_parquet(a), pl.read_parquet(b)
            equal = left.schema == right.schema and left.equals(right)
            detail = f"{left.height} rows"
        else:
            left, right = json.loads(a.read_text()), json.loads(b.read_text())
            for payload in (left, right):
                payload.pop("path", None)
            equal, detail = left == right, "json"
        print(f"{'same    ' if equal else 'DIFFERENT'} {name} ({detail})")
        same &= equal
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=str(BENCH_LAKE), help="data dir holding the raw tables (read only)")
    parser.add_argument("--work", default="/tmp/harmonise-memory-lake", help="working data dir (recreated)")
    parser.add_argument("--releases", default=",".join(RELEASES))
    parser.add_argument("--checks", action="store_true", help="also run every quality check")
    parser.add_argument("--only", help="comma-separated steps (patients,markers,who_cns5,quarantine,check:<table>)")
    parser.add_argument("--save", help="copy every output (tables, check metadata) here")
    parser.add_argument("--keep", action="store_true", help="keep the working lake")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--in-process", action="store_true", help="every step in one process (module docstring)")
    parser.add_argument("--child")
    parser.add_argument("--steps", help=argparse.SUPPRESS)
    parser.add_argument("--release")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(0 if compare(Path(args.compare[0]), Path(args.compare[1])) else 1)
    if args.child:
        _STEPS_IN_PROCESS.extend((args.steps or "").split(","))
        row = child(Path(args.work), args.release, args.child, Path(args.save) if args.save else None)
        print(json.dumps(row))
        return
    rows = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
