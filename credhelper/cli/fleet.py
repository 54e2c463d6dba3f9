"""`credhelper fleet publish|join|show`: one token shared by many machines, kept in OpenBao
(credhelper/fleet/; README, "Fleets").

    credhelper fleet publish HOST --addr URL --record PATH [--mount M] LOGIN [--replace]
    credhelper fleet join HOST --addr URL --record PATH [--mount M] LOGIN
    credhelper fleet show HOST [--json]

LOGIN is ``--token-file FILE``, ``--role-id ID --secret-id-file FILE``, or ``--jwt-role ROLE
[--id-token-env VAR]`` (a GitLab CI job's ID token).  ``publish`` puts
the token this machine has for HOST (``credhelper add`` first) into a new record, or with
``--replace`` over the record's current token (after a lost rotation); ``join`` copies the
record's token into this machine's store.  Both mark the local token shared: from then on
it rotates only through the fleet's lease.  ``show`` prints the record without the secret.
"""

from __future__ import annotations

from credhelper.errors import CredhelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from credhelper.cli.common import Commands
    from credhelper.fleet.store import FleetStore, Snapshot
    from credhelper.rules.model import TokenRecord
    from credhelper.service import Service


def register(commands: Commands) -> None:
    from credhelper.cli.common import help_handler

    fleet = commands.add_parser("fleet", help="share one token among many machines through "
                                "OpenBao (publish, join, show)")
    actions = fleet.add_subparsers(metavar="ACTION")
    for name, text in (("publish", "put this machine's token for HOST into OpenBao"),
                       ("join", "take HOST's token from OpenBao into this machine's store"),
                       ("show", "the fleet record of HOST's shared token, without the secret")):
        action = actions.add_parser(name, help=text)
        action.add_argument("host", metavar="HOST")
        action.add_argument("--path", metavar="PREFIX", help="the token's path on HOST")
        action.add_argument("--addr", metavar="URL", help="OpenBao's address")
        action.add_argument("--record", metavar="PATH", help="the record's path in the mount")
        action.add_argument("--mount", metavar="MOUNT", default="secret",
                            help="the KV v2 mount (default: secret)")
        action.add_argument("--token-file", metavar="FILE")
        action.add_argument("--role-id", metavar="ID")
        action.add_argument("--secret-id-file", metavar="FILE")
        action.add_argument("--jwt-role", metavar="ROLE",
                            help="log in with the CI job's ID token (OpenBao's JWT auth)")
        action.add_argument("--id-token-env", metavar="VAR",
                            help="the variable holding the ID token (default BAO_ID_TOKEN)")
        action.add_argument("--ca-file", metavar="FILE", help="CA bundle for OpenBao's TLS")
        action.set_defaults(handler=run, action=name)
    actions.choices["publish"].add_argument("--replace", action="store_true",
                                            help="write over the record's current token")
    actions.choices["show"].add_argument("--json", action="store_true")
    fleet.set_defaults(handler=help_handler(fleet))


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.service import Service

    service = Service()
    host = accounts.host_argument(args.host)
    handler = {"publish": publish, "join": join, "show": show}[args.action]
    handler(service, host, args)
    return 0


def link_from(args: argparse.Namespace) -> dict[str, Any]:
    from credhelper.fleet.auth import auth_options

    if not args.addr or not args.record:
        raise CredhelperError("name the fleet record with --addr URL --record PATH")
    if not args.addr.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise CredhelperError("--addr must be https:// (plain http only on this machine)")
    link: dict[str, Any] = {"addr": args.addr.rstrip("/"), "mount": args.mount,
                            "path": args.record.strip("/"),
                            "auth": auth_options(args.token_file, args.role_id,
                                                 args.secret_id_file, args.jwt_role,
                                                 args.id_token_env)}
    if args.ca_file:
        import os

        link["ca_file"] = os.path.abspath(args.ca_file)
    return link


def local_token(service: Service, host: str, path: str | None) -> TokenRecord | None:
    from credhelper import accounts
    from credhelper.rules.model import ADDED, PAT

    found = [r for r in accounts.select(service.tokens.load(), host, path)
             if r.kind == PAT and r.origin == ADDED]
    if len(found) > 1:
        raise CredhelperError("%d access tokens for %s: give --path" % (len(found), host))
    return found[0] if found else None


