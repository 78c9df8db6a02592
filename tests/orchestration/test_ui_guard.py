"""`make ui` cleans up after itself (orchestration/ui_guard.py), with real processes throughout.

- A launcher killed with SIGKILL takes its watchdog, `dagster dev`, the webserver, the daemon, the code
  servers and any run worker with it.
- A second launcher on the same DAGSTER_HOME refuses while the first lives (exit 3, naming the first's
  launcher pid, UI port and daemon pid); when the first's launcher and watchdog are both gone, it stops
  what they left running and starts normally.
The first tests use a stand-in command instead of dagster dev and take seconds; the `slow` ones start the
real `python -m orchestration.ui` (what `make ui` runs) and take about a minute each on two cores.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import requests

from orchestration import ui_guard

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE_TIMEOUT = 240  # dagster dev loading the definitions on a busy two-core machine
GONE_TIMEOUT = 90  # the watchdog's grace period (20 s) plus the group kill, with room for a loaded machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env() -> dict[str, str]:
    # The launcher decides these itself; a value from the calling shell must not leak into the test.
    skip = ("GDC_BASE_URL", "GLIOMA_DATA_DIR", "DAGSTER_HOME", ui_guard.MARKER_ENV)
    return {key: value for key, value in os.environ.items() if key not in skip}


def _kill_everything(home: Path, *processes: subprocess.Popen) -> None:
    """Test cleanup, also after a failure: every process a launcher started for `home`, and the launchers."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # started with start_new_session: its group is its own
        process.wait(timeout=30)
    home = home.resolve()
    # By DAGSTER_HOME as well as by the launcher's marker: also right when the code under test is broken.
    leftovers = [
        process
        for process, env, cwd in ui_guard._scan()
        if any(ui_guard._same_home(env.get(name), cwd, home) for name in ("DAGSTER_HOME", ui_guard.MARKER_ENV))
    ]
    for leftover in leftovers:
        try:
            leftover.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(leftovers, timeout=30)


def _lock_is_free(home: Path) -> bool:
    fd = os.open(home / ui_guard.LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


# -- the watchdog and the lock, without dagster ----------------------------------------------------------

# Stands in for dagster dev: ignores SIGTERM (as a dagster dev waiting for runs may take its time), and
# starts a child that ignores it too and a grandchild that does not. All pids go to argv[1].
STUBBORN_GROUP = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "p = subprocess.Popen(['sleep', '300']); open(%r + '.grandchild', 'w').write(str(p.pid)); time.sleep(300)"
        % sys.argv[1]])
    open(sys.argv[1], "w").write(f"{child.pid}")
    time.sleep(300)
    """
)

# Stands in for the launcher: the pipe and the watchdog exactly as orchestration/ui.py sets them up.
LAUNCHER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    read_fd, write_fd = os.pipe()
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "orchestration.ui_guard", "--pipe-fd", str(read_fd), "--grace", "1", "--",
         sys.executable, "-c", sys.argv[1], sys.argv[2]],
        pass_fds=(read_fd,), start_new_session=True)
    os.close(read_fd)
    print(watchdog.pid, flush=True)
    time.sleep(300)
    """
)


def _wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_watchdog_kills_the_whole_group_when_its_launcher_is_sigkilled_even_if_it_ignores_sigterm(tmp_path):
    pids_file = tmp_path / "pids"
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, STUBBORN_GROUP, str(pids_file)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watched: list[psutil.Process] = []
    try:
        watchdog = psutil.Process(int(launcher.stdout.readline()))
        grandchild_file = Path(f"{pids_file}.grandchild")
        _wait_for(lambda: grandchild_file.exists() and grandchild_file.read_text(), 30, "the stand-in group")
        dev = watchdog.children()[0]
        watched = [
            watchdog,
            dev,
            psutil.Process(int(pids_file.read_text())),
            psutil.Process(int(grandchild_file.read_text())),
        ]
        assert os.getpgid(dev.pid) == dev.pid != os.getpgid(watchdog.pid)  # dagster dev's own group

        started = time.monotonic()
        launcher.kill()
        launcher.wait(timeout=10)
        _, alive = psutil.wait_procs(watched, timeout=30)
        took = time.monotonic() - started
        assert not alive, [p.cmdline() for p in alive]
        assert took < 15, f"grace 1 s + group SIGTERM 5 s + SIGKILL should take ~6 s, took {took:.1f}s"
        assert "gone: stopping dagster dev" in launcher.stderr.read()  # the watchdog's, on the shared stderr
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for process in watched:
            try:
                process.kill()
            except psutil.Error:
                pass


