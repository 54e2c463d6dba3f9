"""protocols/__init__.py (serve), in-process: every adapter turns an unexpected exception into one line,
with no traceback and none of the exception's text, on its protocol's channel and with its
exit code; a CredhelperError into one scrubbed line; Ctrl-C into a quiet 130."""

import io
import json

import pytest

import credhelper.protocols as serve
from credhelper.errors import ProtocolError
from credhelper.protocols import cargo, docker, git, goauth, terraform
from credhelper.protocols.keyring_backend import GitLabPackagesKeyring

TOKEN = "glpat-servetestservetestserve"
HINT = "set CREDHELPER_DEBUG=1 for details"


class Broken:
    """A Service whose every use raises ``error`` (a bug somewhere below the adapter)."""

    def __init__(self, error):
        self.error = error

    def __getattr__(self, name):
        raise self.error


def bug():
    return RuntimeError("the server said %s" % TOKEN)   # exception text can hold a token


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("CREDHELPER_DEBUG", raising=False)


def call_git(service):
    out = io.BytesIO()
    code = git.main(["get"], io.BytesIO(b"protocol=https\nhost=gitlab.example.com\n\n"), out,
                    service=service)
    return code, out.getvalue().decode()


def call_docker(service):
    out = io.StringIO()
    code = docker.main(["get"], io.BytesIO(b"registry.example.com"), out, service=service)
    return code, out.getvalue()


def call_terraform(service):
    out = io.StringIO()
    return terraform.main(["get", "gitlab.example.com"], None, out, service=service), out.getvalue()


def call_goauth(service):
    out = io.StringIO()
    return goauth.main([], out, service=service), out.getvalue()


CARGO_GET = {"v": 1, "kind": "get", "operation": "read", "args": [],
             "registry": {"index-url": "sparse+https://gitlab.example.com/api/v4/projects/1/packages/cargo/"}}


def call_cargo(service):
    out = io.StringIO()
    code = cargo.main(["--cargo-plugin"], io.StringIO(json.dumps(CARGO_GET) + "\n"), out,
                      service=service)
    return code, out.getvalue()


# adapter, its call, the exit code, where the error line goes, its program name
ERROR_ON_STDERR = [("git", call_git, "git-credential-gitlab"),
                   ("terraform", call_terraform, "terraform-credentials-gitlab"),
                   ("goauth", call_goauth, "credhelper goauth")]


@pytest.mark.parametrize("name, call, prog", ERROR_ON_STDERR, ids=[e[0] for e in ERROR_ON_STDERR])
def test_a_bug_is_one_line_on_stderr_and_exit_1(capsys, name, call, prog):
    code, out = call(Broken(bug()))
    err = capsys.readouterr().err
    assert (code, out) == (1, "")
    assert err == "%s: internal error (RuntimeError); %s\n" % (prog, HINT)


def test_docker_says_a_bug_on_stdout_where_docker_reads_errors(capsys):
    code, out = call_docker(Broken(bug()))
    assert code == 1
    assert out == "docker-credential-gitlab: internal error (RuntimeError); %s\n" % HINT
    assert capsys.readouterr().err == ""


def test_cargo_answers_a_bug_with_an_err_response_and_goes_on(capsys):
    code, out = call_cargo(Broken(bug()))
    hello, response = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and hello == cargo.HELLO
    assert response == {"Err": {"kind": "other", "message":
                                "cargo-credential-gitlab: internal error (RuntimeError); %s" % HINT}}
    assert capsys.readouterr().err == ""


def test_keyring_backend_warns_one_line_and_steps_aside(capsys, monkeypatch):
    """A broken credhelper never breaks pip: the backend answers None."""
    import credhelper.service

    monkeypatch.setattr(credhelper.service, "Service", lambda: Broken(bug()))
    url = "https://gitlab.example.com/api/v4/projects/42/packages/pypi/simple/"
    backend = GitLabPackagesKeyring()
    assert backend.get_password(url, "__token__") is None
    assert backend.get_credential(url, None) is None
    err = capsys.readouterr().err
    assert err == ("credhelper: internal error (RuntimeError); %s\n" % HINT) * 2


ALL = [call_git, call_docker, call_terraform, call_goauth, call_cargo]


