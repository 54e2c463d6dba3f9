"""A minimal ssh-agent client (draft-miller-ssh-agent): list the keys, sign with one.

An agent-held RSA key signs with the agent's rsa-sha2-512 flag: PKCS#1 v1.5 over SHA-512,
which is exactly RS512, so the private key never leaves the agent.
"""

from __future__ import annotations

import os
import socket
import struct

from credhelper.errors import CredhelperError


class SigningKeyError(CredhelperError):
    """A key that cannot sign: unreadable, wrong passphrase, unsupported, too small."""


class Agent:
    """A minimal ssh-agent client (draft-miller-ssh-agent): list keys, sign with one."""

    REQUEST_IDENTITIES, IDENTITIES_ANSWER = 11, 12
    SIGN_REQUEST, SIGN_RESPONSE, FAILURE = 13, 14, 5
    RSA_SHA2_512 = 4

    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("SSH_AUTH_SOCK")
        if not path:
            raise SigningKeyError("no ssh-agent: SSH_AUTH_SOCK is not set")
        self.path = path

    def identities(self) -> list[tuple[bytes, str]]:
        kind, body = self._call(bytes([self.REQUEST_IDENTITIES]))
        if kind != self.IDENTITIES_ANSWER:
            raise SigningKeyError("ssh-agent refused to list its keys")
        (count,) = struct.unpack(">I", body[:4])
        found: list[tuple[bytes, str]] = []
        rest = body[4:]
        for _ in range(count):
            blob, rest = _take_string(rest)
            comment, rest = _take_string(rest)
            found.append((blob, comment.decode("utf-8", "replace")))
        return found

    def sign_rsa_sha512(self, blob: bytes, data: bytes) -> bytes:
        request = (bytes([self.SIGN_REQUEST]) + ssh_string(blob) + ssh_string(data)
                   + struct.pack(">I", self.RSA_SHA2_512))
        kind, body = self._call(request)
        if kind != self.SIGN_RESPONSE:
            raise SigningKeyError("ssh-agent refused to sign (is the key still loaded, or does it "
                                  "need confirmation?)")
        signature, _ = _take_string(body)
        algorithm, raw = read_strings(signature, 2)
        if algorithm != b"rsa-sha2-512":
            raise SigningKeyError("ssh-agent signed with %s instead of rsa-sha2-512"
                                  % algorithm.decode("ascii", "replace"))
        return raw

    def _call(self, message: bytes) -> tuple[int, bytes]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(30)
                conn.connect(self.path)
                conn.sendall(struct.pack(">I", len(message)) + message)
                (length,) = struct.unpack(">I", _recv_exactly(conn, 4))
                if length > 1 << 20:
                    raise SigningKeyError("ssh-agent sent an oversized answer")
                answer = _recv_exactly(conn, length)
        except OSError as error:
            raise SigningKeyError("cannot talk to ssh-agent at %s: %s"
                                  % (self.path, error.strerror or error)) from None
        if not answer:
            raise SigningKeyError("ssh-agent sent an empty answer")
        return answer[0], answer[1:]


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _take_string(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 4:
        raise SigningKeyError("ssh-agent sent a truncated answer")
    (length,) = struct.unpack(">I", data[:4])
    if len(data) < 4 + length:
        raise SigningKeyError("ssh-agent sent a truncated answer")
    return data[4:4 + length], data[4 + length:]


def read_strings(data: bytes, count: int) -> list[bytes]:
    values = []
    for _ in range(count):
        value, data = _take_string(data)
        values.append(value)
    return values


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise SigningKeyError("ssh-agent closed the connection")
        chunks += chunk
    return chunks
