"""``docker-credential-gitlab``: docker's credential helper protocol.

Only ``version`` is answered so far; the other actions come with the docker issue.  Errors go
to stdout with exit 1, as docker's protocol wants.
"""

import sys

from .. import __version__

NOT_FOUND = "credentials not found in native keychain"


def main(argv=None, stdout=None):
    argv = sys.argv[1:] if argv is None else argv
    stdout = stdout or sys.stdout
    if argv == ["version"]:
        stdout.write("docker-credential-gitlab (credhelper) %s\n" % __version__)
        return 0
    if len(argv) == 1 and argv[0] in ("get", "erase", "list"):
        # Nothing is served yet: "not found" lets docker carry on without credentials.
        sys.stdin.read(65536)
        stdout.write("{}\n" if argv[0] == "list" else NOT_FOUND + "\n")
        return 0 if argv[0] == "list" else 1
    stdout.write("Usage: docker-credential-gitlab <store|get|erase|list|version>\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
