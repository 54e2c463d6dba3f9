"""The last step of `credhelper login` and `add`: git set up for the host, as `credhelper setup
git HOST` does, and docker for the registries known to be served with the host's tokens
(``--registry``, the config's ``registry``, a well-known one such as registry.gitlab.com), as
`setup docker` does; one line per file changed, nothing when all was set up already.

Not done with ``--no-setup``, and not for a CI job token or inside a CI job (``CI`` or
``GITLAB_CI`` set): there HOME is often the runner's, shared by every job it runs, and a job
that wants git set up says so with `credhelper setup git`.  The token is stored before this
step, so a client configuration that cannot be written is one line saying what to run, not
a failed `add`.
"""

from __future__ import annotations

import os

from credhelper.errors import CredhelperError
from credhelper.rules.model import JOB

TYPE_CHECKING = False
if TYPE_CHECKING:
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service


def skipped(record: TokenRecord, no_setup: bool) -> bool:
    return no_setup or record.kind == JOB or bool(os.environ.get("CI")
                                                  or os.environ.get("GITLAB_CI"))


def set_up(service: Service, record: TokenRecord, no_setup: bool = False) -> None:
    from credhelper.clientconfig import git as gitconfig

    host = record.host
    if skipped(record, no_setup):
        if not gitconfig.helpers_for(host):
            print("Next: credhelper setup git %s" % host)
        return
    _git(service, host)
    _docker(service, host)


def _git(service: Service, host: str) -> None:
    from credhelper.clientconfig import git as gitconfig
    from credhelper.clientconfig.undo import report

    by_path = any(r.host == host and r.path for r in service.tokens.load())
    try:
        changes = gitconfig.configure(host, use_http_path=by_path)
    except CredhelperError as error:
        print("git is not set up for %s (%s); then run: credhelper setup git %s"
              % (host, error, host))
        return
    report(gitconfig.global_file(), changes)


def _docker(service: Service, host: str) -> None:
    from credhelper.clientconfig import docker
    from credhelper.clientconfig.undo import report
    from credhelper.rules import container_registries as registries

    served = registries.served_registries(service.tokens.load(), service.config())
    wanted = sorted(r for r, (owner, why) in served.items()
                    if owner == host and why != registries.PROOF_NEEDED)
    if not wanted:
        return
    try:
        changes = docker.configure(wanted, host)
    except CredhelperError as error:
        print("docker is not set up for %s (%s); then run: credhelper setup docker"
              % (", ".join(wanted), error))
        return
    report(docker.config_path(), changes)
