"""docker's config.json keeps its layout when credhelper adds and takes out its entries
(clientconfig/docker.py, ``dump``): the user's file comes back byte for byte."""

import json

import pytest

from credhelper.clientconfig.docker import dump

LAYOUTS = [
    b'{\n\t"auths": {\n\t\t"ghcr.io": {}\n\t}\n}',           # docker's own: tabs, no newline
    b'{\n  "auths": {},\n  "credsStore": "pass"\n}\n',        # two spaces, final newline
    b'{\n    "psFormat": "table {{.ID}}"\n}\n',
    b'{"auths": {"a": {"auth": "eDp5"}}}',                     # one line
    b'{"auths":{}}\n',                                         # compact
    b'{\n\t"currentContext": "caf\xc3\xa9"\n}',                # UTF-8 as written
]


@pytest.mark.parametrize("raw", LAYOUTS)
def test_the_users_layout_comes_back(raw):
    data = json.loads(raw)
    assert dump(data, raw) == raw
    added = dump(dict(data, credHelpers={"registry.example.com": "gitlab"}), raw)
    assert json.loads(added)["credHelpers"] == {"registry.example.com": "gitlab"}
    assert dump(json.loads(raw), added) == raw


def test_a_new_file_is_laid_out_as_docker_does():
    assert dump({"credHelpers": {"r": "gitlab"}}, None) == \
        b'{\n\t"credHelpers": {\n\t\t"r": "gitlab"\n\t}\n}\n'
    assert dump({}, b"{}\n") == b"{}\n"
