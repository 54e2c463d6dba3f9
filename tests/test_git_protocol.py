"""git's credential protocol, in-process: parsing, emitting and every rule of docs/protocols.md."""

import io

import pytest

from credhelper.errors import ProtocolError
from credhelper.local.token_index import TokenIndex
from credhelper.protocols import git
from credhelper.rules.model import ADDED, DEPLOY, PAT, TokenRecord
from credhelper.service import Service
from credhelper.stores import MEMORY

TOKEN = "glpat-protocoltestprotocoltest"


def helper(tmp_path, records=(), secrets=None, environ=None, now=1_700_000_000):
    """A Service over a registry in tmp_path and the memory store."""
    registry = TokenIndex(str(tmp_path / "data"))
    from credhelper.stores import _memory

    _memory.clear()
    with registry.lock():
        registry.save(list(records))
    for record in records:
        _memory[record.id] = (secrets or {}).get(record.id, TOKEN)
    warnings = []
    from credhelper.local.config import Config

    service = Service(registry, environ={} if environ is None else environ,
                      clock=lambda: now, warn=warnings.append, config=Config())
    return service, warnings


def call(service, action, text):
    out = io.BytesIO()
    code = git.main([action], io.BytesIO(text if isinstance(text, bytes) else text.encode()),
                    out, service=service)
    return code, out.getvalue().decode()


def pat(host="gitlab.example.com", **fields):
    return TokenRecord(id=fields.pop("id", "pat1"), host=host, kind=PAT, store=MEMORY,
                       origin=ADDED, **fields)


# -- parsing -------------------------------------------------------------------------------

def test_parse_splits_on_lf_and_stops_at_blank_line():
    assert git.parse(b"protocol=https\nhost=a.example\n\nhost=b.example\n") == {
        "protocol": "https", "host": "a.example"}


def test_parse_strips_one_trailing_cr_only():
    assert git.parse(b"protocol=https\r\nhost=a.example\r\n") == {"protocol": "https",
                                                                  "host": "a.example"}


@pytest.mark.parametrize("line", [
    b"host=a.example\rhost=evil.example",          # Clone2Leak: a bare CR inside a value
    b"host=a.example\r\r",                         # two CRs: only one is a line ending
    b"host=a.example\0evil.example",               # NUL
    b"path=x\0",
])
def test_parse_refuses_cr_and_nul_inside_values(line):
    with pytest.raises(ProtocolError):
        git.parse(b"protocol=https\n" + line + b"\n")


def test_parse_refuses_overlong_lines_and_malformed_ones():
    with pytest.raises(ProtocolError, match="longer"):
        git.parse(b"path=" + b"a" * 65536 + b"\n")
    assert git.parse(b"path=" + b"a" * 65530 + b"\n")["path"] == "a" * 65530
    with pytest.raises(ProtocolError, match="key=value"):
        git.parse(b"protocol https\n")
    with pytest.raises(ProtocolError):
        git.parse(b"=value\n")
    with pytest.raises(ProtocolError, match="UTF-8"):
        git.parse(b"host=\xff\n")


def test_parse_keeps_unknown_keys_and_arrays_with_reset():
    parsed = git.parse(b"protocol=https\nhost=h\ncapability[]=authtype\nwwwauth[]=Basic a\n"
                       b"wwwauth[]=\nwwwauth[]=Bearer b\nfuture_key=1\n")
    assert parsed["wwwauth[]"] == ["Bearer b"]          # empty value resets the list
    assert parsed["capability[]"] == ["authtype"]
    assert parsed["future_key"] == "1"


def test_url_attribute_is_split_into_parts():
    parsed = git.parse(b"url=https://alice@gitlab.example.com:8443/group/project.git\n")
    assert parsed == {"protocol": "https", "host": "gitlab.example.com:8443",
                      "username": "alice", "path": "group/project.git"}


def test_emit_refuses_values_that_would_inject_lines():
    for bad in ("a\nhost=evil", "a\rb", "a\0b"):
        with pytest.raises(ProtocolError):
            git.emit({"password": bad})
    assert git.emit({"username": "u", "password": "p"}) == b"username=u\npassword=p\n"


# -- get -----------------------------------------------------------------------------------

def test_get_answers_for_a_known_host(tmp_path):
    service, _ = helper(tmp_path, [pat(expires_at="2030-01-02")])
    code, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\n\n")
    assert code == 0
    assert out == ("username=oauth2\npassword=%s\npassword_expiry_utc=1893542400\n" % TOKEN)


