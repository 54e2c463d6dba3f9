"""`credhelper npmrc`: the token goes into npm's user config, bound to its registry's URL, and
nowhere else; the file's other lines stay; --print, --remove and --refresh; the options of the
old variable-based flow are refused with the reason.  (Real npm installs through it are in
test_package_managers.py.)"""

import json
import os
import stat

import pytest

from tests.conftest import credhelper, run

HOST = "gitlab.example.com"
WRITER = "glpat-packagewriterpackagewrite"
PROJECT_URL = "https://%s/api/v4/projects/group%%2Fapp/packages/npm/" % HOST
PROJECT_AUTH = "//%s/api/v4/projects/group%%2Fapp/packages/npm/:_authToken" % HOST


@pytest.fixture
def writer():
    credhelper("add", HOST, "--scopes", "api", "--no-check", input=WRITER)


@pytest.fixture
def npmrc(home):
    return home / ".npmrc"


def test_the_token_goes_into_the_user_config_bound_to_its_registry(writer, npmrc):
    npmrc.write_text("; mine\nfund=false\n@acme:registry=https://old.example/\n"
                     "//old.example/:_authToken=theirs\n[section]\nx=1\n")
    npmrc.chmod(0o644)
    done = credhelper("npmrc", HOST, "--project", "group/app", "--scope", "@acme")
    assert npmrc.read_text() == (
        "; mine\nfund=false\n@acme:registry=%s\n//old.example/:_authToken=theirs\n"
        "%s=%s\n[section]\nx=1\n" % (PROJECT_URL, PROJECT_AUTH, WRITER))
    assert stat.S_IMODE(npmrc.stat().st_mode) == 0o600
    assert WRITER not in done.stdout + done.stderr and str(npmrc) in done.stdout
    assert [p.name for p in npmrc.parent.iterdir() if p.name.startswith(".npmrc")] == [".npmrc"]
    again = credhelper("npmrc", HOST, "--project", "group/app", "--scope", "@acme")
    assert again.returncode == 0 and npmrc.read_text().count(PROJECT_AUTH) == 1


def test_npm_config_userconfig_names_the_file_as_it_does_for_npm(writer, home, tmp_path,
                                                                  monkeypatch):
    target = tmp_path / "ci-npmrc"
    monkeypatch.setenv("NPM_CONFIG_USERCONFIG", str(target))
    credhelper("npmrc", HOST)
    assert "//%s/api/v4/packages/npm/:_authToken=%s\n" % (HOST, WRITER) in target.read_text()
    assert not (home / ".npmrc").exists()
    assert run("npm", "config", "get", "userconfig").stdout.strip() == str(target)


def test_a_symlinked_user_config_is_refused_not_followed(writer, npmrc, tmp_path):
    dotfiles = tmp_path / "dotfiles" / "npmrc"
    dotfiles.parent.mkdir()
    dotfiles.write_text("fund=false\n")
    npmrc.symlink_to(dotfiles)
    refused = credhelper("npmrc", HOST, check=False)
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert "symbolic link" in refused.stderr and WRITER not in refused.stdout + refused.stderr
    assert npmrc.is_symlink() and dotfiles.read_text() == "fund=false\n"


def test_print_shows_the_lines_without_the_token_and_writes_nothing(writer, npmrc):
    done = credhelper("npmrc", HOST, "--project", "group/app", "--print")
    assert done.stdout == "registry=%s\n%s=<the token>\n" % (PROJECT_URL, PROJECT_AUTH)
    assert WRITER not in done.stdout + done.stderr and not npmrc.exists()


def test_remove_takes_out_only_this_registry(writer, npmrc):
    npmrc.write_text("fund=false\n")
    credhelper("npmrc", HOST, "--project", "group/app")
    credhelper("npmrc", HOST, "--group", "5", "--scope", "@acme")
    done = credhelper("npmrc", HOST, "--project", "group/app", "--remove")
    assert PROJECT_AUTH in done.stdout
    group = "https://%s/api/v4/groups/5/-/packages/npm/" % HOST
    assert npmrc.read_text() == "fund=false\n@acme:registry=%s\n%s=%s\n" % (
        group, group[len("https:"):] + ":_authToken", WRITER)
    nothing = credhelper("npmrc", HOST, "--project", "group/app", "--remove")
    assert "no entry" in nothing.stdout


