"""The OpenBao test server really works: ready when started, KV v2 check-and-set at secret/,
a policy-bound token and AppRole, paused without losing data, and gone when stopped."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from tests.support.openbao import OpenBao, all_threads_stopped


def test_openbao_serves_kv2_check_and_set_and_stops(tmp_path):
    with OpenBao(tmp_path / "bao") as bao:
        first = bao.request("POST", "secret/data/fleet/x", {"data": {"a": 1}, "options": {"cas": 0}})
        assert first["data"]["version"] == 1
        with pytest.raises(RuntimeError, match="400"):      # "only if absent": it is there
            bao.request("POST", "secret/data/fleet/x", {"data": {"a": 2}, "options": {"cas": 0}})
        bao.request("POST", "secret/data/fleet/x", {"data": {"a": 3}, "options": {"cas": 1}})
        with pytest.raises(RuntimeError, match="400"):      # version 1 is not current any more
            bao.request("POST", "secret/data/fleet/x", {"data": {"a": 4}, "options": {"cas": 1}})
        assert bao.read_kv("fleet/x")["data"] == {"a": 3}
        bao.write_policy("fleet", 'path "secret/data/fleet/*" { capabilities = ["read"] }')
        token = bao.token_with_policy("fleet")
        assert bao.request("GET", "secret/data/fleet/x", token=token)["data"]["data"] == {"a": 3}
        with pytest.raises(RuntimeError, match="403"):
            bao.request("POST", "secret/data/fleet/x", {"data": {}}, token=token)
        role_id, secret_id = bao.enable_approle("machines", "fleet")
        login = bao.request("POST", "auth/approle/login",
                            {"role_id": role_id, "secret_id": secret_id}, token="")
        assert "fleet" in login["auth"]["policies"]
        bao.pause()
        assert all_threads_stopped(bao.process.pid)   # pause() returns only then
        with pytest.raises((TimeoutError, urllib.error.URLError, socket.timeout)):
            urllib.request.urlopen(bao.addr + "/v1/sys/health", timeout=1)
        bao.resume()
        bao.wait_ready()
        assert bao.read_kv("fleet/x")["data"] == {"a": 3}     # paused, not restarted: kept
        port = bao.port
    with socket.socket() as sock:                               # stopped: the port is free
        assert sock.connect_ex(("127.0.0.1", port)) != 0
