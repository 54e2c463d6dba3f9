"""README's package-manager steps, followed as README writes them (its code blocks are read
from README.md by tests/support/readme.py), with the real tools against the fake GitLab.

Terraform finds the helper only where README (and install.sh) put it; twine in a venv of its
own needs credhelper installed there.  cargo's steps are followed in tests/test_cargo_real.py."""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN, credhelper, write_config
from tests.support import readme
from tests.support.packages import publish_terraform_module

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(gitlab):
    path = "tf%s/infra" % uuid.uuid4().hex[:8]
    gitlab.state.add_project(path, members={"alice": "developer"})
    return gitlab.state.project(path)


def linked_like_install_sh(home):
    """install.sh's step 3: the helpers linked into ~/.local/bin (the venv is the test's)."""
    local_bin = home / ".local" / "bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for name in ("credhelper", "terraform-credentials-gitlab"):
        os.symlink(os.path.join(VENV_BIN, name), local_bin / name)
    return local_bin


def terraform_env(gitlab):
    """The user's shell: Terraform reads ~/.terraformrc (no TF_ variable of the machine's)
    and trusts the test CA as it would a self-managed instance's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SSL_CERT"))}
    env.update(SSL_CERT_FILE=gitlab.ca.ca_file, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
    return env


def terraform_init(gitlab, project, tmp_path, host):
    """``terraform init`` of a configuration using README's example module source."""
    example = "gitlab.example.com/group/net/aws"
    assert "`%s`" % example in readme.README.read_text()
    source = example.replace("gitlab.example.com", host).replace(
        "group", project.path.split("/")[0])
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text('module "net" {\n  source  = "%s"\n  version = "1.0.0"\n}\n'
                                  % source)
    done = subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=str(work),
                          env=terraform_env(gitlab), capture_output=True, text=True,
                          timeout=180)
    return done, work


def test_terraform_init_after_readme_steps(gitlab, project, tmp_path, home):
    publish_terraform_module(gitlab.state, project, "net", "aws", "1.0.0")
    host = "127.0.0.1:%d" % gitlab.port          # Terraform wants a dot in a registry host
    write_config(home, '[hosts."%s"]\nca_file = "%s"\n' % (host, gitlab.ca.ca_file))
    token = gitlab.state.create_pat("alice", ["read_api"]).token
    credhelper("add", host, input=token)
    linked_like_install_sh(home)

    readme.run_shell("# Terraform finds credentials helpers", terraform_env(gitlab))
    rc = readme.write_file(home, "# ~/.terraformrc")
    done, work = terraform_init(gitlab, project, tmp_path, host)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / ".terraform" / "modules" / "net" / "main.tf").exists()
    assert [r for r in gitlab.requests.carrying(token) if "/terraform/" in r.path]
    assert token not in done.stdout + done.stderr + rc.read_text()


def test_install_sh_links_the_terraform_helper_where_terraform_looks(tmp_path, home):
    """install.sh for real (into a venv that borrows the test venv's dependencies, so nothing
    is downloaded), twice: the plugin link is there, points at the venv's helper, and a
    re-run changes nothing and says no more."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    env = dict(os.environ, CREDHELPER_VENV=str(venv), CREDHELPER_BIN=str(home / "bin"))
    outputs = []
    for _ in range(2):
        done = subprocess.run(["bash", str(ROOT / "install.sh")], env=env, cwd=str(tmp_path),
                              capture_output=True, text=True, timeout=540)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    link = home / ".terraform.d" / "plugins" / "terraform-credentials-gitlab"
    assert os.readlink(link) == str(venv / "bin" / "terraform-credentials-gitlab")
    assert os.access(link, os.X_OK)
    assert "terraform-credentials-gitlab into %s" % link.parent in outputs[0]
    # the manual page and completion, from the installed parser, where man and the shells look
    data = home / ".local" / "share"
    page = data / "man" / "man1" / "credhelper.1"
    bash_completion = data / "bash-completion" / "completions" / "credhelper"
    assert page.read_text().startswith(".TH CREDHELPER 1")
    assert "complete -F _credhelper credhelper" in bash_completion.read_text()
    assert "%s %s" % (page, bash_completion) in outputs[0]
    shown = subprocess.run(["man", "credhelper"], env=dict(env, PATH="%s:%s" % (
        home / ".local" / "bin", os.environ["PATH"]), MANWIDTH="100"), capture_output=True,
        text=True, timeout=60)
    assert "credhelper add HOST" in shown.stdout, shown.stderr
    # the self-test's port differs from run to run; nothing else may
    first, second = (re.sub(r"[0-9]+", "N", output) for output in outputs)
    assert first == second and len(first.splitlines()) < 20, outputs


def test_twine_in_its_own_venv_uploads_after_readme_step(gitlab, tmp_path, home):
    """twine in a plain venv of its own (as pipx makes one) sees only that venv's keyring
    backends; after README's step its upload gets the token from credhelper."""
    from tests.support.packages import build_wheel
    from tests.test_package_managers import client_env

    host = "localhost:%d" % gitlab.port
    write_config(home, '[hosts."%s"]\nca_file = "%s"\n' % (host, gitlab.ca.ca_file))
    project = gitlab.state.add_project("twine%s/lib" % uuid.uuid4().hex[:8],
                                       members={"alice": "developer"})
    writer = gitlab.state.create_pat("alice", ["api"]).token
    credhelper("add", host, input=writer)
    env = client_env(gitlab, REQUESTS_CA_BUNDLE=gitlab.ca.ca_file)
    venv = home / "twine-venv"          # what README's step names: the user's own twine
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "twine"],
                   check=True, timeout=540)

    readme.run_shell("# twine in a plain venv", dict(os.environ), {"./credhelper": str(ROOT)},
                     timeout=540)
    name = "twine-own-venv-%s" % uuid.uuid4().hex[:6]
    dist = build_wheel(name, "1.0.0")
    (tmp_path / dist.filename).write_bytes(dist.data)
    done = subprocess.run([str(venv / "bin" / "twine"), "upload", "--non-interactive",
                           "--repository-url", gitlab.packages.pypi_upload_url(
                               "https://" + host, project.id),
                           "--username", "__token__", str(tmp_path / dist.filename)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert gitlab.state.find_package(project.path, "pypi", name, "1.0.0") is not None
    assert writer not in done.stdout + done.stderr
    listed = subprocess.run([str(venv / "bin" / "keyring"), "--list-backends"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "credhelper.protocols.keyring_backend.GitLabPackagesKeyring" in listed.stdout