def test_refresh_puts_the_current_token_in_and_leaves_other_hosts_alone(writer, npmrc):
    npmrc.write_text("%s=glpat-rotatedawayrotatedaway\n//registry.npmjs.org/:_authToken=npm_x\n"
                     "//%s/api/v4/projects/9/packages/npm/:_authToken=old\n" % (PROJECT_AUTH,
                                                                                 HOST))
    done = credhelper("npmrc", "--refresh")
    assert npmrc.read_text() == (
        "%s=%s\n//registry.npmjs.org/:_authToken=npm_x\n"
        "//%s/api/v4/projects/9/packages/npm/:_authToken=%s\n" % (PROJECT_AUTH, WRITER, HOST,
                                                                   WRITER))
    assert "2" in done.stdout and WRITER not in done.stdout + done.stderr
    credhelper("remove", HOST)
    assert npmrc.read_text() == "//registry.npmjs.org/:_authToken=npm_x\n"


def _expire_every_record():
    index = os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", "tokens.json")
    with open(index) as handle:
        data = json.load(handle)
    for record in data["tokens"]:
        record["expires_at"] = "2020-01-01"
    with open(index, "w") as handle:
        json.dump(data, handle)


def test_refresh_names_an_entry_with_no_usable_token_and_leaves_it(npmrc):
    credhelper("add", HOST, "--kind", "deploy", "--username", "u", "--no-check",
               input="gldt-expiredexpiredexpired")
    _expire_every_record()          # `add` refuses a past --expires-at
    npmrc.write_text("%s=gldt-expiredexpiredexpired\n" % PROJECT_AUTH)
    stale = credhelper("npmrc", "--refresh", check=False)
    assert stale.returncode == 1 and "no usable token for %s" % PROJECT_URL in stale.stderr
    assert "--remove" in stale.stderr and "expired" not in stale.stdout
    assert npmrc.read_text() == "%s=gldt-expiredexpiredexpired\n" % PROJECT_AUTH


def test_remove_takes_the_removed_token_out_of_the_user_config_only(writer, npmrc):
    credhelper("add", "other.example.com", "--scopes", "api", "--no-check",
               input="glpat-otherotherotherotherot")
    credhelper("npmrc", HOST)
    credhelper("npmrc", "other.example.com", "--scope", "@o")
    done = credhelper("remove", HOST)
    assert str(npmrc) in done.stdout and WRITER not in done.stdout + done.stderr
    assert npmrc.read_text() == (
        "registry=https://%s/api/v4/packages/npm/\n@o:registry=https://other.example.com/api/v4/"
        "packages/npm/\n//other.example.com/api/v4/packages/npm/:_authToken=glpat-otherother"
        "otherotherot\n" % HOST)


@pytest.mark.parametrize("old", [["--env", "MY_TOKEN"], ["--write", "{tmp}/.npmrc"],
                                 ["--literal-token"]])
def test_the_variable_flow_options_are_refused_with_the_reason(writer, npmrc, tmp_path, old):
    refused = credhelper("npmrc", HOST, *[a.format(tmp=tmp_path) for a in old], check=False)
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert "user config" in refused.stderr and WRITER not in refused.stdout + refused.stderr
    assert not npmrc.exists() and not (tmp_path / ".npmrc").exists()


def test_an_exported_old_variable_is_pointed_out(writer, monkeypatch):
    monkeypatch.setenv("CREDHELPER_NPM_TOKEN", WRITER)
    done = credhelper("npmrc", HOST, "--print")
    assert "unset" in done.stderr and WRITER not in done.stdout + done.stderr


def test_a_token_npmrc_cannot_hold_is_not_written(npmrc):
    credhelper("add", HOST, "--kind", "deploy", "--username", "u", "--no-check",
               input="gldt-semi;colon#hash")
    refused = credhelper("npmrc", HOST, check=False)
    assert refused.returncode == 1 and not npmrc.exists()
    assert "semi" not in refused.stdout + refused.stderr
    assert not os.path.exists(str(npmrc) + ".tmp")