def publish(service: Service, host: str, args: argparse.Namespace) -> None:
    from credhelper.fleet import LINK
    from credhelper.fleet.follow import record_data
    from credhelper.fleet.store import Conflict, FleetStore

    record = local_token(service, host, args.path)
    secret = service.secret(record) if record is not None else None
    if record is None or secret is None:
        raise CredhelperError("no access token for %s on this machine: credhelper add %s first"
                              % (host, host))
    link = link_from(args)
    store = FleetStore(link)
    current = store.read() if args.replace else None
    try:
        written = store.write(record_data(record, secret, None),
                              cas=current.version if current is not None else 0)
    except Conflict:
        raise CredhelperError("%s already holds a fleet record: join it (credhelper fleet join "
                              "%s ...), or write over its token with --replace"
                              % (store.where, host)) from None
    link["version"] = written.version
    service.tokens.update(lambda records: [
        r.replace(extra=dict(without_link(r), **{LINK: link})) if r.id == record.id else r
        for r in records])
    print("Published %s for %s to %s (version %d); this machine's copy is shared now"
          % (record.hint, host, store.where, written.version))


def without_link(record: TokenRecord) -> dict[str, Any]:
    from credhelper.fleet import LINK

    return {key: value for key, value in record.extra.items() if key != LINK}


def join(service: Service, host: str, args: argparse.Namespace) -> None:
    from credhelper.fleet.store import FleetStore

    link = link_from(args)
    store = FleetStore(link)
    snapshot = store.read()
    if snapshot is None or snapshot.token is None:
        raise CredhelperError("no fleet record at %s: publish one first" % store.where)
    if snapshot.data.get("host") != host:
        raise CredhelperError("the fleet record %s is for %s, not %s"
                              % (store.where, snapshot.data.get("host"), host))
    record = joined_record(service, host, args.path, snapshot, dict(link,
                                                                   version=snapshot.version))
    service.register(record, snapshot.token)
    print("Joined %s: %s for %s (version %d)" % (store.where, record.hint, host,
                                                 snapshot.version))


def joined_record(service: Service, host: str, path: str | None, snapshot: Snapshot,
                  link: dict[str, Any]) -> TokenRecord:
    from credhelper.cli.add import build_record
    from credhelper.fleet import LINK
    from credhelper.fleet.follow import facts_of
    from credhelper.rules import freshness

    assert snapshot.token is not None
    now = service.clock()
    store_name, backend = service.default_store()
    extra: dict[str, Any] = {LINK: link}
    if backend:
        extra["backend"] = backend
    if isinstance(snapshot.data.get("rotated_at"), int):
        extra["rotated_at"] = snapshot.data["rotated_at"]
    record = build_record(host, snapshot.token, kind="pat", path=path).replace(
        store=store_name, checked_at=int(now), config_mtime=service.settings.changed_at(),
        extra=extra, **facts_of(snapshot))
    return record.replace(next_check_at=freshness.next_check_at(
        record, now, service.settings.policy(host)))


def show(service: Service, host: str, args: argparse.Namespace) -> None:
    from credhelper.fleet.follow import link_of
    from credhelper.fleet.store import FleetStore

    record = local_token(service, host, args.path)
    link = link_of(record) if record is not None else {}
    store = FleetStore(link or link_from(args))
    snapshot = store.read()
    if snapshot is None:
        raise CredhelperError("no fleet record at %s" % store.where)
    print_record(store, snapshot, args.json)


def print_record(store: FleetStore, snapshot: Snapshot, as_json: bool) -> None:
    import json

    from credhelper.rules.redact import redact, scrub

    shown = {key: value for key, value in snapshot.data.items() if key != "token"}
    shown.update(version=snapshot.version, token=redact(snapshot.token), record=store.where)
    if as_json:
        print(scrub(json.dumps(shown, sort_keys=True)))
        return
    for key in sorted(shown):
        print(scrub("%-11s %s" % (key, "-" if shown[key] is None else
                                  json.dumps(shown[key]) if isinstance(shown[key], dict)
                                  else shown[key])))
