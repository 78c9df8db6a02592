"""End-to-end refresh benchmark: wall time and peak RSS per layer, at 1,100 / 10,000 / 100,000 cases.

    python bench/refresh.py                       # 1,100 and 10,000 cases
    python bench/refresh.py --cases 100000        # TCGA x 100

For each cohort a synthetic root (45.0; 46.0 with 5% of cases changed) is served by the stand-in in its own
process (its peak RSS is reported). Each run below is a child process running one Dagster job in process
(in_process_executor, as in `dagster dev`); a sampler thread reads the child's RSS every 50 ms and charges
it to the step running then, so every layer gets its wall time and its peak RSS:

  train      45.0 refresh + train_challengers in a training lake: the champions (training reported apart)
  full       45.0 refresh in a fresh lake holding only those champions: ingest, harmonise, checks, features,
             scores, prospective validation, catalog, report — nothing cached
  no-op      the same refresh again: nothing changed
  5%         46.0 refresh: a release with 5% of cases changed, scored by the champions

Next to them: the bare fetch loop of bench/ingest.py (same requests, only json.loads) for the ingest ratio;
a bare LightGBM predict of the same model-matrix rows plus a Parquet write, against the two score steps;
and an analyst query on the patient view (median of 30 over a read-only connection).
Results also go to data/bench/refresh-<cases>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH))

LAYER_OF_GROUP = {
    "raw": "ingest",
    "harmonised": "harmonise",
    "features": "features",
    "scores": "score",
    "models": "score",
    "warehouse": "publish",
    "reports": "publish",
    "gdc_release": "ingest",
}
LAYERS = ("ingest", "harmonise", "checks", "features", "score", "publish")


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the child: one job, in process, with an RSS sampler ---------------------------------------------------


def child(base_url: str, data_dir: str, release: str, job: str) -> dict:
    from dagster import DagsterEventType, DagsterInstance

    from assets.partitions import gdc_releases
    from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
    from orchestration.definitions import build_definitions

    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.time(), _rss_mb(os.getpid())))
            stop.wait(0.05)

    threading.Thread(target=sample, daemon=True).start()
    defs = build_definitions(
        {
            "gdc": GdcApiResource(base_url=base_url, page_size=5000),
            "lake": LakeResource(data_dir=data_dir),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(n_splits=3, n_repeats=1, survival_baselines=False),
        }
    )
    instance = DagsterInstance.get()  # $DAGSTER_HOME of the cohort: later runs see which runs succeeded
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    started = time.time()
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=release,
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    finished = time.time()
    stop.set()
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
        raise SystemExit(f"{job} {release} failed: {failed}")
    steps: dict[str, dict] = {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        step = steps.setdefault(event.step_key, {"layer": None})
        if event.event_type == DagsterEventType.STEP_START:
            step["start"] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_SKIPPED):
            step["end"] = record.timestamp
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION and step["layer"] is None:
            group = event.asset_key.path[0]
            step["layer"] = LAYER_OF_GROUP.get(group, group)
    layers = {layer: {"seconds": 0.0, "peak_rss_mb": 0.0} for layer in LAYERS}
    for key, step in steps.items():
        if "start" not in step or "end" not in step:
            continue
        layer = step["layer"] or ("checks" if key.endswith("expectations") or "check" in key else "publish")
        layer = "score" if key.startswith("models__prospective") else layer
        layers.setdefault(layer, {"seconds": 0.0, "peak_rss_mb": 0.0})
        layers[layer]["seconds"] += step["end"] - step["start"]
        window = [rss for at, rss in samples if step["start"] <= at <= step["end"]]
        layers[layer]["peak_rss_mb"] = max(layers[layer]["peak_rss_mb"], max(window, default=0.0))
        step["seconds"] = step["end"] - step["start"]
    return {
        "job": job,
        "release": release,
        "seconds": finished - started,
        "peak_rss_mb": max((rss for _, rss in samples), default=0.0),
        "layers": layers,
        "score_steps": {
            k: round(v["seconds"], 3)
            for k, v in steps.items()
            if k in ("scores__grading", "scores__survival_risk") and "seconds" in v
        },
    }


def child_bare_predict(data_dir: str, release: str) -> dict:
    """What scoring must cost at least: each champion booster's predict over the same model-matrix rows (the
    three tasks the two score steps serve), each written as a Parquet file."""
    import lightgbm as lgb
    import polars as pl

    from contracts.tables import FEATURES_MODEL_MATRIX
    from lake.store import Lake
    from models.grading import GBM_VS_LGG, WHO_GRADE
    from models.registry import MODEL_FILE, current_champion
    from models.registry_store import registry_connection
    from models.survival import SURVIVAL_RISK

    root = Path(data_dir)
    with registry_connection(root / "model_registry.duckdb") as connection:
        entries = [current_champion(connection, task) for task in (GBM_VS_LGG, WHO_GRADE, SURVIVAL_RISK)]
    boosters = [lgb.Booster(model_file=str(root / "models" / e.model_version / MODEL_FILE)) for e in entries if e]
    started = time.perf_counter()
    matrix = Lake(root).read_table(FEATURES_MODEL_MATRIX, release)
    for index, booster in enumerate(boosters):
        X = matrix.select(booster.feature_name()).cast(pl.Float64).to_numpy()
        prediction = booster.predict(X)
        columns = {"case_id": matrix["case_id"]}
        columns.update(
            {f"p{k}": prediction.reshape(len(X), -1)[:, k] for k in range(prediction.reshape(len(X), -1).shape[1])}
        )
        pl.DataFrame(columns).write_parquet(root / f".bare-predict-{index}.parquet", compression="zstd")
    return {"seconds": time.perf_counter() - started, "models": len(boosters), "rows": matrix.height}


def child_query(data_dir: str) -> dict:
    import duckdb

    catalog = str(Path(data_dir) / "warehouse.duckdb")
    connect_started = time.perf_counter()
    connection = duckdb.connect(catalog, read_only=True)
    connect = time.perf_counter() - connect_started
    ids = [
        r[0]
        for r in connection.execute(
            "select submitter_id from analytics.patient_overview using sample 30 rows"
        ).fetchall()
    ]
    sql = "select * from analytics.patient_overview where submitter_id = ?"
    connection.execute(sql, [ids[0]]).fetchall()  # warm-up: first read of the footers
    times = []
    for submitter in ids:
        began = time.perf_counter()
        connection.execute(sql, [submitter]).fetchall()
        times.append(time.perf_counter() - began)
    return {
        "median_ms": statistics.median(times) * 1000,
        "max_ms": max(times) * 1000,
        "connect_ms": connect * 1000,
        "queries": len(times),
    }


# -- the parent --------------------------------------------------------------------------------------------


def _run_child(*args: str, home: Path | None = None) -> dict:
    env = {**os.environ, **({"DAGSTER_HOME": str(home)} if home else {})}
    completed = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env
    )
    if completed.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench(cases: int, work: Path, reuse_training: bool = False) -> dict:
    import ingest as ingest_bench
    from rescoring import build_root

    root = work / f"root-{cases}"
    started = time.monotonic()
    build_root(root, cases)
    print(f"{cases} cases: bundle root ready in {time.monotonic() - started:.0f}s", flush=True)
    port = ingest_bench._free_port()
    (root / "CURRENT").write_text("45.0\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gdc_standin", "--bundle-root", str(root), "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    runs: dict[str, dict] = {}
    try:
        ingest_bench._wait_for(base_url)
        train_dir, full_dir = work / f"train-{cases}", work / f"full-{cases}"
        train_home, full_home = work / f"home-train-{cases}", work / f"home-full-{cases}"
        for directory in (train_dir, full_dir, train_home, full_home):
            shutil.rmtree(directory, ignore_errors=True)
            if "home" in directory.name:
                directory.mkdir(parents=True)
                shutil.copy(REPO_ROOT / "orchestration" / "dagster.yaml", directory / "dagster.yaml")
        champions = work / f"champions-{cases}"
        previous = work / f"refresh-{cases}.json"
        if reuse_training and (champions / "model_registry.duckdb").exists() and previous.exists():
            # Training is reported apart and does not depend on the refresh code being measured.
            earlier = json.loads(previous.read_text())["runs"]
            runs["train_refresh"], runs["train"] = earlier["train_refresh"], earlier["train"]
            runs["train"]["reused_from"] = str(previous)
            print(f"  champions reused from {champions} (training {runs['train']['seconds']:.1f}s, measured before)")
        else:
            runs["train_refresh"] = _run_child(
                "job", base_url, str(train_dir), "45.0", "refresh_gdc_release", home=train_home
            )
            runs["train"] = _run_child("job", base_url, str(train_dir), "45.0", "train_challengers", home=train_home)
            print(f"  champions trained (3x1 CV): {runs['train']['seconds']:.1f}s", flush=True)
            shutil.rmtree(champions, ignore_errors=True)
            champions.mkdir(parents=True)
            shutil.copytree(train_dir / "models", champions / "models")
            shutil.copy(train_dir / "model_registry.duckdb", champions / "model_registry.duckdb")
        full_dir.mkdir(parents=True)
        shutil.copytree(champions / "models", full_dir / "models")
        shutil.copy(champions / "model_registry.duckdb", full_dir / "model_registry.duckdb")
        _run_child("bare", base_url)  # warm the stand-in's caches so neither contender pays the bundle load
        runs["bare_loop"] = _run_child("bare", base_url)
        runs["full"] = _run_child("job", base_url, str(full_dir), "45.0", "refresh_gdc_release", home=full_home)
        print(f"  full refresh: {runs['full']['seconds']:.1f}s", flush=True)
        runs["noop"] = _run_child("job", base_url, str(full_dir), "45.0", "refresh_gdc_release", home=full_home)
        (root / "CURRENT").write_text("46.0\n")
        runs["five_percent"] = _run_child("job", base_url, str(full_dir), "46.0", "refresh_gdc_release", home=full_home)
        runs["bare_predict"] = _run_child("predict", str(full_dir), "46.0")
        runs["query"] = _run_child("query", str(full_dir))
        standin_mb = _hwm_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    score_seconds = sum(runs["five_percent"]["score_steps"].values())
    result = {
        "cases": cases,
        "runs": runs,
        "standin_peak_rss_mb": standin_mb,
        "ingest_ratio": runs["full"]["layers"]["ingest"]["seconds"] / runs["bare_loop"]["seconds"],
        "scoring_ratio": score_seconds / runs["bare_predict"]["seconds"],
    }
    (work / f"refresh-{cases}.json").write_text(json.dumps(result, indent=1))
    return result


def report(results: list[dict]) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(
        f"\nmachine: {os.cpu_count()} cores ({cpu}), {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB"
    )
    print("wall seconds / peak RSS MB per layer (full = first refresh of a release, training apart):")
    header = f"{'cases':>7} | {'run':<12} | " + " | ".join(f"{layer:>15}" for layer in LAYERS) + " | total s | peak MB"
    print(header)
    for result in results:
        for name in ("full", "noop", "five_percent", "train"):
            run = result["runs"][name]
            cells = " | ".join(
                f"{run['layers'][layer]['seconds']:6.1f}s {run['layers'][layer]['peak_rss_mb']:6.0f}MB"
                for layer in LAYERS
            )
            print(f"{result['cases']:>7} | {name:<12} | {cells} | {run['seconds']:7.1f} | {run['peak_rss_mb']:7.0f}")
    print(
        "\ncases | ingest / bare loop | scoring / bare predict+write | patient query median (max) ms | stand-in peak MB"
    )
    for result in results:
        query = result["runs"]["query"]
        print(
            f"{result['cases']:>5} | {result['ingest_ratio']:18.2f} | {result['scoring_ratio']:28.2f} | "
            f"{query['median_ms']:10.1f} ({query['max_ms']:.1f}) | {result['standin_peak_rss_mb']:.0f}"
        )
    print(
        "goals (2 cores): 100,000 cases end to end <= 240 s, peak RSS <= 3,072 MB; ingest <= 1.2x; "
        "scoring <= 1.5x; query <= 50 ms; stand-in <= 2,048 MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, nargs="*", default=[1100, 10_000])
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "data" / "bench" / "refresh")
    parser.add_argument(
        "--reuse-training",
        action="store_true",
        help="use the champions (and training figures) of the previous run of this cohort size",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "job":
            outcome = child(*rest)
        elif kind == "bare":
            import ingest as ingest_bench

            outcome = ingest_bench.child_bare_loop(*rest)
        elif kind == "predict":
            outcome = child_bare_predict(*rest)
        else:
            outcome = child_query(*rest)
        print(json.dumps(outcome))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    report([bench(cases, args.work, args.reuse_training) for cases in args.cases])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