def _hold_lock(home: Path, record: dict, seconds: float) -> subprocess.Popen:
    """Another process holding `home/ui.lock` for `seconds` with `record` in it (as a running launcher does)."""
    script = textwrap.dedent(
        """
        import fcntl, json, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, sys.argv[2].encode())
        print("locked", flush=True)
        time.sleep(float(sys.argv[3]))
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(home / ui_guard.LOCK_NAME), json.dumps(record), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _launcher(home: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.ui", "--dagster-home", str(home), *extra],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_second_launcher_refuses_while_the_lock_holder_lives_and_names_its_pid_and_port(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    holder = _hold_lock(home, {}, 60)
    try:
        me = psutil.Process(holder.pid)
        record = {"launcher_pid": me.pid, "launcher_started": me.create_time(), "port": 4321}
        (home / ui_guard.LOCK_NAME).write_text(json.dumps(record))
        started = time.monotonic()
        second = _launcher(home, "--bundle-root", str(tmp_path / "no-bundle"))
        assert second.returncode == 3, second.stderr
        assert f"launcher pid {holder.pid}" in second.stderr and "port 4321" in second.stderr, second.stderr
        assert time.monotonic() - started < 30  # refuses at once, without starting anything
    finally:
        holder.kill()
        holder.wait()


def test_second_launcher_waits_while_a_dead_launchers_watchdog_stops_dagster_dev_then_starts(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"launcher_pid": int(gone.stdout), "watchdog_pid": 12345, "port": 4321}
    holder = _hold_lock(home, record, 3)  # the "watchdog" releasing the lock once its group is gone
    try:
        second = _launcher(home, "--bundle-root", str(tmp_path / "no-bundle"))
        assert "waiting for its watchdog (pid 12345)" in second.stderr, second.stderr
        # Past the guard: it got as far as looking for the bundle.
        assert second.returncode == 2 and "no GDC bundle" in second.stderr, second.stderr
        taken = json.loads((home / ui_guard.LOCK_NAME).read_text())
        assert taken["launcher_pid"] != record["launcher_pid"] and "watchdog_pid" not in taken, taken
    finally:
        holder.kill()
        holder.wait()


def test_second_launcher_refuses_a_dagster_daemon_it_did_not_start_on_the_same_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # A process shaped like a hand-started `dagster-daemon run` on this home (argv and DAGSTER_HOME are
    # all the guard looks at): starting a real one is the slow tests' business.
    daemon = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "dagster._daemon", "run"],
        env={**_env(), "DAGSTER_HOME": str(home)},
    )
    try:
        second = _launcher(home, "--bundle-root", str(tmp_path / "no-bundle"))
        assert second.returncode == 3, second.stderr
        assert f"dagster-daemon pid {daemon.pid}" in second.stderr, second.stderr
        assert daemon.poll() is None  # not ours to stop
    finally:
        daemon.kill()
        daemon.wait()


# -- the real launcher and dagster dev -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_root(tmp_path_factory) -> Path:
    from sandbox.synthetic import CohortSpec, write_bundle

    root = tmp_path_factory.mktemp("ui_guard_bundle") / "synthetic-40"
    write_bundle(root, CohortSpec(n_cases=40, seed=3))
    return root


def _start_ui(bundle_root: Path, home: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.ui", "--bundle-root", str(bundle_root)]
        + ["--data-dir", str(home.parent / "data"), "--dagster-home", str(home), "--port", str(port)],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # as a terminal's `make ui` is in a group apart from the test runner's
    )


def _serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).ok
    except requests.RequestException:
        return False


def _wait_serving(port: int, launcher: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVE_TIMEOUT
    while not _serving(port):
        assert launcher.poll() is None, f"launcher exited with {launcher.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (
            f"dagster dev not serving after {SERVE_TIMEOUT}s:\n{log.read_text()[-3000:]}"
        )
        time.sleep(1)


def _roles(processes: list[psutil.Process]) -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = {}
    for process in processes:
        try:
            role = ui_guard._role(process.cmdline())
        except psutil.Error:
            continue
        found.setdefault(role or "other", []).append(process)
    return found


@pytest.mark.slow
def test_sigkilled_launcher_takes_dagster_dev_and_all_its_children_with_it(bundle_root, tmp_path):
    home, port, log = tmp_path / "home", _free_port(), tmp_path / "ui.log"
    launcher = _start_ui(bundle_root, home, port, log)
    try:
        _wait_serving(port, launcher, log)
        processes = psutil.Process(launcher.pid).children(recursive=True)
        roles = _roles(processes)
        assert {"dagster dev", "dagster-webserver", "dagster-daemon"} <= roles.keys(), roles

        started = time.monotonic()
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=10)
        _, alive = psutil.wait_procs(processes, timeout=GONE_TIMEOUT)
        took = time.monotonic() - started
        assert not alive, [(p.pid, p.cmdline()[:4]) for p in alive]
        # Also what started after the snapshot above (a run worker for the sensor's refresh).
        assert ui_guard.ui_processes(home) == []
        assert not _serving(port)
        assert _lock_is_free(home)
        assert "launcher (pid" in log.read_text()
        print(f"all {len(processes)} processes gone {took:.1f}s after the SIGKILL")
    finally:
        _kill_everything(home, launcher)


@pytest.mark.slow
def test_second_launcher_refuses_while_the_first_lives_and_takes_over_once_its_launcher_is_gone(bundle_root, tmp_path):
    home = tmp_path / "home"
    first_port, second_port = _free_port(), _free_port()
    first = _start_ui(bundle_root, home, first_port, tmp_path / "first.log")
    second = None
    try:
        _wait_serving(first_port, first, tmp_path / "first.log")
        first_processes = psutil.Process(first.pid).children(recursive=True)
        daemon = _roles(first_processes)["dagster-daemon"][0]

        refused = _launcher(
            home, "--bundle-root", str(bundle_root), "--data-dir", str(tmp_path / "data"), "--port", str(second_port)
        )
        assert refused.returncode == 3, refused.stdout + refused.stderr
        for expected in (f"launcher pid {first.pid}", f"port {first_port}", f"dagster-daemon pid {daemon.pid}"):
            assert expected in refused.stderr, refused.stderr
        assert not _serving(second_port) and _serving(first_port)

        # The worst case: launcher, watchdog and dagster dev itself killed at once (kill -9 of all three).
        # The webserver, the daemon and the code servers notice nothing and keep going.
        roles = _roles(first_processes)
        watchdog = psutil.Process(first.pid).children()[0]
        for process in (first, watchdog, roles["dagster dev"][0]):
            os.kill(process.pid, signal.SIGKILL)
        first.wait(timeout=10)
        time.sleep(2)
        orphans = roles["dagster-daemon"] + roles["dagster-webserver"]
        assert all(p.is_running() for p in orphans), "the orphans this test is about"
        print(f"orphaned daemon and webserver running; the old UI answering: {_serving(first_port)}")

        started = time.monotonic()
        second_log = tmp_path / "second.log"
        second = _start_ui(bundle_root, home, second_port, second_log)
        _wait_serving(second_port, second, second_log)
        print(f"second launcher serving {time.monotonic() - started:.1f}s after it started")
        assert "taking over" in second_log.read_text()
        _, alive = psutil.wait_procs(first_processes, timeout=5)
        assert not alive, [(p.pid, p.cmdline()[:4]) for p in alive]
        assert not _serving(first_port)
        record = json.loads((home / ui_guard.LOCK_NAME).read_text())
        assert record["launcher_pid"] == second.pid and record["port"] == second_port

        # And its orderly stop leaves nothing either.
        second_processes = psutil.Process(second.pid).children(recursive=True)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=GONE_TIMEOUT) == 0
        _, alive = psutil.wait_procs(second_processes, timeout=10)
        assert not alive and ui_guard.ui_processes(home) == []
        assert _lock_is_free(home)
    finally:
        _kill_everything(home, first, *([second] if second else []))
