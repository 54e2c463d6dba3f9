"""The admin CLI as a user runs it: exit codes, messages, and never a token in any output."""

import json
import os
import stat

import pytest

from tests.conftest import credhelper, run

PAT = "glpat-clitestclitestclitest0001"
DEPLOY = "gldt-clitestclitestclitest02"


def outputs(done):
    return done.stdout + done.stderr


def test_add_reads_the_token_from_stdin_and_never_prints_it(tmp_path):
    done = credhelper("add", "gitlab.example.com", "--expires-at", "2030-01-01", input=PAT)
    assert "Added access token glpat-…0001 for gitlab.example.com" in done.stdout
    for command in (("list",), ("status",), ("status", "--json"), ("doctor",)):
        assert PAT not in outputs(credhelper(*command, check=False))


def test_add_has_no_option_that_takes_the_token():
    done = credhelper("add", "gitlab.example.com", "--token", PAT, check=False)
    assert done.returncode == 2
    assert PAT not in outputs(done)  # argparse echoes unknown args; ours must not


def test_status_table_and_json(tmp_path):
    credhelper("add", "gitlab.example.com", "--expires-at", "2099-12-31", input=PAT)
    credhelper("add", "gitlab.example.com:8443", "--username", "gitlab+deploy-token-9",
               "--path", "Group/Project.git", "--scopes", "read_repository", input=DEPLOY)
    rows = json.loads(credhelper("status", "--json").stdout)
    assert [(r["host"], r["kind"], r["username"], r["path"], r["store"]) for r in rows] == [
        ("gitlab.example.com", "pat", "oauth2", None, "file"),
        ("gitlab.example.com:8443", "deploy", "gitlab+deploy-token-9", "group/project", "file")]
    assert rows[0]["token"] == "glpat-…0001" and rows[0]["days_left"] > 365
    table = credhelper("status", "--table").stdout.splitlines()
    assert table[0].split() == ["HOST", "ACCOUNT", "KIND", "USERNAME", "PATH", "NAME", "SCOPES",
                                "EXPIRES", "STORE", "TOKEN", "STATE", "CHECKED", "NEXT"]
    assert "2099-12-31" in table[1] and "read_repository" in table[2]
    only = json.loads(credhelper("status", "gitlab.example.com:8443", "--json").stdout)
    assert [r["kind"] for r in only] == ["deploy"]


@pytest.mark.parametrize("args, token, message", [
    (["gitlab.example.com"], "", "no token given"),
    (["gitlab.example.com"], "glpat-has space inside", "spaces or control"),
    (["gitlab.example.com"], "mystery-token-format-0000", "--kind"),
    (["gitlab.example.com"], DEPLOY, "--username"),
    (["gitlab.example.com", "--expires-at", "2026-02-30"], PAT, "YYYY-MM-DD"),
    (["gitlab.example.com", "--kind", "job", "--username", "bob"], "glcbt-x" * 4, "gitlab-ci-token"),
    (["https://gitlab.example.com/some/path?x"], PAT, None),
    (["gitlab.example.com/evil"], PAT, "invalid host"),
    (["gitlab.example.com:99999"], PAT, "invalid port"),
])
def test_add_refuses_bad_input_with_one_line_and_stores_nothing(args, token, message):
    done = credhelper("add", *args, input=token, check=False)
    if message is None:  # a URL is accepted as the host
        assert done.returncode == 0
        return
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert "Traceback" not in done.stderr and (not token or token not in outputs(done))
    assert json.loads(credhelper("status", "--json").stdout) == []


def test_adding_the_same_slot_again_replaces_the_token():
    # the server cannot be asked here: --username names the account (else the owners are
    # unknown, and neither token may replace the other: tests/test_replacing.py)
    credhelper("add", "gitlab.example.com", "--username", "alice", input=PAT)
    done = credhelper("add", "gitlab.example.com", "--username", "alice",
                      input=PAT[:-4] + "9999")
    assert done.stdout.startswith("Replaced")
    rows = json.loads(credhelper("status", "--json").stdout)
    assert [r["token"] for r in rows] == ["glpat-…9999"]
    secrets = json.loads((_data_dir() / "secrets.json").read_text())["secrets"]
    assert list(secrets.values()) == [PAT[:-4] + "9999"]   # the old secret is gone


def test_remove_forgets_secret_and_metadata():
    credhelper("add", "gitlab.example.com", input=PAT)
    credhelper("add", "gitlab.example.com", "--path", "g/p", "--username", "d", input=DEPLOY)
    missing = credhelper("remove", "gitlab.example.com", "--path", "g/other", check=False)
    assert missing.returncode == 1 and "--path g/p" in missing.stderr
    assert "Removed access token" in credhelper("remove", "gitlab.example.com").stdout
    rows = json.loads(credhelper("status", "--json").stdout)
    assert [r["path"] for r in rows] == ["g/p"]
    credhelper("remove", "gitlab.example.com", "--all")
    assert json.loads((_data_dir() / "secrets.json").read_text())["secrets"] == {}


