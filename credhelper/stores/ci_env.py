"""Credentials a GitLab CI job already has, served with no set-up.

Inside a job GitLab sets ``CI_SERVER_URL`` (or ``CI_SERVER_HOST``/``CI_SERVER_PORT``),
``CI_JOB_TOKEN`` (username ``gitlab-ci-token``, valid while the job runs), and where a deploy
token called ``gitlab-deploy-token`` exists, ``CI_DEPLOY_USER``/``CI_DEPLOY_PASSWORD``; the
registry gets ``CI_REGISTRY``, ``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD``.  The records
made here name the variable that holds the secret, never the secret; they live only in memory.
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
    if registry and environ.get("CI_REGISTRY_USER") and environ.get("CI_REGISTRY_PASSWORD"):
        found.append(TokenRecord(
            id="ci-registry", host=registry, kind=JOB, username=environ["CI_REGISTRY_USER"],
            registry=registry, store="env", origin=CI_ENV,
            extra={"variable": "CI_REGISTRY_PASSWORD"}))
    return found


def secret(record: TokenRecord, environ: Mapping[str, str]) -> str | None:
    return environ.get(record.extra.get("variable", ""), "") or None
