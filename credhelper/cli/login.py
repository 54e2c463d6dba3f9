"""`credhelper login HOST`: sign in and keep a token that renews itself, three ways.

- ``--browser``: OAuth authorization code with PKCE through the person's browser and a
  one-shot loopback redirect (gitlab/oauth_flows.py, local/loopback.py); when no browser
  opens, the person pastes the address the browser was sent back to.
- ``--device``: the OAuth device authorization grant, for SSH sessions and containers: a URL
  and a code to type into any browser.
- ``--pat``: a guided personal access token (cli/login_pat.py).

Without one of them: OAuth when an application is known for the host (``--client-id``,
``client_id`` in its config table, or the one of the host's OAuth token), in the browser
unless this looks like an SSH session or a machine without a display; else the guided token.
The OAuth token is stored as `credhelper add --kind oauth --refresh-token --client-id ID`
stores it (cli/add.py), so the existing refresh carries it on (lifecycle/renewal.py).
Prompts and instructions go to stderr.
"""

from __future__ import annotations

import re
import sys

from credhelper.errors import CredhelperError, InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from credhelper.cli.common import Commands
    from credhelper.gitlab.client import GitLabClient
    from credhelper.service import Service

# git over HTTPS, and the owner's name (read_user) so the account is named (README, "Log in")
OAUTH_SCOPES = ("read_repository", "write_repository", "read_user")
BROWSER_WAIT = 300          # seconds the browser sign-in may take
CALL_TIMEOUT = 30.0
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,255}$")


def register(commands: Commands) -> None:
    login = commands.add_parser("login", help="sign in to a GitLab host: OAuth in the browser "
                                "or with a device code, or a guided personal access token")
    login.add_argument("host", metavar="HOST", help="e.g. gitlab.example.com or host:port")
    how = login.add_mutually_exclusive_group()
    how.add_argument("--browser", dest="method", action="store_const", const="browser",
                     help="OAuth in this machine's browser (PKCE, loopback redirect)")
    how.add_argument("--device", dest="method", action="store_const", const="device",
                     help="OAuth with a code typed into any browser (SSH sessions, containers)")
    how.add_argument("--pat", dest="method", action="store_const", const="pat",
                     help="create a personal access token on a pre-filled page and paste it")
    login.add_argument("--client-id", metavar="ID", help="the OAuth application's id (default: "
                       "client_id in the host's config table)")
    login.add_argument("--scopes", metavar="LIST", help="scopes to ask for (default: OAuth "
                       "%s; token %s)" % (",".join(OAUTH_SCOPES), "read/write repository and "
                                          "registry, self_rotate"))
    login.add_argument("--store", choices=("keyring", "file"),
                       help="default: the config's store (auto: keyring when usable, else file)")
    from credhelper.cli.add import add_no_setup

    add_no_setup(login)
    login.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper import accounts
    from credhelper.service import Service

    host = accounts.host_argument(args.host)
    service = Service()
    client_id = args.client_id or service.config().host(host).client_id or known_client_id(
        service, host)
    method = args.method or default_method(client_id)
    if method == "pat":
        from credhelper.cli.login_pat import guided_pat

        if not args.method:
            tell("No OAuth application is set for %s (--client-id, or client_id in its config "
                 "table), so: a personal access token" % host)
        return guided_pat(service, host, args.scopes, args.store, args.no_setup)
    if not client_id:
        raise InvalidInput("OAuth needs the id of an OAuth application on %s: pass --client-id "
                           "ID or set client_id in its config table (README, \"Log in\"); or "
                           "use --pat" % host)
    if not _CLIENT_ID.match(client_id):
        raise InvalidInput("the client id takes letters, digits and . _ ~ - only")
    scopes = " ".join(oauth_scopes(args.scopes))
    client = login_client(service, host)
    from credhelper.gitlab import oauth_flows

    if method == "device":
        answer = oauth_flows.device_login(client, host, client_id, scopes, tell)
    else:
        answer = browser_login(client, host, client_id, scopes)
    store_oauth(service, host, client_id, answer, args.store, args.no_setup)
    return 0


def known_client_id(service: Service, host: str) -> str | None:
    """The application an earlier login on ``host`` used: ``--client-id`` is given once."""
    found = [r.client_id for r in service.tokens.load() if r.host == host and r.client_id]
    return found[-1] if found else None


