#!/usr/bin/env bash
# CPU-seconds the whole machine spent while a command ran (every process: also the servers, daemons and forked runs
# a test starts in their own sessions, which `time` does not count), and the wall time. The suite is CPU-bound on
# two cores, so this is the figure that tells whether a change to the tests or the pipeline made it cheaper.
#   bench/machine_cpu.sh make test
#   bench/machine_cpu.sh .venv/bin/python -m pytest tests/orchestration/test_ui_browser.py
# Run it on an otherwise idle machine: it counts what everything else does meanwhile too.
set -uo pipefail
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
ticks=$(getconf CLK_TCK)
before=$(busy); started=$(date +%s.%N)
"$@"; code=$?
after=$(busy); ended=$(date +%s.%N)
awk -v b="$before" -v a="$after" -v t="$ticks" -v s="$started" -v e="$ended" -v c="$code" \
    'BEGIN {printf "machine CPU %.0f s, wall %.0f s, exit %d\n", (a-b)/t, e-s, c}' >&2
exit "$code"
