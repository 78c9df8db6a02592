"""One `make ui` per DAGSTER_HOME, and no `dagster dev` outliving the launcher that started it.

The process tree `python -m orchestration.ui` builds:

    launcher (make's process group; serves the GDC stand-in from a thread, so the stand-in dies with it)
      └─ watchdog: `python -m orchestration.ui_guard` (its own session)
           └─ dagster dev (its own process group): webserver, daemon, code servers, run workers

Why each piece:
- `dagster dev` left behind keeps its daemon launching runs against the dead stand-in's URL, and a second
  daemon on the same instance makes both fight over sensor ticks. So:
- The launcher keeps the write end of a pipe whose read end only the watchdog holds. The kernel closes it
  when the launcher dies for any reason (SIGKILL included), and the launcher closes it on Ctrl-C, SIGTERM
  or SIGHUP: EOF is the single "stop" the watchdog acts on. It then stops dagster dev as the launcher used
  to (SIGTERM: its orderly shutdown of webserver and daemon), and after a grace period the whole group.
  dagster dev's own children do not notice their parent's death (their shutdown pipes only act on a
  message, not on EOF), hence the group kill.
- dagster dev gets SIGTERM if the watchdog itself dies (PR_SET_PDEATHSIG); what it leaves then carries
  GLIOMA_UI_HOME in its environment and is stopped by the launcher, or by the next launcher (take-over).
- `DAGSTER_HOME/ui.lock` is flock'ed by the launcher and, through an inherited descriptor, by the watchdog:
  it stays locked until the last of both is gone, i.e. until dagster dev is stopped. It records the pids,
  the UI port and the stand-in URL, so a second launcher can say which instance is in the way.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

LOCK_NAME = "ui.lock"
MARKER_ENV = "GLIOMA_UI_HOME"  # set to the resolved DAGSTER_HOME in every process the launcher starts
STOP_MESSAGE = b"stop\n"  # written before an orderly close; plain EOF means the launcher died
TEARDOWN_WAIT_SECONDS = 60.0  # a dead launcher's watchdog needs at most its grace period plus the group kill
_PR_SET_PDEATHSIG = 1


class AlreadyRunning(Exception):
    """Another launcher (or a `dagster dev` not started by one) serves this DAGSTER_HOME."""


# -- the lock file ---------------------------------------------------------------------------------------


def acquire(home: Path, record: dict, wait_for_teardown: float = TEARDOWN_WAIT_SECONDS) -> int:
    """The descriptor of `home/ui.lock`, exclusively flock'ed and holding `record` (the caller's pid, port);
    AlreadyRunning while another launcher lives.

    When the holder's launcher is already dead, its watchdog is stopping dagster dev: wait for that instead
    of refusing, so `make ui` right after a killed one takes over once the old instance is gone.
    """
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_for_teardown
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            write_record(fd, record)  # at once: a third launcher must not take this one for a dead one
            return fd
        except BlockingIOError:
            pass
        holder = read_record(home)
        if _alive(holder.get("launcher_pid"), holder.get("launcher_started")) or time.monotonic() > deadline:
            os.close(fd)
            raise AlreadyRunning(_running_message(home, holder))
        if not announced:
            print(
                f"the previous `make ui` on {home} lost its launcher (pid {holder.get('launcher_pid', '?')}); "
                f"waiting for its watchdog (pid {holder.get('watchdog_pid', '?')}) to stop its dagster dev",
                file=sys.stderr,
                flush=True,
            )
            announced = True
        time.sleep(0.5)


def write_record(fd: int, record: dict) -> None:
    """Rewrite the lock file in place (never replace it: the flock belongs to this inode)."""
    data = json.dumps(record, indent=1).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def read_record(home: Path) -> dict:
    # The holder writes its record right after locking: a reader may catch the file empty or half written.
    for _ in range(10):
        try:
            record = json.loads((home / LOCK_NAME).read_text() or "null")
            if record:
                return record
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return {}


def _alive(pid: int | None, started: float | None) -> bool:
    """`pid` still runs and is the same process (its start time rules out a reused pid)."""
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (
            started is None or abs(process.create_time() - started) < 1.0
        )
    except psutil.Error:
        return False


def _running_message(home: Path, record: dict) -> str:
    daemons = [str(p.pid) for p in ui_processes(home) if _role(p.info["cmdline"] or []) == "dagster-daemon"]
    launcher = record.get("launcher_pid", "?")
    return (
        f"another `make ui` is running on DAGSTER_HOME {home}: launcher pid {launcher}, "
        f"Dagster UI on port {record.get('port', '?')} ({record.get('ui_url', '?')}), "
        f"stand-in {record.get('standin_url', '?')}, dagster-daemon pid {', '.join(daemons) or '?'}.\n"
        f"Stop it first (Ctrl-C in its terminal, or `kill {launcher}`), or pass another --dagster-home."
    )


# -- processes of this home ------------------------------------------------------------------------------


def _same_home(value: str | None, cwd: str, home: Path) -> bool:
    return bool(value) and (Path(cwd) / value).resolve() == home


def _scan():
    """This user's processes with their environment, cwd and command line (others' are unreadable anyway)."""
    import psutil

    uid = os.getuid()
    for process in psutil.process_iter(["pid", "uids", "cmdline"]):
        try:
            if process.info["uids"] is None or process.info["uids"].real != uid or process.pid == os.getpid():
                continue
            yield process, process.environ(), process.cwd()
        except psutil.Error:
            continue


def ui_processes(home: Path) -> list:
    """Every live process a launcher started for `home` (watchdog, dagster dev and all it started)."""
    home = home.resolve()
    return [p for p, env, cwd in _scan() if _same_home(env.get(MARKER_ENV), cwd, home)]


def _role(cmdline: list[str]) -> str | None:
    joined = " ".join(cmdline)
    if "dagster._daemon" in joined or "dagster-daemon" in joined:
        return "dagster-daemon"
    if "dagster_webserver" in joined or "dagster-webserver" in joined:
        return "dagster-webserver"
    if any(Path(arg).name == "dagster" for arg in cmdline[:2]) and "dev" in cmdline:
        return "dagster dev"
    return None


def _port(cmdline: list[str]) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg in ("-p", "--port", "--dagit-port") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("--port="):
            return arg.split("=", 1)[1]
    return None


def foreign_dagster(home: Path) -> list[tuple[int, str, str | None]]:
    """(pid, role, port) of daemons, webservers and `dagster dev`s on `home` that no launcher started: a
    `dagster dev` started by hand, or one left by a launcher from before this guard."""
    home = home.resolve()
    found = []
    for process, env, cwd in _scan():
        role = _role(process.info["cmdline"] or [])
        if role and MARKER_ENV not in env and _same_home(env.get("DAGSTER_HOME"), cwd, home):
            found.append((process.pid, role, _port(process.info["cmdline"])))
    return found


def stop_processes(processes: list, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `grace` seconds."""
    import psutil

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for process in processes:
            try:
                process.send_signal(sig)
            except psutil.Error:
                pass
        _, processes = psutil.wait_procs(processes, timeout=wait)
        if not processes:
            return


