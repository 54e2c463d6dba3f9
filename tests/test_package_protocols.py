"""The package-manager protocols byte for byte: cargo's credential provider, Terraform's
credentials helper and Go's GOAUTH (the .npmrc credhelper writes: test_npmrc.py)."""

import base64
import json

import pytest

from tests.conftest import credhelper, run

HOST = "gitlab.example.com"
READER = "gldt-packagereaderpackagereader"
WRITER = "glpat-packagewriterpackagewrite"


@pytest.fixture
def tokens():
    credhelper("add", HOST, "--username", "pkg-reader", "--scopes", "read_package_registry",
               input=READER)
    credhelper("add", HOST, "--scopes", "api", "--no-check", input=WRITER)


INDEX = "sparse+https://gitlab.example.com/api/v4/projects/7/packages/cargo/"
LISTED = '[hosts."%s"]\ncargo_indexes = ["%s"]\n' % (HOST, INDEX)


def list_index(home, text=LISTED):
    config = home / ".config" / "credhelper" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)


def cargo(*requests):
    """Run the provider as cargo does: --cargo-plugin, one JSON request per line."""
    stdin = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in requests)
    done = run("cargo-credential-gitlab", "--cargo-plugin", input=stdin)
    return [json.loads(line) for line in done.stdout.splitlines()], done.stdout


def cargo_request(kind, index=INDEX, operation="read", **extra):
    request = {"v": 1, "registry": {"index-url": index, "name": "gitlab"}, "kind": kind,
               "operation": operation, "args": []}
    request.update(extra)
    return request


def test_cargo_hello_then_get_read_and_publish(tokens, home):
    list_index(home)
    replies, raw = cargo(cargo_request("get"), cargo_request("get", operation="publish",
                                                             name="c", vers="1.0.0"))
    assert raw.splitlines()[0] == '{"v": [1]}'
    assert replies[1] == {"Ok": {"kind": "get", "token": WRITER, "cache": "session",
                                 "operation_independent": True}}
    assert replies[2]["Ok"]["token"] == WRITER      # write-capable for publish


def test_cargo_login_refuses_a_token_with_a_line_break(home):
    list_index(home)
    replies, _ = cargo(cargo_request("login", token="glpat-one\nhost=evil.example"))
    assert replies[1]["Err"]["kind"] == "other" and "CR, LF or NUL" in replies[1]["Err"]["message"]
    assert json.loads(credhelper("status", "--json").stdout) == []


def test_cargo_unknown_registry_and_bad_requests():
    replies, _ = cargo(cargo_request("get", index="sparse+https://index.crates.io/"),
                       {"v": 2, "kind": "get"}, cargo_request("frobnicate"))
    assert replies[1:] == [{"Err": {"kind": "url-not-supported"}},
                           {"Err": {"kind": "other",
                                    "message": "unsupported protocol version 2"}},
                           {"Err": {"kind": "operation-not-supported"}}]
    done = run("cargo-credential-gitlab", "--cargo-plugin", input="not json\n")
    assert json.loads(done.stdout.splitlines()[1])["Err"]["kind"] == "other"


def test_cargo_not_found_login_logout(home):
    list_index(home)
    replies, _ = cargo(cargo_request("get"))
    assert replies[1] == {"Err": {"kind": "not-found"}}
    replies, _ = cargo(cargo_request("login", token="glpat-cargologincargologin0"),
                       cargo_request("get"))
    assert replies[1:] == [{"Ok": {"kind": "login"}},
                           {"Ok": {"kind": "get", "token": "glpat-cargologincargologin0",
                                   "cache": "session", "operation_independent": True}}]
    replies, _ = cargo(cargo_request("logout"), cargo_request("logout"))
    assert replies[1:] == [{"Ok": {"kind": "logout"}}, {"Err": {"kind": "not-found"}}]


@pytest.mark.parametrize("index", [
    "sparse+https://gitlab.example.com/alice/evil/-/raw/main/index/",   # a project's own files
    "sparse+https://gitlab.example.com/api/v4/projects/7/packages/cargo/other/",
    "sparse+https://gitlab.example.com/api/v4/projects/8/packages/cargo/",
    "https://gitlab.example.com/api/v4/projects/7/packages/cargo/?x",
    "sparse+https://u@gitlab.example.com/api/v4/projects/7/packages/cargo/",
])
def test_cargo_answers_only_for_an_index_the_user_listed(tokens, home, index):
    """cargo sends the token to whatever ``dl`` URL the index's config.json names, and any
    project on a GitLab host can serve such a file: a known host is not enough (issue 11)."""
    list_index(home)
    replies, raw = cargo(cargo_request("get", index=index),
                         cargo_request("login", index=index, token="glpat-cargologinelsewhere"))
    assert replies[1:] == [{"Err": {"kind": "url-not-supported"}}] * 2
    assert WRITER not in raw and READER not in raw
    assert "cargologinelsewhere" not in credhelper("status", "--json").stdout


@pytest.mark.parametrize("value", ['["https://other.example/index/"]', '["http://%s/i/"]' % HOST,
                                   '"sparse+https://%s/i/"' % HOST, '[1]'])
def test_cargo_indexes_must_be_https_urls_on_the_host(home, value):
    list_index(home, '[hosts."%s"]\ncargo_indexes = %s\n' % (HOST, value))
    replies, _ = cargo(cargo_request("get"))
    assert replies[1]["Err"]["kind"] == "other" and "cargo_indexes" in replies[1]["Err"]["message"]


# -- Terraform ---------------------------------------------------------------------------------

def test_terraform_get_store_forget(tokens):
    done = run("terraform-credentials-gitlab", "get", HOST)
    assert done.stdout == '{"token": "%s"}\n' % WRITER
    assert run("terraform-credentials-gitlab", "get", "app.terraform.io").stdout == "{}\n"
    run("terraform-credentials-gitlab", "store", "tf.example.org",
        input='{"token":"glpat-terraformloginterraform"}')
    assert json.loads(run("terraform-credentials-gitlab", "get", "tf.example.org").stdout) == {
        "token": "glpat-terraformloginterraform"}
    run("terraform-credentials-gitlab", "forget", "tf.example.org")
    assert run("terraform-credentials-gitlab", "get", "tf.example.org").stdout == "{}\n"
    run("terraform-credentials-gitlab", "forget", HOST)       # an added token stays
    assert "token" in json.loads(run("terraform-credentials-gitlab", "get", HOST).stdout)


@pytest.mark.parametrize("payload", ["", "{", "[]", '{"token": 5}', '{"token":"a\\nb"}'])
def test_terraform_store_refuses_bad_input(payload):
    done = run("terraform-credentials-gitlab", "store", "tf.example.org", input=payload,
               check=False)
    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1
    assert run("terraform-credentials-gitlab", "get", "tf.example.org").stdout == "{}\n"


# -- Go -----------------------------------------------------------------------------------------

def test_goauth_blocks(tokens):
    done = credhelper("goauth")
    basic = base64.b64encode(("oauth2:%s" % WRITER).encode()).decode()
    assert done.stdout == "https://%s/\n\nAuthorization: Basic %s\n\n" % (HOST, basic)
    assert credhelper("goauth", "https://%s/group/mod/@v/list" % HOST).stdout == done.stdout
    assert credhelper("goauth", "https://proxy.golang.org/x").stdout == ""
