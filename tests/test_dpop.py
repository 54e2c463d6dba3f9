"""DPoP: proofs signed with the user's SSH keys (files, encrypted files, ssh-agent), checked by
the fake GitLab as GitLab checks them, on every API call of a DPoP-bound token."""

import datetime
import itertools
import json
import subprocess

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from credhelper.gitlab import dpop, sshkeys
from tests.conftest import credhelper, run

PASSPHRASE = "correct horse battery"
_users = ("dpop-user-%d" % n for n in itertools.count())


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Real keys from ssh-keygen, of every type (and an encrypted and a PEM RSA key)."""
    directory = tmp_path_factory.mktemp("keys")

    def keygen(name, *options, passphrase=""):
        path = directory / name
        subprocess.run(["ssh-keygen", "-q", "-N", passphrase, "-C", name, "-f", str(path),
                        *options], check=True, stdin=subprocess.DEVNULL)
        return path
    return {
        "rsa": keygen("rsa", "-t", "rsa", "-b", "3072"),
        "rsa-other": keygen("rsa-other", "-t", "rsa", "-b", "3072"),
        "rsa-encrypted": keygen("rsa-encrypted", "-t", "rsa", "-b", "3072",
                                passphrase=PASSPHRASE),
        "rsa-pem": keygen("rsa-pem", "-t", "rsa", "-b", "3072", "-m", "PEM"),
        "rsa-small": keygen("rsa-small", "-t", "rsa", "-b", "1024"),
        "ed25519": keygen("ed25519", "-t", "ed25519"),
        "ecdsa-256": keygen("ecdsa-256", "-t", "ecdsa", "-b", "256"),
        "ecdsa-384": keygen("ecdsa-384", "-t", "ecdsa", "-b", "384"),
        "ecdsa-521": keygen("ecdsa-521", "-t", "ecdsa", "-b", "521"),
    }


@pytest.fixture
def askpass(tmp_path, monkeypatch):
    """An SSH_ASKPASS program that answers the passphrase (no terminal in tests)."""
    program = tmp_path / "askpass"
    program.write_text("#!/bin/sh\nprintf '%s\\n' \"$ASKPASS_ANSWER\"\n")
    program.chmod(0o700)
    monkeypatch.setenv("SSH_ASKPASS", str(program))
    monkeypatch.setenv("SSH_ASKPASS_REQUIRE", "force")
    monkeypatch.setenv("ASKPASS_ANSWER", PASSPHRASE)
    return program


@pytest.fixture
def agent(tmp_path, monkeypatch):
    """A real ssh-agent, started for the test and killed after it."""
    socket_path = tmp_path / "agent.sock"
    started = subprocess.run(["ssh-agent", "-s", "-a", str(socket_path)], capture_output=True,
                             text=True, check=True)
    pid = next(line.split("=", 1)[1].split(";")[0] for line in started.stdout.split("\n")
               if line.startswith("SSH_AGENT_PID="))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
    yield socket_path
    subprocess.run(["kill", pid])


def ssh_fingerprint(path):
    done = run("ssh-keygen", "-lf", "%s.pub" % path)
    return done.stdout.split()[1]


def public_key(path):
    return load_ssh_public_key(open("%s.pub" % path, "rb").read())


# -- keys and proofs, no server ----------------------------------------------------------------

@pytest.mark.parametrize("name, algorithm", [
    ("rsa", "RS512"), ("rsa-pem", "RS512"), ("ed25519", "EdDSA"), ("ecdsa-256", "ES256"),
    ("ecdsa-384", "ES384"), ("ecdsa-521", "ES512")])
def test_proofs_verify_and_fingerprints_match_ssh_keygen(keys, name, algorithm):
    key = sshkeys.load(str(keys[name]))
    assert key.algorithm == algorithm
    assert key.fingerprint == ssh_fingerprint(keys[name])
    proof = dpop.make_proof(key, "glpat-prooftoken", "post",
                            "https://gitlab.example.com/api/v4/x?y=1#z", 1_800_000_000)
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == algorithm
    assert header["kid"] == key.fingerprint and header["jwk"] == key.jwk
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(header["jwk"])   # public parts only
    claims = jwt.decode(proof, public_key(keys[name]), algorithms=[algorithm],
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["exp"] - claims["iat"] == 300
    assert claims["htm"] == "POST" and claims["htu"] == "https://gitlab.example.com/api/v4/x"
    assert claims["ath"] == dpop.token_hash("glpat-prooftoken") and len(claims["jti"]) >= 16


def test_encrypted_key_through_askpass_and_a_wrong_passphrase(keys, askpass, monkeypatch):
    key = sshkeys.load(str(keys["rsa-encrypted"]))
    assert key.fingerprint == ssh_fingerprint(keys["rsa-encrypted"])
    monkeypatch.setenv("ASKPASS_ANSWER", "wrong")
    with pytest.raises(sshkeys.SigningKeyError, match="wrong passphrase"):
        sshkeys.load(str(keys["rsa-encrypted"]))


def test_clear_errors_for_keys_that_cannot_sign(keys, tmp_path, monkeypatch):
    with pytest.raises(sshkeys.SigningKeyError, match="1024-bit RSA key; DPoP needs at least"):
        sshkeys.load(str(keys["rsa-small"]))
    junk = tmp_path / "junk"
    junk.write_text("not a key\n")
    with pytest.raises(sshkeys.SigningKeyError, match="not a private key|not a supported"):
        sshkeys.load(str(junk))
    with pytest.raises(sshkeys.SigningKeyError, match="cannot read"):
        sshkeys.load(str(tmp_path / "missing"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(sshkeys.SigningKeyError, match="SSH_AUTH_SOCK"):
        sshkeys.load("agent")
    monkeypatch.delenv("SSH_ASKPASS", raising=False)
    with pytest.raises(sshkeys.SigningKeyError, match="no terminal"):
        sshkeys.load(str(keys["rsa-encrypted"]))


def test_ssh_agent_signs_rs512_without_the_private_key(keys, agent):
    run("ssh-add", "-q", str(keys["ed25519"]), str(keys["rsa"]))
    for spec in ("agent", "%s.pub" % keys["rsa"], "agent:" + ssh_fingerprint(keys["rsa"])):
        key = sshkeys.load(spec)
        assert isinstance(key, sshkeys.AgentKey) and key.fingerprint == ssh_fingerprint(keys["rsa"])
        proof = dpop.make_proof(key, "glpat-agent", "GET", "https://h/api/v4/user", 0)
        jwt.decode(proof, public_key(keys["rsa"]), algorithms=["RS512"],
                   options={"verify_exp": False, "verify_iat": False})
    with pytest.raises(sshkeys.SigningKeyError, match="only RSA keys in ssh-agent"):
        sshkeys.load("%s.pub" % keys["ed25519"])
    with pytest.raises(sshkeys.SigningKeyError, match="has no key"):
        sshkeys.load("%s.pub" % keys["rsa-other"])


def test_dpop_gen_prints_one_jwt_and_nothing_else(keys):
    token = "glpat-dpopgendpopgendpopgen"
    done = credhelper("dpop-gen", "--private-key", str(keys["rsa"]), "--hostname",
                      "gitlab.example.com", "--pat-stdin", input=token)
    assert done.stderr == "" and done.stdout.count("\n") == 1
    proof = done.stdout.strip()
    claims = jwt.decode(proof, public_key(keys["rsa"]), algorithms=["RS512"])
    assert claims["ath"] == dpop.token_hash(token)
    assert claims["htu"] == "https://gitlab.example.com/api/v4/user"
    assert token not in done.stdout and "PRIVATE" not in done.stdout
    warned = credhelper("dpop-gen", "--private-key", str(keys["ed25519"]), "--pat-stdin",
                        input=token)
    assert warned.stdout.count("\n") == 1 and warned.stdout.count(".") == 2
    assert "GitLab accepts RS512 (RSA keys) only" in warned.stderr


# -- against the fake GitLab ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def dpop_user(gitlab, keys):
    """A user who turned DPoP on, with the RSA and encrypted RSA keys registered for signing
    (a key's fingerprint is unique on an instance, so one such user per module)."""
    user = next(_users)
    gitlab.state.add_user(user)
    for name in ("rsa", "rsa-encrypted"):
        gitlab.state.add_ssh_key(user, open("%s.pub" % keys[name]).read(), usage="signing")
    gitlab.state.enable_dpop(user)
    return user


def api_self(gitlab, token, proof):
    import requests

    return requests.get("https://localhost:%d/api/v4/personal_access_tokens/self" % gitlab.port,
                        headers={"PRIVATE-TOKEN": token, "DPoP": proof},
                        verify=gitlab.ca.ca_file, timeout=10)


def dpop_gen(key_spec, token):
    return credhelper("dpop-gen", "--private-key", key_spec, "--pat-stdin",
                      input=token).stdout.strip()


def test_proofs_from_a_file_an_encrypted_file_and_the_agent_are_accepted(
        gitlab, dpop_user, keys, askpass, agent):
    token = gitlab.state.create_pat(dpop_user, ["api"]).token
    run("ssh-add", "-q", str(keys["rsa"]))
    for spec in (str(keys["rsa"]), str(keys["rsa-encrypted"]), "agent"):
        answer = api_self(gitlab, token, dpop_gen(spec, token))
        assert answer.status_code == 200, (spec, answer.text)


def test_wrong_key_wrong_ath_and_a_long_life_are_refused_with_the_servers_message(
        gitlab, dpop_user, keys, monkeypatch):
    token = gitlab.state.create_pat(dpop_user, ["api"]).token
    other = api_self(gitlab, token, dpop_gen(str(keys["rsa-other"]), token))
    assert other.status_code == 401
    assert other.json() == {"error": "dpop_error", "error_description":
                            "DPoP validation error: No matching key found"}
    wrong_ath = api_self(gitlab, token, dpop_gen(str(keys["rsa"]), "glpat-someothertoken00"))
    assert wrong_ath.json()["error_description"] == \
        "DPoP validation error: Incorrect access token hash in JWT"
    monkeypatch.setattr(dpop, "LIFETIME", 600)
    import time

    long_lived = dpop.make_proof(sshkeys.load(str(keys["rsa"])), token, "GET",
                                 "https://localhost/api/v4/personal_access_tokens/self",
                                 time.time())
    refused = api_self(gitlab, token, long_lived)
    assert refused.json()["error_description"] == \
        "DPoP validation error: exp must not exceed iat by more than 5 minutes"


def test_a_dpop_bound_token_is_checked_and_rotated_through_get_with_proofs(
        gitlab, gitlab_host, dpop_user, keys):
    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    old = gitlab.state.create_pat(dpop_user, ["api"], expires_at=tomorrow)
    before = len(gitlab.api.dpop_proofs)
    credhelper("add", gitlab_host, "--dpop-key", str(keys["rsa"]), input=old.token)
    done = run("git-credential-gitlab", "get",
               input="protocol=https\nhost=%s\n\n" % gitlab_host)
    (new,) = gitlab.state.descendants(old)
    assert "password=%s" % new.token in done.stdout
    proofs = gitlab.api.dpop_proofs[before:]
    assert [(p.htm, p.htu.rsplit("/api/v4", 1)[1]) for p in proofs] == [
        ("GET", "/personal_access_tokens/self"),          # at add: the token
        ("GET", "/user"),                                 # at add: its owner's name
        ("GET", "/personal_access_tokens/self"),          # the check on get
        ("POST", "/personal_access_tokens/self/rotate")]  # the rotation
    assert len({p.jti for p in proofs}) == 4                # a fresh proof each call
    assert all(p.kid == ssh_fingerprint(keys["rsa"]) for p in proofs)


def test_without_a_dpop_key_the_user_is_told_what_to_set(gitlab, gitlab_host, dpop_user):
    token = gitlab.state.create_pat(dpop_user, ["api"]).token
    done = credhelper("add", gitlab_host, input=token)
    assert "refused the DPoP proof (DPoP validation error: DPoP header is missing)" in \
        done.stderr
    assert "--dpop-key" in done.stderr and token not in done.stderr
    rows = json.loads(credhelper("status", "--json").stdout)
    assert rows[0]["checked_at"] is None          # added, to be checked once it can be


def test_dpop_key_only_for_access_tokens_and_must_exist(gitlab_host, tmp_path):
    done = credhelper("add", gitlab_host, "--dpop-key", str(tmp_path / "nope"), "--no-check",
                      input="glpat-dpopnokeydpopnokey00", check=False)
    assert done.returncode == 1 and "no file" in done.stderr
    done = credhelper("add", gitlab_host, "--kind", "oauth", "--dpop-key", "agent",
                      input="a" * 40, check=False)
    assert done.returncode == 1 and "access tokens only" in done.stderr


@pytest.mark.parametrize("key, status, message", [
    (b"\x04", 1, "no passphrase given for %s (end of input at the prompt)"),
    (b"\x03", 130, "interrupted; nothing was changed"),
])
def test_ctrl_d_or_ctrl_c_at_the_passphrase_prompt_is_one_line(keys, monkeypatch, key, status,
                                                               message):
    """At the real no-echo prompt of a terminal (a pty the command has as its terminal)."""
    from tests.support.terminal import answer_at_terminal

    monkeypatch.delenv("SSH_ASKPASS", raising=False)
    credhelper("add", "gitlab.example.com", "--no-check", input="glpat-" + "p" * 20)
    encrypted = str(keys["rsa-encrypted"])
    status_seen, lines = answer_at_terminal(
        ["credhelper", "dpop-gen", "--hostname", "gitlab.example.com", "--private-key",
         encrypted], b"Enter passphrase for", key)
    assert status_seen == status
    expected = message % encrypted if "%s" in message else message
    assert lines[-1] == "credhelper: " + expected and "Traceback" not in "\n".join(lines)


def test_encrypted_key_passphrase_from_a_no_echo_prompt(keys, tmp_path, monkeypatch):
    """In a real terminal (tmux): the prompt appears, the typed passphrase is not echoed, and
    the proof comes out on stdout."""
    import shutil
    import time

    monkeypatch.delenv("SSH_ASKPASS", raising=False)
    socket_path = str(tmp_path / "tmux.sock")
    token_file, out_file = tmp_path / "token", tmp_path / "proof"
    token_file.write_text("glpat-ttypromptttypromptttyprompt\n")
    command = ("%s dpop-gen --private-key %s --pat-stdin < %s > %s 2> %s.err; "
               "tmux -S %s wait-for -S done; read -r keep_the_pane_for_capture") % (
        shutil.which("credhelper"), keys["rsa-encrypted"], token_file, out_file, out_file,
        socket_path)
    tmux = ["tmux", "-S", socket_path]
    run(*tmux, "new-session", "-d", "-x", "200", "-y", "20", command)
    try:
        deadline = time.monotonic() + 60
        while "Enter passphrase for" not in run(*tmux, "capture-pane", "-p").stdout:
            assert time.monotonic() < deadline, "no passphrase prompt appeared"
            time.sleep(0.05)    # polling the screen for the prompt, bounded by the deadline
        run(*tmux, "send-keys", PASSPHRASE, "Enter")
        run(*tmux, "wait-for", "done")
        screen = run(*tmux, "capture-pane", "-p").stdout
    finally:
        run(*tmux, "kill-server", check=False)
    assert PASSPHRASE not in screen                   # no echo
    proof = out_file.read_text()
    assert proof.count("\n") == 1
    jwt.decode(proof.strip(), public_key(keys["rsa-encrypted"]), algorithms=["RS512"])
