"""Credentials a GitLab CI job already has, served with no set-up.

Inside a job GitLab sets ``CI_SERVER_URL`` (or ``CI_SERVER_HOST``/``CI_SERVER_PORT``),
``CI_JOB_TOKEN`` (username ``gitlab-ci-token``, valid while the job runs), and where a deploy
token called ``gitlab-deploy-token`` exists, ``CI_DEPLOY_USER``/``CI_DEPLOY_PASSWORD``; the
registry gets ``CI_REGISTRY``, ``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD``.  The records
made here name the variable that holds the secret, never the secret; they live only in memory.

``CI_REGISTRY`` gets records of its own, holding only those job variables, and only inside a
real job (``job_present``): such variables also turn up outside jobs (local CI emulation,
Makefiles, shell runners), and a host named by a variable must never receive a token the
user added (docs/gitlab.md#container-registry).
"""

from __future__ import annotations

from credhelper.errors import CredhelperError
from credhelper.rules.hosts import normalise_host
from credhelper.rules.model import CI_ENV, DEPLOY, JOB, JOB_USERNAME, TokenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def server_host(environ: Mapping[str, str]) -> str | None:
    url = environ.get("CI_SERVER_URL", "")
    if url.startswith("https://") or url.startswith("http://"):
        from credhelper.rules.urls import parse_url  # strict: the one URL parser

        return parse_url(url)[2]
    host = environ.get("CI_SERVER_HOST")
    if host:
        port = environ.get("CI_SERVER_PORT")
        return normalise_host("%s:%s" % (host, port) if port else host)
    return None


def job_present(environ: Mapping[str, str]) -> bool:
    """Is this really a GitLab CI job?  GitLab sets ``GITLAB_CI=true`` and ``CI_JOB_TOKEN`` in
    every job, and ``CI_SERVER_HOST``/``CI_SERVER_PORT`` agreeing with ``CI_SERVER_URL``."""
    if environ.get("GITLAB_CI") != "true" or not environ.get("CI_JOB_TOKEN"):
        return False
    try:
        server = server_host(environ)
        parts = {k: environ[k] for k in ("CI_SERVER_HOST", "CI_SERVER_PORT") if k in environ}
        named = server_host(parts) if parts else server
    except CredhelperError:
        return False
    return server is not None and named == server


def records(environ: Mapping[str, str]) -> list[TokenRecord]:
    """The CI job's credentials as records (store ``env``), best first; [] outside a job."""
    if not environ.get("CI_JOB_TOKEN") and not environ.get("CI_DEPLOY_PASSWORD"):
        return []
    try:
        host = server_host(environ)
        registry = environ.get("CI_REGISTRY")
        registry = normalise_host(registry) if registry else None
    except CredhelperError:
        return []  # a malformed CI variable: behave as outside a job rather than fail git
    if host is None:
        return []
    found = _job_records(environ, host, registry)
    if registry and registry != host and job_present(environ):
        found += _registry_records(environ, registry)
    return found


def _job_records(environ: Mapping[str, str], host: str, registry: str | None
                 ) -> list[TokenRecord]:
    found = []
    if environ.get("CI_DEPLOY_USER") and environ.get("CI_DEPLOY_PASSWORD"):
        found.append(TokenRecord(
            id="ci-deploy", host=host, kind=DEPLOY, username=environ["CI_DEPLOY_USER"],
            registry=registry, store="env", origin=CI_ENV,
            extra={"variable": "CI_DEPLOY_PASSWORD"}))
    if environ.get("CI_JOB_TOKEN"):
        found.append(TokenRecord(
            id="ci-job", host=host, kind=JOB, username=JOB_USERNAME, registry=registry,
            store="env", origin=CI_ENV, extra={"variable": "CI_JOB_TOKEN"}))
    return found


def _registry_records(environ: Mapping[str, str], registry: str) -> list[TokenRecord]:
    """What the job has for ``CI_REGISTRY``: ``CI_REGISTRY_USER``/``PASSWORD`` (GitLab's
    credentials for it), else the job's deploy and job tokens under that host."""
    if environ.get("CI_REGISTRY_USER") and environ.get("CI_REGISTRY_PASSWORD"):
        return [TokenRecord(
            id="ci-registry", host=registry, kind=JOB, username=environ["CI_REGISTRY_USER"],
            registry=registry, store="env", origin=CI_ENV,
            extra={"variable": "CI_REGISTRY_PASSWORD"})]
    return [r.replace(id=r.id + "-registry") for r in _job_records(environ, registry, registry)]


def secret(record: TokenRecord, environ: Mapping[str, str]) -> str | None:
    return environ.get(record.extra.get("variable", ""), "") or None
