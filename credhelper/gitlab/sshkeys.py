"""SSH keys that sign DPoP proofs: private key files (OpenSSH or PEM, encrypted or not) and
keys held by ssh-agent, behind one small interface.

    key.algorithm     the JWS "alg": RS512 (RSA, the only one GitLab accepts today), EdDSA,
                      ES256, ES384 or ES512
    key.jwk           the public key as a JWK (no private parts)
    key.fingerprint   "SHA256:<base64>", exactly as `ssh-keygen -lf` prints it (GitLab's kid)
    key.sign(data)    the JWS signature of data

An agent-held RSA key signs with the agent's rsa-sha2-512 flag: that is PKCS#1 v1.5 over
SHA-512, i.e. exactly RS512, so the private key never leaves the agent.  Imported only for
DPoP work: cryptography is slow to import.
"""

from __future__ import annotations

import base64
import hashlib
import os

from credhelper.gitlab.ssh_agent import Agent, SigningKeyError, read_strings, ssh_string

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MIN_RSA_BITS = 2048
_EC_ALGORITHMS = {"secp256r1": ("ES256", "P-256", 32), "secp384r1": ("ES384", "P-384", 48),
                  "secp521r1": ("ES512", "P-521", 66)}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fingerprint(public_blob: bytes) -> str:
    """``SHA256:...`` of an SSH public key blob, as ssh-keygen prints it."""
    digest = hashlib.sha256(public_blob).digest()
    return "SHA256:" + base64.b64encode(digest).rstrip(b"=").decode("ascii")


class SigningKey:
    algorithm: str | None = None
    jwk: dict[str, str] | None = None
    fingerprint: str | None = None
    description: str | None = None

    def sign(self, data: bytes) -> bytes:
        raise NotImplementedError

    @property
    def is_rsa(self) -> bool:
        return self.algorithm == "RS512"


