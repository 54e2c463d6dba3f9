"""The wheel holds the product only: the fake GitLab and the rest of tests/ stay in the checkout,
while the selftest's own small GitLab stand-in ships (`credhelper selftest` runs without one)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What is not source: setuptools would put whatever an earlier build left in build/lib into the
# wheel, so the build runs on a copy of the checkout without it.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                    ".*_cache")


def build_wheel(tmp_path):
    source, out = tmp_path / "source", tmp_path / "dist"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "-w", str(out), "."],
                          cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("credhelper-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_has_no_test_doubles_and_ships_the_selftest_server(tmp_path):
    names = build_wheel(tmp_path)
    doubles = [n for n in names if {"testing", "fake_gitlab"} & set(n.split("/"))]
    assert doubles == []
    assert [n for n in names if n.startswith("tests/")] == []
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"credhelper"}
    assert "credhelper/selftest/server.py" in names and "credhelper/selftest/tls.py" in names
