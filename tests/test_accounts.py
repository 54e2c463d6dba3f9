"""The account model (issue 12, item 1): a token knows its owner, and a token of another owner
never replaces one.  Real `credhelper add` against the fake GitLab over HTTPS, then real git
asking the installed helper."""

import itertools
import json
import os

from tests.conftest import credhelper, run

_numbers = itertools.count(1)


def _new_user(gitlab, stem="acct"):
    """A fresh GitLab user (the server lives for the whole session)."""
    return gitlab.state.add_user("%s%d" % (stem, next(_numbers))).username


def _status(host=None):
    return json.loads(credhelper("status", "--json", *([host] if host else [])).stdout)


def _git_fill(host, username=None):
    """What git itself gets from the helper for https://HOST/ (as `username`, if given)."""
    request = "protocol=https\nhost=%s\n%s\n" % (
        host, "username=%s\n" % username if username else "")
    done = run("git", "-c", "credential.helper=", "-c", "credential.helper=gitlab",
               "credential", "fill", input=request)
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_a_second_accounts_pat_on_the_same_host_keeps_the_first(gitlab, gitlab_host):
    first, second = _new_user(gitlab), _new_user(gitlab)
    first_token = gitlab.state.create_pat(first, ["api"])
    second_token = gitlab.state.create_pat(second, ["api"])
    credhelper("add", gitlab_host, input=first_token.token)
    done = credhelper("add", gitlab_host, input=second_token.token)
    assert done.stdout.startswith("Added"), done.stdout
    assert len(_status(gitlab_host)) == 2
    # both secrets are still held: the first account's token was not orphaned
    assert _held(gitlab_host, [first_token, second_token]) == {first_token.token,
                                                              second_token.token}


def _held(host, tokens):
    """The tokens among ``tokens`` that credhelper still holds for ``host``, read from its
    own index and stores (credhelper never prints a secret)."""
    from credhelper.local.token_index import TokenIndex
    from credhelper.stores import Secrets

    index = TokenIndex()
    secrets = Secrets(index.directory)
    held = {secrets.get(record) for record in index.load() if record.host == host}
    return {t.token for t in tokens if t.token in held}


def test_re_adding_the_same_owners_token_still_replaces_it(gitlab, gitlab_host):
    owner = _new_user(gitlab)
    old = gitlab.state.create_pat(owner, ["api"])
    new = gitlab.state.create_pat(owner, ["api"])
    credhelper("add", gitlab_host, input=old.token)
    done = credhelper("add", gitlab_host, input=new.token)
    assert done.stdout.startswith("Replaced"), done.stdout
    assert len(_status(gitlab_host)) == 1
    assert _git_fill(gitlab_host)["password"] == new.token
    # it says which token it replaced, that it still works, and how to revoke it
    assert "--revoke-replaced" in done.stdout and old.token[-4:] in done.stdout
    assert old.token not in done.stdout and not old.revoked


def test_re_adding_with_revoke_replaced_revokes_the_old_token(gitlab, gitlab_host):
    owner = _new_user(gitlab)
    old = gitlab.state.create_pat(owner, ["api"])
    new = gitlab.state.create_pat(owner, ["api"])
    credhelper("add", gitlab_host, input=old.token)
    done = credhelper("add", gitlab_host, "--revoke-replaced", input=new.token)
    assert "Revoked the replaced token" in done.stdout, done.stdout
    assert old.revoked and not new.revoked
    assert _git_fill(gitlab_host)["password"] == new.token
    again = credhelper("add", gitlab_host, "--revoke-replaced", input=new.token)
    assert not new.revoked, again.stdout          # re-adding the same token revokes nothing


def test_the_owner_is_recorded_and_kept_across_a_re_read(gitlab, gitlab_host):
    owner = _new_user(gitlab)
    token = gitlab.state.create_pat(owner, ["api"])
    credhelper("add", gitlab_host, input=token.token)
    from credhelper.local.token_index import TokenIndex

    (record,) = [r for r in TokenIndex().load() if r.host == gitlab_host]
    assert record.user_id == gitlab.state.user(owner).id
    assert record.owner_name == owner


