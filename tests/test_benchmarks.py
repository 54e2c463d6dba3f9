"""benchmarks/speed.py runs end to end, in its smallest mode, against a real install.sh install
of this working tree, and gives every row of its table: a scenario that stops answering (or
makes an API call on what should be the hot path) fails here, not on the day the figures are
wanted.  The figures themselves are not asserted: they are measurements, not tests.

The install is kept in .venv/bench-install and reused only while the working tree's files are
byte for byte the ones it was made from; after a change install.sh upgrades it in place."""

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import measure, table
from benchmarks.homes import Scenario

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / ".venv" / "bench-install"


def test_the_benchmark_runs_every_scenario_against_the_installed_credhelper(tmp_path):
    figures_file = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--rounds", "1", "--warmup",
         "0", "--tokens", "1000", "--no-callgrind", "--working-tree", "--install",
         str(INSTALL), "--reuse", "--json", str(figures_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(figures_file.read_text())
    assert list(figures) == [row.key for row in table.rows(1000)]
    assert all(row["wall_ms"] > 0 for row in figures.values())
    assert "API calls while measuring: 0\n" in done.stdout
    # the interpreter measured is install.sh's venv, and the table names every scenario
    venv_python = INSTALL / "home" / ".local" / "share" / "credhelper-venv" / "bin" / "python"
    assert "interpreter: %s (Python 3." % venv_python in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| `")]
    assert [line.split(" | ")[0][2:] for line in rows] == \
        [row["label"] for row in figures.values()]
    assert figures["ls_credhelper"]["result"] in ("PASS", "FAIL")
    # the † rows: the bash client answered by its HOME's daemon, live and the same one all
    # through the measurement, no Python started; the launcher-only rows: Python answered
    served = [row.key for row in table.rows(1000) if row.daemon]
    assert {"get_file", "store_file", "get_keyring", "get_many", "ls_credhelper"} <= set(served)
    assert all(figures[key]["python"] is False and figures[key]["daemon_pid"] for key in served)
    assert figures["get_file"]["daemon_pid"] == figures["ls_credhelper"]["daemon_pid"]
    assert figures["get_launcher"]["python"] and figures["ls_launcher"]["python"]
    assert figures["get_launcher"]["daemon_pid"] is None
    # and every daemon was stopped at the end
    assert not [key for key in served if _running(figures[key]["daemon_pid"])]


def _running(pid: int) -> bool:
    """Not exited: a daemon is no child of ours, and whoever reaps it (pid 1 here) may leave
    it a zombie for a while."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_callgrind_counts_a_command_and_with_children_its_child_processes(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    argv = ["/bin/sh", "-c", "/bin/true; /bin/true"]
    alone = measure.instructions(Scenario(argv, env))
    with_children = measure.instructions(Scenario(argv, env, children=True))
    assert 0 < alone < with_children


def test_the_verdict_compares_the_ratio_its_limit_names():
    rows = table.rows(1000)
    client = {"floor": 100_000_000, "get_file": 100_000_000, "store_file": 115_000_000}
    figures = table.results(rows, client, {"floor": 0.01, "get_file": 0.01, "store_file": 0.02},
                            {"get_file": 41_000_000})
    assert figures["get_file"]["result"] == "FAIL"       # 1.41x with the daemon's > 1.40x
    assert figures["store_file"]["result"] == "PASS"     # 1.15x, whatever the wall time
    assert figures["floor"]["result"] is None
    text = table.markdown(rows, figures, 1)
    assert "| 141.0 M (client 100.0 + daemon 41.0) | 1.41x |" in text
    assert "**FAIL** (1.410x)" in text
