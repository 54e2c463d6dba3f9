"""The `get` hot path loads nothing heavy: measured by what the real executable imports, run
the way install.sh's launcher runs it (the latency itself is measured by benchmarks/, not by
a timed test)."""

import sys

from credhelper.launcher import script
from tests.conftest import credhelper, run

HEAVY = ("requests", "jwt", "cryptography", "keyring", "platformdirs", "tomllib", "dataclasses",
         "urllib3", "secretstorage", "jeepney", "argparse", "typing")
# what a fresh token's get, and the store of what it served, do without (launcher.py): json
# and re (with enum) cost more than the rest of the lookup; os and site are skipped by -S
FAST = HEAVY + ("re", "enum", "json", "os", "site", "logging", "functools", "collections",
                "socket", "selectors")     # the Secret Service's read uses _socket (C) only


def launched(tmp_path, entry, *args, input="", done=None):
    """(stdout, top-level modules imported) of install.sh's launcher for ``entry``, run with
    the flags on its #! line and -X importtime (``done``: a list that gets the process)."""
    launcher = tmp_path / entry
    launcher.write_text(script(entry))
    python, flags = launcher.read_text().splitlines()[0][2:].split(" ")
    assert python == sys.executable and flags == "-IS"
    finished = run(python, flags, "-X", "importtime", str(launcher), *args, input=input,
                   check=done is None)
    if done is not None:
        done.append(finished)
    names = [line.split("|")[-1].strip() for line in finished.stderr.splitlines()
             if line.startswith("import time:")]
    return finished.stdout, {name.split(".")[0] for name in names}


def imported_modules(tmp_path, stdin, action="get"):
    return launched(tmp_path, "run_git", action, input=stdin)


def test_file_store_get_imports_nothing_heavy(gitlab, gitlab_host, tmp_path):
    """A checked, fresh token: the everyday `get`, and the `store` git sends after it."""
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, input=token)
    request = "protocol=https\nhost=%s\n\n" % gitlab_host
    out, modules = imported_modules(tmp_path, request)
    assert "password=%s" % token in out     # it really answered
    assert modules.isdisjoint(FAST), sorted(modules.intersection(FAST))
    out, modules = imported_modules(tmp_path, request.strip() + "\n" + out, "store")
    assert out == ""
    assert modules.isdisjoint(FAST), sorted(modules.intersection(FAST))


def test_a_token_due_for_its_check_takes_the_full_path(gitlab, gitlab_host, tmp_path):
    """The fast path declines what it cannot answer exactly; the launcher then sets up site
    and the full path checks the token with the server before serving it."""
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, "--no-check", input=token)
    checks = len(gitlab.requests.carrying(token))
    out, modules = imported_modules(tmp_path, "protocol=https\nhost=%s\n\n" % gitlab_host)
    assert "password=%s" % token in out
    assert {"site", "os", "json"} <= modules
    assert len(gitlab.requests.carrying(token)) > checks


def test_what_the_fast_path_refuses_gets_the_full_path_s_one_line(tmp_path):
    """The same input reaches the full path, which words the refusal (CVE-2024-52006)."""
    credhelper("add", "gitlab.example.com", "--no-check", input="glpat-refusedrefusedrefused")
    done = []
    out, modules = launched(tmp_path, "run_git", "get", done=done,
                            input="protocol=https\nhost=gitlab.example.com\rhost=evil\n\n")
    assert out == "" and done[0].returncode == 1 and "site" in modules
    assert [line for line in done[0].stderr.splitlines() if not line.startswith("import")] == [
        "git-credential-gitlab: carriage return inside a value (refused: CVE-2024-52006)"]


def test_unknown_host_get_imports_nothing_heavy(tmp_path):
    credhelper("add", "gitlab.example.com", "--no-check", input="glpat-unknownhostunknownhost")
    out, modules = imported_modules(tmp_path, "protocol=https\nhost=unknown.example\n\n")
    assert out == ""
    assert modules.isdisjoint(FAST), sorted(modules.intersection(FAST))


def test_other_launchers_set_up_site_first(tmp_path):
    """Every other executable runs its full path after site's set-up (the venv's packages,
    their .pth files), as a normal start would."""
    out, modules = launched(tmp_path, "run_docker", "version")
    assert out.startswith("docker-credential-gitlab (credhelper) ") and "site" in modules
    out, _ = launched(tmp_path, "run_credhelper", "version")
    assert out.startswith("credhelper")


def test_docker_helper_answers_version():
    done = run("docker-credential-gitlab", "version")
    assert done.stdout.startswith("docker-credential-gitlab (credhelper) ")


def test_bin_executables_work_from_a_checkout():
    """bin/ runs with whatever python3 is on PATH, importing the package beside it."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    credhelper("add", "gitlab.example.com", input="glpat-checkoutcheckoutcheckout")
    done = run(os.path.join(root, "bin", "git-credential-gitlab"), "get",
               input="protocol=https\nhost=gitlab.example.com\n")
    assert done.stdout == "username=oauth2\npassword=glpat-checkoutcheckoutcheckout\n"
    assert run(os.path.join(root, "bin", "credhelper"), "version").stdout.startswith("credhelper")
    assert "docker-credential-gitlab" in run(os.path.join(root, "bin", "docker-credential-gitlab"),
                                             "version").stdout


def test_docker_get_imports_nothing_heavy(gitlab, gitlab_host, tmp_path):
    token = gitlab.state.create_pat("alice", ["read_registry"]).token
    credhelper("add", gitlab_host, "--registry", "registry.example.test", input=token)
    out, modules = launched(tmp_path, "run_docker", "get", input="registry.example.test")
    assert '"Secret": "%s"' % token in out
    assert modules.isdisjoint(HEAVY), sorted(modules.intersection(HEAVY))


def test_keyring_store_get_reads_the_secret_service_without_keyring(gitlab, gitlab_host,
                                                                    secret_service,
                                                                    monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, "--store", "keyring", input=token)
    out, modules = imported_modules(tmp_path, "protocol=https\nhost=%s\n\n" % gitlab_host)
    assert "password=%s" % token in out
    assert modules.isdisjoint(FAST), sorted(modules.intersection(FAST))
