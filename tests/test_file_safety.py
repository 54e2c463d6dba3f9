"""Files credhelper owns and files it does not (issue 11, item 7): its own directories are
created 0700 whatever the umask, its data and config files are refused when others can write
them (as ssh's StrictModes does), and another program's file is written without touching the
directory it lives in."""

import json
import os
import stat
import subprocess

import pytest

from tests.conftest import credhelper, run, write_config

PAT = "glpat-filesafetyfilesafety0001"


def _data(name=""):
    return os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", name)


@pytest.mark.parametrize("mode", [0o755, 0o1777, 0o775])
def test_npmrc_leaves_the_directory_of_npms_user_config_alone(tmp_path, monkeypatch, mode):
    project = tmp_path / "project"
    project.mkdir()
    os.chmod(project, mode)
    monkeypatch.setenv("NPM_CONFIG_USERCONFIG", str(project / ".npmrc"))
    credhelper("add", "gitlab.example.com", "--no-check", input=PAT)
    credhelper("npmrc", "gitlab.example.com", "--project", "5")
    assert stat.S_IMODE(os.stat(project).st_mode) == mode
    assert "gitlab.example.com" in (project / ".npmrc").read_text()
    assert stat.S_IMODE(os.stat(project / ".npmrc").st_mode) == 0o600


def test_setup_docker_leaves_the_docker_config_directory_alone(tmp_path, monkeypatch):
    docker = tmp_path / "docker"
    docker.mkdir()
    os.chmod(docker, 0o755)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    credhelper("setup", "docker", "registry.example.com")
    assert stat.S_IMODE(os.stat(docker).st_mode) == 0o755
    assert json.loads((docker / "config.json").read_text())["credHelpers"]


def test_first_run_with_umask_000_creates_nothing_others_can_write(home):
    subprocess.run(["sh", "-c", "umask 000 && credhelper add gitlab.example.com --no-check"],
                   input=PAT, text=True, check=True, capture_output=True)
    created = []
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = os.path.join(root, name)
            created.append((path, stat.S_IMODE(os.lstat(path).st_mode)))
    assert created and any(path.endswith("tokens.json") for path, _ in created)
    assert [(path, oct(mode)) for path, mode in created if mode & 0o022] == []


def test_an_existing_data_dir_is_never_chmodded():
    credhelper("add", "gitlab.example.com", "--no-check", input=PAT)
    os.chmod(_data(), 0o750)                       # the user's choice: readable by the group
    # a second account's token (named: of unknown owner, it could not replace the first)
    credhelper("add", "gitlab.example.com", "--no-check", "--username", "bob",
               input=PAT[:-4] + "0002")
    assert stat.S_IMODE(os.stat(_data()).st_mode) == 0o750


def _unsafe(path, how):
    if how == "mode 0666":
        os.chmod(path, 0o666)
    elif how == "mode 0777":
        os.chmod(path, 0o777)
    else:
        os.chown(path, 65534, -1)                  # nobody: another user than us (root)


@pytest.mark.parametrize("name, how", [
    ("tokens.json", "mode 0666"), ("tokens.json", "another owner"),
    ("secrets.json", "mode 0666"), ("secrets.json", "another owner"),
    ("", "mode 0777"), ("", "another owner"),
])
def test_data_files_others_can_write_are_refused_with_one_line(name, how):
    credhelper("add", "gitlab.example.com", "--no-check", input=PAT)
    _unsafe(_data(name), how)
    done = run("git-credential-gitlab", "get",
               input="protocol=https\nhost=gitlab.example.com\n\n", check=False)
    assert PAT not in done.stdout
    assert done.stderr.count("\n") == 1 and _data(name).rstrip("/") in done.stderr
    assert "writable by others" in done.stderr or "owned by" in done.stderr
    if name != "secrets.json":                     # `list` reads no secret
        listing = credhelper("list", check=False)
        assert listing.returncode == 1 and listing.stderr.count("\n") == 1
    doctor = credhelper("doctor", check=False)
    assert doctor.returncode == 1 and _data(name).rstrip("/") in doctor.stdout


@pytest.mark.parametrize("how", ["mode 0666", "another owner"])
def test_a_config_file_others_can_write_is_refused_and_doctor_says_so(home, how):
    config = write_config(home, 'store = "file"\n')
    _unsafe(config, how)
    done = credhelper("add", "gitlab.example.com", "--no-check", input=PAT, check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and str(config) in done.stderr
    doctor = credhelper("doctor", check=False)
    assert doctor.returncode == 1 and str(config) in doctor.stdout