@pytest.mark.parametrize("call", ALL, ids=lambda c: c.__name__)
def test_no_traceback_and_no_exception_text(capsys, call):
    code, out = call(Broken(bug()))
    captured = capsys.readouterr()
    everything = out + captured.out + captured.err
    assert "Traceback" not in everything and TOKEN not in everything
    assert "the server said" not in everything
    assert (out + captured.err).count("internal error") == 1


@pytest.mark.parametrize("call", ALL, ids=lambda c: c.__name__)
def test_credhelper_debug_raises_the_bug(monkeypatch, call):
    monkeypatch.setenv("CREDHELPER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="the server said"):
        call(Broken(bug()))


@pytest.mark.parametrize("call", ALL, ids=lambda c: c.__name__)
def test_ctrl_c_exits_130_quietly(capsys, call):
    code, out = call(Broken(KeyboardInterrupt()))
    captured = capsys.readouterr()
    assert code == 130
    assert captured.err == "" and "internal error" not in out


def test_a_credhelper_error_is_one_scrubbed_line_on_the_protocol_channel(capsys):
    refused = ProtocolError("GitLab refused %s:\nsecond line" % TOKEN)
    assert call_git(Broken(refused)) == (1, "")
    err = capsys.readouterr().err
    assert err.startswith("git-credential-gitlab: GitLab refused glpat-")
    assert err.count("\n") == 1 and TOKEN not in err
    code, out = call_docker(Broken(refused))
    assert code == 1 and out.startswith("credhelper: GitLab refused glpat-")
    assert out.count("\n") == 1 and TOKEN not in out
    code, out = call_cargo(Broken(refused))
    message = json.loads(out.splitlines()[1])["Err"]["message"]
    assert code == 0 and message.startswith("GitLab refused glpat-") and TOKEN not in message


def test_the_service_is_made_only_when_the_adapter_needs_it(monkeypatch):
    import credhelper.service

    made = []
    monkeypatch.setattr(credhelper.service, "Service", lambda: made.append(1))
    out = io.BytesIO()
    assert git.main(["capabilities"], io.BytesIO(b"protocol=https\n\n"), out) == 0
    assert git.main(["get"], io.BytesIO(b"protocol=https\n\n"), out) == 0   # no host
    assert made == [] and out.getvalue() == b""
    get = serve.lazy_service()
    assert made == []
    get(), get()
    assert made == [1]


def test_the_admin_cli_words_a_bug_as_the_adapters_do(monkeypatch, capsys):
    import credhelper.cli
    from credhelper.cli import version

    def broken(args):
        raise RuntimeError("glpat-leakedleakedleaked in a bug's text")

    monkeypatch.setattr(version, "run", broken)
    assert credhelper.cli.main(["version"]) == 1
    err = capsys.readouterr().err
    assert err == ("credhelper: internal error (RuntimeError); set CREDHELPER_DEBUG=1 for "
                   "details\n")


# -- launch: the top level of every executable -------------------------------------------

def test_launch_words_what_escapes_main_as_one_line(capsys, tmp_path, monkeypatch):
    """An adapter that cannot even be imported, or whose main raises outside serve, is one
    line and exit 1; docker's goes to stdout; Ctrl-C is a quiet 130."""
    (tmp_path / "broken_at_import.py").write_text("raise RuntimeError(%r)\n" % TOKEN)
    (tmp_path / "interrupted.py").write_text("def main():\n    raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert serve.launch("git-credential-gitlab", "broken_at_import") == 1
    assert serve.launch("docker-credential-gitlab", "broken_at_import", "stdout",
                        "credhelper") == 1
    captured = capsys.readouterr()
    assert captured.err == "git-credential-gitlab: internal error (RuntimeError); %s\n" % HINT
    assert captured.out == "docker-credential-gitlab: internal error (RuntimeError); %s\n" % HINT
    assert serve.launch("cargo-credential-gitlab", "interrupted") == 130
    assert capsys.readouterr() == ("", "")


def test_the_keyring_backend_survives_a_closed_stderr(monkeypatch):
    """pip runs the backend in its own process: even with no stderr it gets None, no raise."""
    import sys

    import credhelper.service

    monkeypatch.setattr(credhelper.service, "Service", lambda: Broken(bug()))
    monkeypatch.setattr(sys, "stderr", None)
    url = "https://gitlab.example.com/api/v4/projects/42/packages/pypi/simple/"
    assert GitLabPackagesKeyring().get_password(url, "__token__") is None
