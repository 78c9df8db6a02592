"""`make ui`: the Dagster UI against the demo's GDC stand-in, offline, in one command.

    python -m orchestration.ui                      # serve data/bundles/synthetic-1100-seed7 (make demo's)
    python -m orchestration.ui --bundle-root PATH   # another bundle root
    python -m orchestration.ui --live               # the live GDC API: the sensor starts a FULL download

Starts the GDC stand-in on 127.0.0.1 serving the bundle root, then `dagster dev` with GDC_BASE_URL
pointing at it, so the release sensor ticks green at once. Write the next release into the root
(`python -m sandbox.synthetic.next_release --root PATH`) and the running sensor starts its refresh.
Ctrl-C, SIGTERM or SIGHUP to this process stops dagster dev (and everything it started) and the stand-in.

Killed hard (SIGKILL, a crash), it still takes dagster dev with it: a watchdog process stops dagster dev's
process group when this launcher is gone. One instance per DAGSTER_HOME: a second launcher on the same home
exits with code 3 naming the running one's pid and port (DAGSTER_HOME/ui.lock), and stops what a launcher
killed together with its watchdog left behind. See orchestration/ui_guard.py.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gdc.client import LIVE_GDC_BASE_URL
from orchestration import ui_guard

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_BUNDLE = Path("data") / "bundles" / "synthetic-1100-seed7"
STOP_GRACE_SECONDS = 20.0
ALREADY_RUNNING = 3  # exit code when another instance serves the same DAGSTER_HOME


def dagster_dev_command(port: int, host: str = "127.0.0.1") -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)]


def ui_environment(base_url: str, data_dir: Path, dagster_home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GDC_BASE_URL": base_url,
        "GLIOMA_DATA_DIR": str(data_dir.resolve()),
        "DAGSTER_HOME": str(dagster_home.resolve()),
        # Inherited by everything dagster dev starts: how a later launcher recognises this one's orphans.
        ui_guard.MARKER_ENV: str(dagster_home.resolve()),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle-root", type=Path, default=None, help=f"bundle root to serve (default {DEMO_BUNDLE})")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("GLIOMA_DATA_DIR", "data")))
    parser.add_argument("--dagster-home", type=Path, default=Path(os.environ.get("DAGSTER_HOME", ".dagster_home")))
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port on 127.0.0.1")
    parser.add_argument("--standin-port", type=int, default=0, help="stand-in port (default: a free one)")
    parser.add_argument(
        "--live",
        action="store_true",
        help=f"use the live GDC API ({LIVE_GDC_BASE_URL}); the sensor then downloads every glioma case",
    )
    return parser


def run(argv: list[str] | None = None) -> int:
    import psutil

    args = _parser().parse_args(argv)
    home = args.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    record = {
        "launcher_pid": os.getpid(),
        "launcher_started": psutil.Process().create_time(),  # tells this launcher from a later one with its pid
        "port": args.port,
        "ui_url": f"http://127.0.0.1:{args.port}",
        "dagster_home": str(home),
    }
    # First of all, so that a second `make ui` says who is in the way before it binds any port.
    try:
        lock_fd = ui_guard.acquire(home, record)
    except ui_guard.AlreadyRunning as refusal:
        print(refusal, file=sys.stderr)
        return ALREADY_RUNNING
    try:
        return _serve(args, home, lock_fd, record)
    finally:
        os.close(lock_fd)


def _take_over(home: Path) -> bool:
    """Stop what a launcher killed together with its watchdog left on `home`; False if a `dagster dev` that
    no launcher started serves it (stopping someone's hand-started instance is not ours to do)."""
    orphans = ui_guard.ui_processes(home)
    if orphans:
        print(
            f"taking over {home}: stopping {len(orphans)} processes a killed `make ui` left running "
            f"(pids {', '.join(str(p.pid) for p in orphans)})",
            flush=True,
        )
        ui_guard.stop_processes(orphans)
    foreign = ui_guard.foreign_dagster(home)
    if foreign:
        running = ", ".join(f"{role} pid {pid}" + (f" on port {port}" if port else "") for pid, role, port in foreign)
        print(
            f"a Dagster instance that `make ui` did not start is running on DAGSTER_HOME {home}: {running}.\n"
            "Stop it first, or pass another --dagster-home.",
            file=sys.stderr,
        )
    return not foreign


def _serve(args: argparse.Namespace, home: Path, lock_fd: int, record: dict) -> int:
    from sandbox.gdc_standin import GdcStandIn

    if not _take_over(home):
        return ALREADY_RUNNING
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():  # `make ui` copies it; a direct call gets the same instance settings
        instance_yaml.write_text((REPO_ROOT / "orchestration" / "dagster.yaml").read_text())
    standin = None
    if args.live:
        base_url = os.environ.get("GDC_BASE_URL") or LIVE_GDC_BASE_URL
        print(
            f"LIVE GDC API {base_url}: the release sensor will start a full download of TCGA-GBM/LGG "
            "when it sees a release that is not a partition yet.",
            flush=True,
        )
    else:
        bundle_root = (args.bundle_root or args.data_dir / "bundles" / DEMO_BUNDLE.name).resolve()
        if not (bundle_root / "CURRENT").exists() and not (bundle_root / "status.json").exists():
            print(f"no GDC bundle at {bundle_root}: run `make demo` first (or pass --bundle-root)", file=sys.stderr)
            return 2
        standin = GdcStandIn(bundle_root, port=args.standin_port)
        standin.start()
        base_url = standin.base_url
        print(
            f"GDC stand-in serving {bundle_root} at {base_url}\n"
            f"next release: .venv/bin/python -m sandbox.synthetic.next_release --root {bundle_root}",
            flush=True,
        )

    # The watchdog (orchestration/ui_guard.py) runs dagster dev in its own process group and stops that
    # group when this launcher closes the pipe or dies: no dagster dev outlives its stand-in.
    read_fd, write_fd = os.pipe()
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "orchestration.ui_guard", "--pipe-fd", str(read_fd)]
        + ["--grace", str(STOP_GRACE_SECONDS), "--", *dagster_dev_command(args.port)],
        cwd=REPO_ROOT,
        # Its own session: a signal to make's group or a closed terminal reaches this launcher, which stops the
        # UI in order, but never the watchdog, which must outlive a launcher killed with the group.
        start_new_session=True,
        pass_fds=(read_fd, lock_fd),  # lock_fd: the lock stays held until the watchdog has stopped dagster dev
        env=ui_environment(base_url, args.data_dir, home),
    )
    os.close(read_fd)
    ui_guard.write_record(lock_fd, {**record, "standin_url": base_url, "watchdog_pid": watchdog.pid})
    print(f"Dagster UI: http://127.0.0.1:{args.port} (Ctrl-C stops it and the stand-in)", flush=True)

    stopping: list[float] = []  # when a stop was asked for (a signal, or this launcher's own exit)

    def stop(*_ignored) -> None:
        # SIGHUP too: a closed terminal then stops the UI in order instead of leaving it to the watchdog.
        if not stopping:
            stopping.append(time.monotonic())
            try:
                os.write(write_fd, ui_guard.STOP_MESSAGE)
            except OSError:  # the watchdog is gone already
                pass
            os.close(write_fd)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        # The watchdog exits once dagster dev's group is gone: after the grace period plus the group kill.
        while watchdog.poll() is None and not (stopping and time.monotonic() - stopping[0] > STOP_GRACE_SECONDS + 30):
            time.sleep(0.5)
    finally:
        asked = bool(stopping)
        stop()
        try:
            watchdog.wait(timeout=STOP_GRACE_SECONDS + 30)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()
        # Only if the watchdog was killed: dagster dev then got SIGTERM from PR_SET_PDEATHSIG; the rest stops here.
        ui_guard.stop_processes(ui_guard.ui_processes(home), grace=STOP_GRACE_SECONDS)
        if standin is not None:
            standin.stop()
    return 0 if asked else watchdog.returncode


if __name__ == "__main__":
    raise SystemExit(run())