# -- the watchdog ----------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM when the parent (the watchdog) dies. Linux only; elsewhere a no-op.

    Only used from the single-threaded watchdog: preexec_fn in the launcher, which runs the stand-in's
    threads, could deadlock the child on a lock held at fork; the pipe covers the launcher instead.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # a reused pgid of someone else's: not ours any more
        return False


def _stop_group(child: subprocess.Popen, grace: float) -> None:
    """SIGTERM dagster dev (its orderly shutdown), then its process group: SIGTERM, and SIGKILL after 5 s."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            child.poll()  # reap dagster dev itself: a zombie still counts as a member of its group
            if not _group_alive(child.pid):
                return
            time.sleep(0.1)


def _say(message: str) -> None:
    try:  # a closed terminal makes stderr unwritable; stopping dagster dev matters more than the message
        print(f"ui watchdog: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass


def watch(pipe_fd: int, command: list[str], grace: float) -> int:
    """Run `command` in its own process group until `pipe_fd` reaches EOF or a signal arrives, then stop
    the group. Returns dagster dev's exit code (0 after a stop this watchdog asked for)."""
    stop: list[str] = []

    def on_signal(signum, _frame):
        stop.append(signal.Signals(signum).name)

    # Handlers before the child exists: a signal from here on stops the group instead of orphaning it.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    launcher = os.getppid()
    child = subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent)
    received = b""
    while not stop and child.poll() is None:
        ready, _, _ = select.select([pipe_fd], [], [], 1.0)
        if ready:
            chunk = os.read(pipe_fd, 64)
            received += chunk
            if not chunk:
                stop.append("stop" if STOP_MESSAGE in received else f"launcher (pid {launcher}) gone")
    if child.poll() is not None:
        _say(f"dagster dev (pid {child.pid}) exited with {child.returncode}; stopping what is left of its group")
        _stop_group(child, grace)
        return child.returncode or 0
    if stop[0] != "stop":
        _say(f"{stop[0]}: stopping dagster dev (pid {child.pid}) and its process group")
    _stop_group(child, grace)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make ui's watchdog: runs COMMAND until the launcher is gone")
    parser.add_argument("--pipe-fd", type=int, required=True, help="read end of the launcher's pipe")
    parser.add_argument("--grace", type=float, default=20.0, help="seconds dagster dev gets to stop on SIGTERM")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    return watch(args.pipe_fd, command, args.grace)


if __name__ == "__main__":
    raise SystemExit(main())