def default_method(client_id: str | None) -> str:
    """The browser where one can open here, the device code in an SSH session or on a
    machine without a display, the guided token without an OAuth application."""
    import os

    if not client_id:
        return "pat"
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        return "device"
    if sys.platform.startswith("linux") and not any(
            os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")):
        return "device"
    return "browser"


def oauth_scopes(text: str | None) -> list[str]:
    if text is None:
        return list(OAUTH_SCOPES)
    from credhelper.lifecycle.facts import is_scope_name

    names = [s for s in re.split(r"[\s,]+", text) if s]
    if not names or not all(is_scope_name(s) for s in names):
        raise InvalidInput("--scopes takes names like read_repository,write_repository")
    return names


def tell(text: str) -> None:
    """Instructions for the person at the terminal (stderr: stdout stays for the summary)."""
    print(text, file=sys.stderr, flush=True)


def prompt_line(text: str) -> str:
    """One visible line typed (or pasted) by the person; Ctrl-D cancels the login."""
    sys.stderr.write(text)
    sys.stderr.flush()
    try:
        line = sys.stdin.readline() if sys.stdin else ""
    except KeyboardInterrupt:
        sys.stderr.write("\n")          # the interruption's line starts a line of its own
        raise
    if not line:
        raise cancelled()
    return line.strip()


def cancelled() -> CredhelperError:
    """Ctrl-D at a prompt: the same words as the token prompt's (cli/common.prompted)."""
    from credhelper.errors import Cancelled

    return Cancelled("cancelled (end of input at the prompt); nothing was stored")


def login_client(service: Service, host: str) -> GitLabClient:
    """A client for the host's OAuth endpoints, with its API origin and CA trust as every
    other call of the host has them (lifecycle/clients.py)."""
    from credhelper.gitlab.client import GitLabClient
    from credhelper.lifecycle.clients import destinations_of, trust_of
    from credhelper.rules.model import OAUTH, TokenRecord

    record = TokenRecord(id="login", host=host, kind=OAUTH)
    base_url, api_url = destinations_of(record, service.config().host(host))
    return GitLabClient(base_url, api_url, trust=trust_of(record, service.settings),
                        timeout=CALL_TIMEOUT)


def browser_login(client: GitLabClient, host: str, client_id: str, scopes: str
                  ) -> dict[str, Any]:
    """PKCE and a random state, the browser sent to GitLab's consent page, its answer taken
    by the one-shot listener (or pasted), the code exchanged for the tokens."""
    import secrets

    from credhelper.gitlab import oauth_flows
    from credhelper.local.loopback import OneShot, open_browser

    verifier, challenge = oauth_flows.pkce()
    state = secrets.token_urlsafe(24)
    listener = OneShot()
    url = oauth_flows.authorize_url(client.base_url, client_id, listener.redirect_uri, scopes,
                                    state, challenge)
    tell("Opening the browser to sign in to %s (waiting up to %d minutes; Ctrl-C stops); if "
         "it does not open, visit:\n  %s" % (host, BROWSER_WAIT // 60, url))
    opened = open_browser(url)
    target = listener.wait(BROWSER_WAIT, lambda: opened() is False)
    if target is None:
        if opened() is not False:
            raise oauth_flows.LoginFailed("no answer from the browser within %d minutes; "
                                          "nothing was stored" % (BROWSER_WAIT // 60))
        tell("No browser opened here. Open this address in a browser and approve:\n  %s\n"
             "The browser is then sent to %s?code=... (which may not load): copy that address "
             "from its address bar." % (url, listener.redirect_uri))
        target = prompt_line("Address: ")
    code = oauth_flows.code_from_redirect(target, state, host)
    return oauth_flows.exchange_code(client, host, client_id, code, listener.redirect_uri,
                                     verifier)


def store_oauth(service: Service, host: str, client_id: str, answer: dict[str, Any],
                store: str | None, no_setup: bool = False) -> None:
    """Store the tokens of a sign-in as `add --kind oauth --refresh-token` does."""
    from credhelper.cli.add import build_record, store_checked
    from credhelper.gitlab.oauth_flows import token_pair
    from credhelper.rules.model import OAUTH

    access, refresh = token_pair(answer)
    record = build_record(host, access, OAUTH, today=service._today(),
                          client_id=client_id if refresh else None)
    store_checked(service, record, access, store, refresh, no_setup=no_setup)
    if refresh is None:
        service.warn("%s sent no refresh token: this OAuth token ends in two hours; sign in "
                     "again then" % host)