# --- the owner's name: GET /api/v4/user, and --username checked against it --------------------

def _api(gitlab, path, token):
    import requests

    return requests.get("https://localhost:%d/api/v4%s" % (gitlab.port, path),
                        headers={"PRIVATE-TOKEN": token}, verify=gitlab.ca.ca_file, timeout=10)


def test_the_fake_gitlab_names_a_tokens_owner_as_gitlab_does(gitlab):
    owner = _new_user(gitlab)
    answer = _api(gitlab, "/user", gitlab.state.create_pat(owner, ["read_user"]).token)
    assert answer.status_code == 200
    assert answer.json()["username"] == owner
    assert answer.json()["id"] == gitlab.state.user(owner).id
    # only api, read_api and read_user may read it (API::Users; API::API)
    refused = _api(gitlab, "/user", gitlab.state.create_pat(owner, ["read_repository"]).token)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert _api(gitlab, "/user", "glpat-no-such-token-anywhere0").status_code == 401


def test_username_of_another_account_is_refused(gitlab, gitlab_host):
    owner, stranger = _new_user(gitlab), _new_user(gitlab)
    token = gitlab.state.create_pat(owner, ["api"])
    done = credhelper("add", gitlab_host, "--username", stranger, input=token.token,
                      check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "belongs to %s" % owner in done.stderr and stranger in done.stderr
    assert token.token not in done.stdout + done.stderr
    assert _status(gitlab_host) == []


def test_username_of_the_owner_is_taken_whatever_its_case(gitlab, gitlab_host):
    owner = _new_user(gitlab)
    token = gitlab.state.create_pat(owner, ["api"])
    done = credhelper("add", gitlab_host, "--username", owner.upper(), input=token.token)
    assert done.stdout.startswith("Added"), done.stdout
    assert done.stderr == ""


def test_add_names_the_account_it_added(gitlab, gitlab_host):
    owner = _new_user(gitlab)
    token = gitlab.state.create_pat(owner, ["read_api", "write_repository"])
    done = credhelper("add", gitlab_host, input=token.token)
    assert "(account %s)" % owner in done.stdout, done.stdout


def test_username_unreadable_with_repository_scopes_only_is_said(gitlab, gitlab_host):
    owner = _new_user(gitlab)
    token = gitlab.state.create_pat(owner, ["read_repository", "write_repository"])
    done = credhelper("add", gitlab_host, "--username", owner, input=token.token)
    assert done.stdout.startswith("Added"), done.stdout
    assert done.stderr.count("\n") == 1 and "is not checked" in done.stderr, done.stderr


# --- real git: two accounts and a read-only project deploy token on one host --------------------

def _git(gitlab, *args, cwd=None, check=True):
    env = dict(os.environ, **gitlab.git_env())
    where = ["-C", str(cwd)] if cwd else []
    return run("git", *where, *gitlab.git_config_args(), *args, check=check, env=env)


def _url(host, path, user=None):
    return "https://%s%s/%s.git" % (user + "@" if user else "", host, path)


def _clone_and_push(gitlab, url, checkout, label):
    _git(gitlab, "clone", "-q", url, str(checkout))
    (checkout / label).write_text(label + "\n")
    _git(gitlab, "add", label, cwd=checkout)
    _git(gitlab, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", label,
         cwd=checkout)
    return _git(gitlab, "push", "-q", "origin", "HEAD:main", cwd=checkout)


def _project(gitlab, *members):
    path = "acct%d/app" % next(_numbers)
    gitlab.state.add_project(path, members={m: "developer" for m in members})
    return path


def test_two_accounts_clone_and_push_each_with_their_own_token(gitlab, gitlab_host, tmp_path):
    first, second = _new_user(gitlab), _new_user(gitlab)
    first_token = gitlab.state.create_pat(first, ["read_api", "write_repository"])
    second_token = gitlab.state.create_pat(second, ["read_api", "write_repository"])
    first_project, second_project = _project(gitlab, first), _project(gitlab, second)
    credhelper("add", gitlab_host, input=first_token.token)
    credhelper("add", gitlab_host, input=second_token.token)
    credhelper("setup", "git", gitlab_host)
    before = len(gitlab.requests)
    _clone_and_push(gitlab, _url(gitlab_host, first_project, first), tmp_path / "a", "by-a")
    _clone_and_push(gitlab, _url(gitlab_host, second_project, second), tmp_path / "b", "by-b")
    seen = list(gitlab.requests)[before:]
    assert not any(r.carries(second_token.token) for r in seen if first_project in r.path)
    assert not any(r.carries(first_token.token) for r in seen if second_project in r.path)


def test_a_read_only_deploy_token_never_breaks_a_push_beside_the_users_pat(
        gitlab, gitlab_host, tmp_path):
    owner = _new_user(gitlab)
    project = _project(gitlab, owner)
    pat = gitlab.state.create_pat(owner, ["read_api", "write_repository"])
    deploy = gitlab.state.create_deploy_token(project, ["read_repository"],
                                              username="reader%d" % next(_numbers))
    credhelper("add", gitlab_host, input=pat.token)
    credhelper("add", gitlab_host, "--path", project, "--username", deploy.username,
               "--scopes", "read_repository", input=deploy.token)
    credhelper("setup", "git", gitlab_host)      # turns on useHttpPath: a path token exists
    _clone_and_push(gitlab, _url(gitlab_host, project), tmp_path / "pushed", "by-owner")
    # the deploy token answers its project's fetches when it is the only match
    before = len(gitlab.requests)
    _git(gitlab, "clone", "-q", _url(gitlab_host, project, deploy.username),
         str(tmp_path / "fetched"))
    seen = list(gitlab.requests)[before:]
    assert any(r.carries(deploy.token) for r in seen)
    assert not any(r.carries(pat.token) for r in seen)


# --- the resolver's account rules, as pure functions ----------------------------------------

def _record(id, kind="pat", user_id=None, owner_name=None, username=None, path=None,
            scopes=("api",)):
    from credhelper.rules.model import TokenRecord

    return TokenRecord(id=id, host="gitlab.example.com", kind=kind, user_id=user_id,
                       owner_name=owner_name, username=username, path=path,
                       scopes=list(scopes) if scopes is not None else None)


def _best(records, username=None, path=None, operation=None):
    from credhelper.rules import resolver
    from credhelper.rules.model import Request

    found = resolver.candidates(records, Request("https", "gitlab.example.com", path,
                                                 username, operation), 0.0)
    return [r.id for r in found]


def test_a_named_account_gets_its_own_token_whatever_the_order():
    alice = _record("a", user_id=1, owner_name="alice")
    bob = _record("b", user_id=2, owner_name="bob")
    assert _best([alice, bob], "bob") == ["b"]
    assert _best([bob, alice], "Alice") == ["a"]
    assert _best([alice, bob], "git") == ["a", "b"]        # no token's owner: no filter


def test_read_only_goes_after_a_writable_token_of_the_same_account():
    reader = _record("r", kind="deploy", username="reader", path="team/app",
                     scopes=("read_repository",))
    writer = _record("w", user_id=1, owner_name="alice", scopes=("write_repository",))
    assert _best([reader, writer], path="team/app") == ["w", "r"]
    assert _best([reader, writer], path="team/app", operation="read") == ["r", "w"]
    own_reader = _record("o", user_id=1, path="team/app", scopes=("read_repository",))
    assert _best([own_reader, writer], path="team/app") == ["w", "o"]
    # another account's read-only project token keeps its place: accounts are not mixed
    other = _record("x", user_id=2, path="team/app", scopes=("read_repository",))
    assert _best([other, writer], path="team/app") == ["x", "w"]


# --- the host's default account, and status telling accounts apart ----------------------------

def test_the_hosts_default_account_answers_a_client_naming_no_user(gitlab, gitlab_host):
    first, second, third = (_new_user(gitlab) for _ in range(3))
    tokens = [gitlab.state.create_pat(user, ["api"]) for user in (first, second, third)]
    credhelper("add", gitlab_host, input=tokens[0].token)
    assert _git_fill(gitlab_host)["password"] == tokens[0].token
    credhelper("add", gitlab_host, "--default", input=tokens[1].token)
    credhelper("add", gitlab_host, input=tokens[2].token)
    assert _git_fill(gitlab_host)["password"] == tokens[1].token
    assert _git_fill(gitlab_host, third)["password"] == tokens[2].token
    rows = _status(gitlab_host)
    assert [r["default"] for r in rows if r["owner"] == second] == [True]
    assert sum(r["default"] for r in rows) == 1


def test_status_tells_the_accounts_apart_sorted_by_account(gitlab, gitlab_host):
    names = sorted(_new_user(gitlab, "st") for _ in range(2))
    for name in reversed(names):      # added in the other order
        credhelper("add", gitlab_host, input=gitlab.state.create_pat(
            name, ["api"], name="laptop-" + name).token)
    rows = _status(gitlab_host)
    assert [(r["owner"], r["token_name"]) for r in rows] == [
        (name, "laptop-" + name) for name in names]
    assert all(r["checked_at"] for r in rows)
    table = credhelper("status", gitlab_host, "--table").stdout
    assert all(name in table and "laptop-" + name in table for name in names)
    assert [line.split()[1] for line in table.splitlines()[1:]] == names   # the ACCOUNT column


# --- rotate, remove and status pick an account --------------------------------------------------

def _two_accounts(gitlab, host):
    users = sorted(_new_user(gitlab, "pick") for _ in range(2))
    tokens = [gitlab.state.create_pat(user, ["api"]) for user in users]
    for token in tokens:
        credhelper("add", host, input=token.token)
    return users, tokens


def test_rotate_names_one_account(gitlab, gitlab_host):
    (first, second), (first_token, second_token) = _two_accounts(gitlab, gitlab_host)
    ambiguous = credhelper("rotate", gitlab_host, check=False)
    assert ambiguous.returncode == 1 and ambiguous.stderr.count("\n") == 1, ambiguous.stderr
    assert "--username" in ambiguous.stderr and first in ambiguous.stderr
    assert not first_token.revoked and not second_token.revoked
    done = credhelper("rotate", gitlab_host, "--username", second)
    assert done.stdout.count("Rotated") == 1, done.stdout
    assert second_token.revoked and not first_token.revoked


def test_remove_and_status_pick_an_account_by_username(gitlab, gitlab_host):
    (first, second), (first_token, second_token) = _two_accounts(gitlab, gitlab_host)
    only = json.loads(credhelper("status", gitlab_host, "--username", second, "--json").stdout)
    assert [r["owner"] for r in only] == [second]
    credhelper("remove", gitlab_host, "--username", first)
    assert [r["owner"] for r in _status(gitlab_host)] == [second]
    assert _held(gitlab_host, [first_token, second_token]) == {second_token.token}


# --- --registry binds the registry to the token it was given with -----------------------------

def _docker_get(registry):
    done = run("docker-credential-gitlab", "get", input=registry, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else done


def test_each_registry_gets_the_token_it_was_added_with():
    tokens = {"localhost:5000": "gldt-registryboundregistrybound1",
              "localhost:5001": "gldt-registryboundregistrybound2"}
    for number, (registry, token) in enumerate(tokens.items()):
        credhelper("add", "gitlab.example.com", "--username", "puller%d" % number,
                   "--scopes", "read_registry", "--registry", registry, input=token)
    for registry, token in tokens.items():
        assert _docker_get(registry)["Secret"] == token, registry
    listed = json.loads(run("docker-credential-gitlab", "list").stdout)
    assert listed == {"localhost:5000": "puller0", "localhost:5001": "puller1"}
