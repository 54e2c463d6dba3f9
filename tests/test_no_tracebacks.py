"""No traceback from any executable, whatever it is fed: every one goes through one top-level
handler (protocols.launch) and says what went wrong in one line, with the exit code its
protocol expects, and prints only protocol output on stdout.  Real executables (the installed
console scripts, keyring's discovery of our backend in-process, as pip uses it), real files in
a temporary HOME, the fake GitLab over HTTPS for bad server answers."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import credhelper, run, write_config

HOST = "gitlab.example.com"
TOKEN = "glpat-notracebacknotraceback12"
PACKAGES = "/api/v4/projects/1/packages/pypi/simple"
KEYRING = ("import sys, keyring\n"
           "found = keyring.get_credential(sys.argv[1], '__token__')\n"
           "print(found.password if found else '')\n")


def calls(host, url):
    """(name, argv, stdin, exit codes the protocol allows) for every executable, asked about
    ``host`` (or ``url`` where the protocol names a URL)."""
    cargo_get = {"v": 1, "kind": "get", "operation": "read", "args": [],
                 "registry": {"index-url": "sparse+%s/api/v4/projects/1/packages/cargo/" % url}}
    return [
        ("git host", ["git-credential-gitlab", "get"],
         "protocol=https\nhost=%s\n\n" % host, {0, 1}),
        ("git url", ["git-credential-gitlab", "get"], "url=%s/g/p.git\n\n" % url, {0, 1}),
        ("git store", ["git-credential-gitlab", "store"],
         "protocol=https\nhost=%s\nusername=u\npassword=p\n\n" % host, {0, 1}),
        ("docker", ["docker-credential-gitlab", "get"], url, {0, 1}),
        ("docker store", ["docker-credential-gitlab", "store"],
         json.dumps({"ServerURL": url, "Username": "u", "Secret": "s"}), {0, 1}),
        ("cargo", ["cargo-credential-gitlab", "--cargo-plugin"], json.dumps(cargo_get) + "\n",
         {0}),
        ("terraform", ["terraform-credentials-gitlab", "get", host], "", {0, 1}),
        ("terraform store", ["terraform-credentials-gitlab", "store", host],
         '{"token": "x"}', {0, 1}),
        ("goauth", ["credhelper", "goauth", url + "/mod"], "", {0, 1}),
        ("credhelper token", ["credhelper", "token", host], "", {0, 1}),
        ("credhelper status", ["credhelper", "status"], "", {0, 1}),
        ("credhelper status --check", ["credhelper", "status", "--check"], "", {0, 1}),
        ("credhelper log", ["credhelper", "log"], "", {0, 1}),
        ("keyring", [sys.executable, "-c", KEYRING, url + PACKAGES], "", {0}),
    ]


def check(name, done, codes, *, token_allowed=False):
    assert done.returncode in codes, (name, done.returncode, done.stdout, done.stderr)
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream and "internal error" not in stream, (name, stream)
        assert "Exception ignored" not in stream, (name, stream)
    assert len(done.stderr.splitlines()) <= 3, (name, done.stderr)
    if not token_allowed:
        assert TOKEN not in done.stdout + done.stderr, name
    out = done.stdout
    if name.startswith("git"):
        assert all(line.partition("=")[0] in ("username", "password", "password_expiry_utc")
                   for line in out.splitlines()), (name, out)
    elif name.startswith("cargo"):
        assert all(isinstance(json.loads(line), dict) for line in out.splitlines()), out
    elif name.startswith(("docker", "terraform")):
        assert out.count("\n") <= 1, (name, out)


def run_all(host, url, **options):
    for name, argv, stdin, codes in calls(host, url):
        check(name, run(*argv, input=stdin, check=False), codes, **options)


def add_token(host=HOST, *options):
    credhelper("add", host, "--scopes", "api", "--no-check", *options, input=TOKEN)


def data_file(name):
    return os.path.join(os.environ["XDG_DATA_HOME"], "credhelper", name)


@pytest.mark.parametrize("host, url", [
    ("localhost:\u00b2", "https://localhost:\u00b2"),
    ("%s:\u0664\u0664\u0663" % HOST, "https://%s:\u0664\u0664\u0663" % HOST),
    ("%s:0443" % HOST, "https://%s:0443" % HOST),
    ("%s\u2003" % HOST, "https://%s\u2003" % HOST),
    ("[::1", "https://[::1"),
    ("evil.test\\@" + HOST, "https://evil.test\\@" + HOST),
    ("a@b@" + HOST, "https://a@b@" + HOST),
])
def test_hostile_hosts_and_urls(host, url):
    add_token()
    run_all(host, url)


@pytest.mark.parametrize("tokens", [
    {"version": 1, "tokens": {"a": 1}},
    {"version": 1, "tokens": [{"id": "x", "host": 5, "kind": "pat", "store": "file",
                               "origin": "added"}]},
    {"version": None, "tokens": []},
    {"version": 1, "tokens": [{"id": "x", "host": HOST, "kind": "pat", "store": "file",
                               "origin": "added", "scopes": [[]], "checked_at": "soon"}]},
    [1, 2],
])
def test_type_corrupt_tokens_json(tokens):
    add_token()
    with open(data_file("tokens.json"), "w") as handle:
        json.dump(tokens, handle)
    run_all(HOST, "https://" + HOST)


def test_a_missing_ca_file(home):
    add_token()
    write_config(home, '[hosts."%s"]\nca_file = "/nonexistent/ca.pem"\n' % HOST)
    run_all(HOST, "https://" + HOST, token_allowed=True)


@pytest.mark.parametrize("kind", ["garbage", "deep", "nan", "overflow"])
def test_bad_server_answers(gitlab, gitlab_host, kind):
    """A token due for rotation, and a GitLab that answers every call with garbage."""
    import datetime

    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    token = gitlab.state.create_pat("alice", ["api"], expires_at=tomorrow)
    credhelper("add", gitlab_host, input=token.token)
    gitlab.faults.clear()
    if kind == "garbage":
        fault = gitlab.faults.garbage(None, r"/api/v4/.*", times=1000)
    else:
        fault = gitlab.faults.huge(None, r"/api/v4/.*", kind, times=1000)
    try:
        for name, argv, stdin, codes in calls(gitlab_host, "https://" + gitlab_host):
            check(name, run(*argv, input=stdin, check=False), codes | {0}, token_allowed=True)
        assert fault.hits > 0      # the helpers did ask the server, and got its garbage
    finally:
        gitlab.faults.clear()


def _executables():
    return [argv for _, argv, _, _ in calls(HOST, "https://" + HOST)]


@pytest.mark.parametrize("argv", _executables(), ids=lambda argv: " ".join(argv[:2])[:40])
def test_closed_stdin_and_stdout(argv):
    """Started with fd 0 and 1 closed: one line at most, no traceback."""
    add_token()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: (os.close(0), os.close(1)))
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert len(done.stderr.splitlines()) <= 2, done.stderr


@pytest.mark.parametrize("argv, stdin", [
    (["git-credential-gitlab", "get"], "protocol=https\nhost=%s\n\n" % HOST),
    (["terraform-credentials-gitlab", "get", HOST], ""),
    (["cargo-credential-gitlab", "--cargo-plugin"], ""),
    (["docker-credential-gitlab", "version"], ""),
    (["credhelper", "list"], ""),
], ids=lambda value: str(value)[:30])
def test_a_reader_that_went_away(argv, stdin):
    """stdout is a pipe nobody reads any more (``| head -0``): no traceback at exit."""
    add_token()
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(argv, input=stdin.encode(), stdout=writer,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(writer)
    err = done.stderr.decode()
    assert "Traceback" not in err and "Exception ignored" not in err and TOKEN not in err
    assert len(err.splitlines()) <= 2, err   # a warning about the token check, and this


def test_over_long_git_and_terraform_input_is_refused_not_cut():
    add_token()
    line = "x=" + "y" * 60000 + "\n"
    request = "protocol=https\nhost=%s\n" % HOST + line * 20 + "\n"
    done = run("git-credential-gitlab", "get", input=request, check=False)
    assert (done.returncode, done.stdout) == (1, "") and "longer than" in done.stderr
    body = json.dumps({"token": "glpat-" + "z" * 20, "x": "y" * (1 << 20)})
    done = run("terraform-credentials-gitlab", "store", HOST, input=body, check=False)
    assert done.returncode == 1 and "longer than" in done.stderr


HOSTILE = "evil\x1b[31m.test\x07"
HOST_COMMANDS = ["login", "add", "rotate", "remove", "logout", "token", "npmrc", "goauth",
                 "status", "log", "registries", "attend", "doctor", "list", "version",
                 "help", "completion", "man", "uninstall", "selftest"]
NESTED = [["fleet", "publish"], ["fleet", "join"], ["fleet", "show"], ["fleet"],
          ["setup", "git"], ["setup", "docker"], ["setup"], ["dpop-gen", "--hostname"]]


def _commands():
    from credhelper.cli import build_parser

    (choices,) = [action.choices for action in build_parser()._actions
                  if getattr(action, "choices", None)]
    return set(choices)


def test_the_hostile_argument_sweep_covers_every_command():
    assert _commands() == set(HOST_COMMANDS) | {argv[0] for argv in NESTED}


@pytest.mark.parametrize("argv", [[name] for name in HOST_COMMANDS] + NESTED,
                         ids=lambda argv: " ".join(argv))
@pytest.mark.parametrize("extra", [[HOSTILE], ["--bogus"]], ids=["hostile", "bad flag"])
def test_every_command_meets_a_bad_argument_with_one_line(argv, extra):
    """A control character or an unknown flag where a command expects a host (or nothing),
    with junk on stdin: one line, exit 1 or 2, nothing of the hostile text raw on the
    terminal, and nothing written."""
    add_token()
    before = open(data_file("tokens.json"), "rb").read()
    done = run("credhelper", *argv, *extra, input="junk\x00\x1b[2J\n", check=False)
    assert done.returncode in (1, 2), (argv, done.returncode, done.stdout, done.stderr)
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream and "internal error" not in stream
        assert "\x1b" not in stream and "\x07" not in stream, stream
    assert done.stdout == "" and len(done.stderr.splitlines()) <= 2, done.stderr
    assert open(data_file("tokens.json"), "rb").read() == before