def test_files_are_private(tmp_path):
    os.umask(0o022)
    credhelper("add", "gitlab.example.com", input=PAT)
    directory = _data_dir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("secrets.json", "tokens.json"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert PAT not in (directory / "tokens.json").read_text()   # metadata apart from secrets


def test_setup_git_sets_a_per_host_helper_and_can_reset_others():
    run("git", "config", "--global", "credential.helper", "store")
    credhelper("add", "gitlab.example.com", "--no-setup", input=PAT)
    assert "credential.https://gitlab.example.com.helper = gitlab" in \
        credhelper("setup", "git").stdout
    assert credhelper("setup", "git").stdout.strip() == "gitlab.example.com: already set up"
    key = "credential.https://gitlab.example.com.helper"
    assert run("git", "config", "--global", "--get-all", key).stdout == "\ngitlab\n"   # issue 12
    credhelper("setup", "git", "gitlab.example.com", "--reset-other-helpers")
    assert run("git", "config", "--global", "--get-all", key).stdout == "\ngitlab\n"
    assert run("git", "config", "--global", "credential.helper").stdout == "store\n"


def test_doctor_reports_store_and_whether_git_gets_our_token():
    credhelper("add", "gitlab.example.com", "--no-setup", input=PAT)
    first = credhelper("doctor", check=False)
    assert first.returncode == 1
    assert "git is not set up for gitlab.example.com" in first.stdout
    assert "store for new tokens: file" in first.stdout
    credhelper("setup", "git")
    second = credhelper("doctor")
    assert "gitlab.example.com: helpers ['gitlab']; git gets credhelper's token" in second.stdout
    assert second.stdout.rstrip().endswith("ok") and PAT not in outputs(second)


def test_doctor_notices_another_helper_answering_first(tmp_path):
    credentials = tmp_path / "git-credentials"
    credentials.write_text("https://someone:glpat-otherotherotherother@gitlab.example.com\n")
    run("git", "config", "--global", "credential.helper", "store --file=%s" % credentials)
    credhelper("add", "gitlab.example.com", "--no-setup", input=PAT)
    # as setup git wrote it before issue 12: no reset, so the store helper is asked first
    run("git", "config", "--global", "credential.https://gitlab.example.com.helper", "gitlab")
    done = credhelper("doctor", check=False)
    assert done.returncode == 1 and "another helper answers first" in done.stdout
    credhelper("setup", "git", "--reset-other-helpers")
    assert credhelper("doctor").returncode == 0


def test_usage_errors_exit_2():
    assert credhelper("frobnicate", check=False).returncode == 2
    assert credhelper(check=False).returncode == 2


def test_a_corrupt_registry_is_one_clear_line_and_not_overwritten():
    credhelper("add", "gitlab.example.com", input=PAT)
    tokens = _data_dir() / "tokens.json"
    tokens.write_text("{not json")
    done = credhelper("add", "other.example.com", input=PAT, check=False)
    assert done.returncode == 1 and "tokens.json is not valid JSON" in done.stderr
    assert tokens.read_text() == "{not json"
    get = run("git-credential-gitlab", "get", input="protocol=https\nhost=gitlab.example.com\n",
              check=False)
    assert get.returncode == 1 and get.stdout == "" and get.stderr.count("\n") == 1


def _data_dir():
    from pathlib import Path

    return Path(os.environ["XDG_DATA_HOME"]) / "credhelper"


def test_selftest_clones_and_pushes_through_the_helper():
    """What install.sh runs to show the tool working."""
    done = credhelper("selftest")
    assert "selftest passed" in done.stdout and "glpat-" not in done.stdout + done.stderr
    assert "checked with the API" in done.stdout
    assert json.loads(credhelper("status", "--json").stdout) == []   # nothing of the user's


@pytest.mark.parametrize("second", [("gitlab.example.com", "--username", "alice"),
                                    ("gitlab.example.com", "--path", "group/project"),
                                    ("other.example.com",)])
def test_one_token_is_never_registered_twice(second):
    """Two records of one PAT would both rotate it: GitLab's reuse detection then revokes
    the family (issue 10). The second add is refused with one line."""
    credhelper("add", "gitlab.example.com", "--no-check", input=PAT)
    done = credhelper("add", *second, "--no-check", input=PAT, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "already registered for gitlab.example.com" in \
        done.stderr and PAT not in done.stderr
    rows = json.loads(credhelper("status", "--json").stdout)
    assert [(r["host"], r["path"]) for r in rows] == [("gitlab.example.com", None)]
