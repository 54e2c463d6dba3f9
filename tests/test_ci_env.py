"""Inside a GitLab CI job the helper serves the job's own credentials with no set-up."""

import pytest

from tests.conftest import run

JOB = "glcbt-64_jobtokenjobtokenjobtoken"


def get(host, username=None, protocol="https"):
    text = "protocol=%s\nhost=%s\n%s" % (protocol, host,
                                         "username=%s\n" % username if username else "")
    return run("git-credential-gitlab", "get", input=text, check=False).stdout


def test_job_token_for_the_ci_server_only(monkeypatch):
    monkeypatch.setenv("CI_SERVER_URL", "https://gitlab.example.com:8443")
    monkeypatch.setenv("CI_JOB_TOKEN", JOB)
    assert get("gitlab.example.com:8443") == "username=gitlab-ci-token\npassword=%s\n" % JOB
    assert get("gitlab.example.com") == ""
    assert get("gitlab.example.com:8443.evil.test") == ""
    assert get("gitlab.example.com:8443", protocol="http") == ""
    assert get("gitlab.example.com:8443", username="someone") == ""


def test_ci_server_host_and_port_variables(monkeypatch):
    monkeypatch.setenv("CI_SERVER_HOST", "gitlab.example.com")
    monkeypatch.setenv("CI_SERVER_PORT", "443")
    monkeypatch.setenv("CI_JOB_TOKEN", JOB)
    assert "password=%s" % JOB in get("gitlab.example.com")


def test_deploy_credentials_come_before_the_job_token(monkeypatch):
    monkeypatch.setenv("CI_SERVER_URL", "https://gitlab.example.com")
    monkeypatch.setenv("CI_JOB_TOKEN", JOB)
    monkeypatch.setenv("CI_DEPLOY_USER", "gitlab+deploy-token-3")
    monkeypatch.setenv("CI_DEPLOY_PASSWORD", "gldt-cideploycideploycideploy")
    assert get("gitlab.example.com") == ("username=gitlab+deploy-token-3\n"
                                         "password=gldt-cideploycideploycideploy\n")
    assert "password=%s" % JOB in get("gitlab.example.com", username="gitlab-ci-token")


def test_registry_credentials_for_the_registry_host(monkeypatch):
    monkeypatch.setenv("GITLAB_CI", "true")        # in a real job (ci_env.job_present)
    monkeypatch.setenv("CI_SERVER_URL", "https://gitlab.example.com")
    monkeypatch.setenv("CI_JOB_TOKEN", JOB)
    monkeypatch.setenv("CI_REGISTRY", "registry.example.com:5050")
    monkeypatch.setenv("CI_REGISTRY_USER", "gitlab-ci-token")
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", JOB)
    assert "password=%s" % JOB in get("registry.example.com:5050")
    assert get("registry.example.com") == ""


@pytest.mark.parametrize("url", ["not a url", "https://bad host/", "https://h:99999"])
def test_malformed_ci_variables_mean_nothing_is_served(monkeypatch, url):
    monkeypatch.setenv("CI_SERVER_URL", url)
    monkeypatch.setenv("CI_JOB_TOKEN", JOB)
    assert get("gitlab.example.com") == ""