class FileKey(SigningKey):
    """A private key loaded with cryptography."""

    algorithm: str
    jwk: dict[str, str]
    fingerprint: str
    description: str

    def __init__(self, private_key: Any, description: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        self._key = private_key
        self.description = description
        public = private_key.public_key()
        blob_line = public.public_bytes(serialization.Encoding.OpenSSH,
                                        serialization.PublicFormat.OpenSSH)
        self.public_blob = base64.b64decode(blob_line.split()[1])
        self.fingerprint = fingerprint(self.public_blob)
        if isinstance(private_key, rsa.RSAPrivateKey):
            if private_key.key_size < MIN_RSA_BITS:
                raise SigningKeyError("%s is a %d-bit RSA key; DPoP needs at least %d bits"
                                      % (description, private_key.key_size, MIN_RSA_BITS))
            numbers = public.public_numbers()
            self.algorithm = "RS512"
            self.jwk = {"kty": "RSA", "n": b64url(_int_bytes(numbers.n)),
                        "e": b64url(_int_bytes(numbers.e))}
        elif isinstance(private_key, ed25519.Ed25519PrivateKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.algorithm = "EdDSA"
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        elif isinstance(private_key, ec.EllipticCurvePrivateKey):
            if private_key.curve.name not in _EC_ALGORITHMS:
                raise SigningKeyError("%s uses the curve %s, which JWS has no algorithm for"
                                      % (description, private_key.curve.name))
            self.algorithm, curve, size = _EC_ALGORITHMS[private_key.curve.name]
            numbers = public.public_numbers()
            self.jwk = {"kty": "EC", "crv": curve, "x": b64url(numbers.x.to_bytes(size, "big")),
                        "y": b64url(numbers.y.to_bytes(size, "big"))}
        else:
            raise SigningKeyError("%s is not an RSA, Ed25519 or ECDSA key" % description)

    def sign(self, data: bytes) -> bytes:
        from jwt.algorithms import get_default_algorithms

        # PyJWT's algorithms produce JWS signatures (raw r||s for ECDSA, not DER)
        return get_default_algorithms()[self.algorithm].sign(data, self._key)


class AgentKey(SigningKey):
    """An RSA key held by ssh-agent."""

    algorithm: str
    jwk: dict[str, str]
    fingerprint: str
    description: str

    def __init__(self, agent: Agent, public_blob: bytes, comment: str) -> None:
        self._agent = agent
        self.public_blob = public_blob
        self.description = "the ssh-agent key %s" % (comment or "(no comment)")
        self.fingerprint = fingerprint(public_blob)
        (kind,) = read_strings(public_blob, 1)
        if kind != b"ssh-rsa":
            raise SigningKeyError("%s is %s; only RSA keys in ssh-agent can sign (RS512)"
                                  % (self.description, kind.decode("ascii", "replace")))
        _, e, n = read_strings(public_blob, 3)
        if int.from_bytes(n, "big").bit_length() < MIN_RSA_BITS:
            raise SigningKeyError("%s is smaller than %d bits"
                                  % (self.description, MIN_RSA_BITS))
        self.algorithm = "RS512"
        self.jwk = {"kty": "RSA", "n": b64url(n.lstrip(b"\0")), "e": b64url(e.lstrip(b"\0"))}

    def sign(self, data: bytes) -> bytes:
        return self._agent.sign_rsa_sha512(self.public_blob, data)


def load(spec: str, passphrase: Callable[[str], str] | None = None) -> FileKey | AgentKey:
    """The signing key named by ``spec``:

    ``PATH``                      a private key file (OpenSSH or PEM; asks for a passphrase
                                  when it is encrypted)
    ``PATH.pub``                  that public key's private half, held by ssh-agent
    ``agent``                     ssh-agent's first RSA key
    ``agent:SHA256:...``          the ssh-agent key with that fingerprint
    """
    if spec == "agent" or spec.startswith("agent:"):
        return _from_agent(spec[len("agent:"):] if spec.startswith("agent:") else None)
    path = os.path.expanduser(spec)
    if path.endswith(".pub"):
        try:
            with open(path, "rb") as handle:
                blob = base64.b64decode(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            raise SigningKeyError("cannot read the public key %s" % spec) from None
        return _from_agent(fingerprint(blob))
    return _from_file(path, passphrase)


def _from_agent(wanted_fingerprint: str | None) -> AgentKey:
    agent = Agent()
    identities = agent.identities()
    for blob, comment in identities:
        if wanted_fingerprint is None:
            if blob.startswith(ssh_string(b"ssh-rsa")):
                return AgentKey(agent, blob, comment)
        elif fingerprint(blob) == wanted_fingerprint:
            return AgentKey(agent, blob, comment)
    if wanted_fingerprint:
        raise SigningKeyError("ssh-agent has no key %s" % wanted_fingerprint)
    raise SigningKeyError("ssh-agent holds no RSA key (%d other keys); add one with ssh-add"
                          % len(identities))


def _from_file(path: str, passphrase: Callable[[str], str] | None) -> FileKey:
    from cryptography.hazmat.primitives import serialization

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SigningKeyError("cannot read the key %s: %s" % (path, error.strerror)) from None
    except ValueError:       # a NUL in the path (a hand-edited tokens.json or config)
        raise SigningKeyError("cannot read the key %r: not a file name" % path[:100]) from None
    loader = (serialization.load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data
              else serialization.load_pem_private_key)
    try:
        key = loader(data, password=None)
    except TypeError:        # encrypted: cryptography wants the passphrase
        secret = passphrase(path) if passphrase else ask_passphrase(path)
        try:
            key = loader(data, password=secret.encode())
        except (ValueError, TypeError):
            raise SigningKeyError("wrong passphrase for %s" % path) from None
        except Exception as error:   # e.g. UnsupportedAlgorithm for an unknown cipher
            raise SigningKeyError("cannot open %s: %s" % (path, error)) from None
    except ValueError as error:
        text = str(error).lower()
        if "password" in text or "decrypt" in text:
            raise SigningKeyError("wrong passphrase for %s" % path) from None
        raise SigningKeyError("%s is not a private key this tool can read (OpenSSH or PEM RSA, "
                              "Ed25519, ECDSA)" % path) from None
    except Exception:
        raise SigningKeyError("%s is not a supported private key (OpenSSH or PEM RSA, Ed25519, "
                              "ECDSA)" % path) from None
    return FileKey(key, path)


def ask_passphrase(path: str) -> str:
    """The passphrase of ``path``: from a no-echo prompt on the terminal, else (no terminal, or
    SSH_ASKPASS_REQUIRE=force) from the SSH_ASKPASS program, as ssh itself does."""
    import subprocess

    prompt = "Enter passphrase for %s: " % path
    askpass = os.environ.get("SSH_ASKPASS")
    force = os.environ.get("SSH_ASKPASS_REQUIRE") == "force"
    if askpass and (force or not _has_terminal()):
        try:
            done = subprocess.run([askpass, prompt], capture_output=True, timeout=300,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SigningKeyError("the askpass program %s failed: %s" % (askpass, error)) from None
        if done.returncode != 0:
            raise SigningKeyError("no passphrase given for %s (askpass was cancelled)" % path)
        return done.stdout.decode("utf-8", "replace").rstrip("\r\n")
    if not _has_terminal():
        raise SigningKeyError("%s is encrypted and there is no terminal to ask on; load it into "
                              "ssh-agent (--dpop-key agent) or set SSH_ASKPASS" % path)
    import getpass
    import sys

    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt) as ended:
        if sys.stderr.isatty():
            sys.stderr.write("\n")          # the prompt's line is still open
        if isinstance(ended, KeyboardInterrupt):
            raise                              # the command's own "interrupted" line
        raise SigningKeyError("no passphrase given for %s (end of input at the prompt)"
                              % path) from None


def _has_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        return True
    except OSError:
        return False


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