def test_get_omits_expiry_when_unknown(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    _, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\n")
    assert "password_expiry_utc" not in out and "password=%s" % TOKEN in out


@pytest.mark.parametrize("request_text", [
    "protocol=https\nhost=gitlab.example.com.evil.test\n",
    "protocol=https\nhost=evil.test\n",
    "protocol=https\nhost=example.com\n",
    "protocol=https\nhost=gitlab.example.com:8443\n",
    "protocol=http\nhost=gitlab.example.com\n",
    "protocol=ftp\nhost=gitlab.example.com\n",
    "host=gitlab.example.com\n",                      # no protocol: CVE-2020-11008
    "protocol=https\n",                               # no host
    "protocol=https\nhost=sub.gitlab.example.com\n",
    "url=https://gitlab.example.com.evil.test/x.git\n",
])
def test_get_never_answers_for_another_host_port_or_scheme(tmp_path, request_text):
    service, _ = helper(tmp_path, [pat()])
    code, out = call(service, "get", request_text)
    assert (code, out) == (0, "")


def test_get_host_comparison_is_normalised_not_textual(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    for host in ("GitLab.Example.com", "gitlab.example.com:443", "gitlab.example.com."):
        _, out = call(service, "get", "protocol=https\nhost=%s\n" % host)
        assert "password=%s" % TOKEN in out


def test_get_respects_the_username_git_already_has(tmp_path):
    deploy = TokenRecord(id="d1", host="gitlab.example.com", kind=DEPLOY, username="ci-reader",
                         store=MEMORY, origin=ADDED)
    service, _ = helper(tmp_path, [deploy], secrets={"d1": "gldt-deploysecretdeploysecret"})
    _, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\nusername=ci-reader\n")
    assert out == "username=ci-reader\npassword=gldt-deploysecretdeploysecret\n"
    _, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\nusername=someone\n")
    assert out == ""  # a deploy token only logs in under its own name


def test_get_with_a_username_serves_a_pat_under_that_name(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    _, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\nusername=alice\n")
    assert out.startswith("username=alice\npassword=%s\n" % TOKEN)


def test_get_refuses_injection_attempts_and_prints_nothing(tmp_path, capsys):
    service, _ = helper(tmp_path, [pat()])
    for text in (b"protocol=https\nhost=evil.test\rhost=gitlab.example.com\n",
                 b"protocol=https\nhost=gitlab.example.com\0\n"):
        code, out = call(service, "get", text)
        assert (code, out) == (1, "")
    assert "carriage return" in capsys.readouterr().err


def test_unknown_actions_are_ignored(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    assert call(service, "frobnicate", "protocol=https\nhost=gitlab.example.com\n") == (0, "")


def test_expired_token_is_not_served_and_the_user_is_told(tmp_path):
    # 2023-11-14 22:13 UTC; the token expired at 00:00 UTC that day
    service, warnings = helper(tmp_path, [pat(expires_at="2023-11-14")])
    assert call(service, "get", "protocol=https\nhost=gitlab.example.com\n") == (0, "")
    assert len(warnings) == 1 and "expired on 2023-11-14" in warnings[0]
    assert TOKEN not in warnings[0]


def test_token_is_served_until_midnight_utc_of_its_expiry_date(tmp_path):
    service, _ = helper(tmp_path, [pat(expires_at="2023-11-15")])  # now is 2023-11-14 22:13
    assert "password=" in call(service, "get", "protocol=https\nhost=gitlab.example.com\n")[1]


# -- store and erase -----------------------------------------------------------------------

def test_store_keeps_a_new_credential_for_a_known_host_only(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    call(service, "store", "protocol=https\nhost=gitlab.example.com\npath=other/project.git\n"
                           "username=bob\npassword=glpat-fromelsewherefromelsewhere\n")
    call(service, "store", "protocol=https\nhost=unknown.example\nusername=bob\npassword=x\n")
    records = service.tokens.load()
    assert [r.host for r in records] == ["gitlab.example.com", "gitlab.example.com"]
    stored = records[1]
    assert (stored.origin, stored.username, stored.path, stored.kind) == (
        "git", "bob", "other/project", "pat")
    _, out = call(service, "get", "protocol=https\nhost=gitlab.example.com\n"
                                  "path=other/project.git\nusername=bob\n")
    assert "glpat-fromelsewherefromelsewhere" in out


def test_store_of_our_own_answer_changes_nothing(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    before = service.tokens.load()
    call(service, "store", "protocol=https\nhost=gitlab.example.com\nusername=oauth2\n"
                           "password=%s\n" % TOKEN)
    assert service.tokens.load() == before


def test_erase_marks_an_added_token_for_recheck_and_keeps_it(tmp_path):
    service, warnings = helper(tmp_path, [pat()])
    call(service, "erase", "protocol=https\nhost=gitlab.example.com\nusername=oauth2\n"
                           "password=%s\n" % TOKEN)
    (record,) = service.tokens.load()
    assert record.state == "needs-check"
    assert "re-checked" in warnings[0] and TOKEN not in warnings[0]
    assert "password=%s" % TOKEN in call(service, "get",
                                         "protocol=https\nhost=gitlab.example.com\n")[1]


def test_erase_of_another_password_leaves_the_token_alone(tmp_path):
    service, warnings = helper(tmp_path, [pat()])
    call(service, "erase", "protocol=https\nhost=gitlab.example.com\nusername=oauth2\n"
                           "password=not-ours\n")
    assert service.tokens.load()[0].state == "ok" and warnings == []


def test_erase_forgets_what_git_stored(tmp_path):
    service, _ = helper(tmp_path, [pat()])
    text = ("protocol=https\nhost=gitlab.example.com\nusername=bob\n"
            "password=glpat-fromelsewherefromelsewhere\n")
    call(service, "store", text)
    call(service, "erase", text)
    assert [r.origin for r in service.tokens.load()] == ["added"]


def test_warnings_are_scrubbed_of_anything_token_shaped(capsys):
    from credhelper.service import warn

    warn("server said: bad glpat-leakedleakedleakedleak\nsecond line")
    err = capsys.readouterr().err
    assert "leakedleakedleak" not in err and err.count("\n") == 1 and "glpat-…leak" in err
