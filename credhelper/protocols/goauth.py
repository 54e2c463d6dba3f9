"""Go's ``GOAUTH`` command protocol (Go 1.24 and later): ``GOAUTH='credhelper goauth'``.

Go runs the command (with the URL it is about to fetch as an argument, when it has one) and
reads blocks of: URL-prefix lines, a blank line, HTTP header lines, a blank line.  Go sends
the headers of the longest matching prefix.  We print one block per GitLab host we know, for
``https://HOST/``, with Basic authentication (GitLab's Go proxy and go-get accept it).  With a
URL argument we print only the block for that URL's host.  The alternative is
``GOAUTH='git DIR'``, which reuses git's credential helpers, and so git-credential-gitlab.
"""

from __future__ import annotations

import base64
import sys

from credhelper.protocols import serve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from credhelper.service import Service

PROG = "credhelper goauth"


def blocks(service: Service, url: str | None = None) -> str:
    from credhelper.rules.model import ADDED, PACKAGES, Request
    from credhelper.rules.urls import parse_url

    hosts = sorted({r.host for r in service.tokens.load() if r.origin == ADDED})
    if url is not None:
        # a URL that clients could read as another host is refused (one line, exit 1)
        scheme, _, wanted, _ = parse_url(url if "://" in url else "https://" + url)
        hosts = [h for h in hosts if h == wanted and scheme == "https"]
    out = []
    for host in hosts:
        found = service.lookup(Request("https", host, operation="read", service=PACKAGES))
        if found is None:
            continue
        pair = ("%s:%s" % (found.username, found.secret)).encode()
        out.append("https://%s/\n\nAuthorization: Basic %s\n\n"
                   % (host, base64.b64encode(pair).decode("ascii")))
    return "".join(out)


def main(argv: list[str], stdout: TextIO | None = None, service: Service | None = None
         ) -> int:
    if len(argv) > 1:
        sys.stderr.write("usage: credhelper goauth [URL]\n")
        return 2
    url, out = argv[0] if argv else None, stdout or sys.stdout

    def answer(data: bytes, services: Callable[[], Service]) -> int:
        out.write(blocks(services(), url))
        return 0

    return serve(PROG, answer, service=service)
