"""The `get` hot path loads nothing heavy: measured by what the real executable imports (the
latency itself is measured by benchmarks/hot_path.py, not by a timed test)."""

import shutil
import sys

from tests.conftest import credhelper, run

HEAVY = ("requests", "jwt", "cryptography", "keyring", "platformdirs", "tomllib", "dataclasses",
         "urllib3", "secretstorage", "jeepney", "argparse", "typing")


def imported_modules(stdin):
    helper = shutil.which("git-credential-gitlab")
    done = run(sys.executable, "-X", "importtime", helper, "get", input=stdin)
    names = [line.split("|")[-1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:")]
    return done.stdout, {name.split(".")[0] for name in names}


def test_file_store_get_imports_nothing_heavy(gitlab, gitlab_host):
    """A checked, fresh token: the everyday `get`."""
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, input=token)
    out, modules = imported_modules("protocol=https\nhost=%s\n\n" % gitlab_host)
    assert "password=%s" % token in out     # it really answered
    assert modules.isdisjoint(HEAVY), sorted(modules.intersection(HEAVY))


def test_unknown_host_get_imports_nothing_heavy():
    out, modules = imported_modules("protocol=https\nhost=unknown.example\n\n")
    assert out == ""
    assert modules.isdisjoint(HEAVY), sorted(modules.intersection(HEAVY))


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


def test_docker_get_imports_nothing_heavy(gitlab, gitlab_host):
    token = gitlab.state.create_pat("alice", ["read_registry"]).token
    credhelper("add", gitlab_host, "--registry", "registry.example.test", input=token)
    helper = shutil.which("docker-credential-gitlab")
    done = run(sys.executable, "-X", "importtime", helper, "get", input="registry.example.test")
    modules = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
               if line.startswith("import time:")}
    assert '"Secret": "%s"' % token in done.stdout
    assert modules.isdisjoint(HEAVY), sorted(modules.intersection(HEAVY))


def test_keyring_store_get_reads_the_secret_service_without_keyring(gitlab, gitlab_host,
                                                                    secret_service,
                                                                    monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service["DBUS_SESSION_BUS_ADDRESS"])
    token = gitlab.state.create_pat("alice", ["read_repository"]).token
    credhelper("add", gitlab_host, "--store", "keyring", input=token)
    out, modules = imported_modules("protocol=https\nhost=%s\n\n" % gitlab_host)
    assert "password=%s" % token in out
    heavy = set(HEAVY) - {"jeepney", "typing"}   # jeepney (the D-Bus client) uses typing
    assert modules.isdisjoint(heavy), sorted(modules.intersection(heavy))
