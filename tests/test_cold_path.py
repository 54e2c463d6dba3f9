"""The `get` that goes to the network: every call of one run shares one connection to the
server (counted at the server, not by the client), and a `get` that makes no call imports
no HTTP or crypto library."""

import pytest

from tests.test_hot_path import launched
from tests.test_lifecycle_api import get, new_pat, served

pytestmark = pytest.mark.usefixtures("gitlab_restored")


def test_a_rotating_get_opens_one_tls_connection(gitlab, gitlab_host):
    """The check, the rotation and what follows them go over one TLS connection."""
    old = new_pat(gitlab, gitlab_host, expires_in_days=1, granted_days=30)
    logged = len(gitlab.requests.snapshot())
    accepted, handshakes = gitlab.connections()
    done = get(gitlab_host)
    assert served(done) not in (None, old.token)
    made = [(r.method, r.path) for r in gitlab.requests.snapshot()[logged:]]
    assert ("POST", "/api/v4/personal_access_tokens/self/rotate") in made and len(made) >= 2
    assert gitlab.connections() == (accepted + 1, handshakes + 1), made


NETWORK = ("requests", "urllib3", "cryptography", "jwt", "ssl", "http", "truststore")


@pytest.mark.parametrize("declined_for", ["plain http", "a CI job"])
def test_a_full_path_get_without_a_call_imports_no_network_library(
        gitlab, gitlab_host, home, tmp_path, monkeypatch, declined_for):
    """A fresh token the fast path declines (plain http, which the config decides; a CI job's
    variables, which join the index): the full path serves it from the files, and imports
    what only a call to GitLab needs only then."""
    config = home / ".config" / "credhelper" / "config.toml"
    config.write_text(config.read_text().replace("[hosts.\"%s\"]\n" % gitlab_host,
                                                 "[hosts.\"%s\"]\nallow_http = true\n"
                                                 % gitlab_host))
    token = new_pat(gitlab, gitlab_host, scopes=("read_repository",))
    logged = len(gitlab.requests.snapshot())
    if declined_for == "a CI job":
        monkeypatch.setenv("CI_JOB_TOKEN", "glcbt-64_notthisonenotthisone")
    done: list = []
    out, modules = launched(tmp_path, "run_git", "get", done=done, input="protocol=%s\nhost=%s\n\n"
                            % ("http" if declined_for == "plain http" else "https", gitlab_host))
    assert "site" in modules, (out, done[0].stderr[-2000:])     # the full path answered
    served = [line for line in out.splitlines() if line.startswith("password=")]
    assert served == ["password=" + token.token]
    assert len(gitlab.requests.snapshot()) == logged          # no call was made
    assert modules.isdisjoint(NETWORK), sorted(modules.intersection(NETWORK))
