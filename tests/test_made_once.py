"""Files made once and then read by every process (the key that names rotation locks, a
fleet machine's id): every process must get the same content, even when many start at once on
a fresh machine, or when a writer was killed half way.  Two processes with different lock keys
lock different files, both rotate the same token, and GitLab's reuse detection then revokes the
whole family (CI, stop 19: `test_32_concurrent_gets_rotate_exactly_once`)."""

import os

import pytest

from credhelper.fleet import lease
from credhelper.lifecycle import book
from credhelper.local import paths

ROUNDS = 12
AT_ONCE = 16


def _key_path():
    return os.path.join(paths.state_dir(), "locks", "key")


def _id_path():
    return os.path.join(paths.state_dir(), "fleet", "machine-id")


MADE_ONCE = [(book._lock_key, _key_path), (lease.machine_id, _id_path)]


def _all_at_once(make, count):
    """What ``make()`` returns in ``count`` forked processes released at the same moment."""
    start_read, start_write = os.pipe()
    children = []
    for _ in range(count):
        answer_read, answer_write = os.pipe()
        pid = os.fork()
        if pid == 0:                                  # the child: wait for the start, answer
            try:
                os.close(start_write)
                os.read(start_read, 1)
                value = make()
                os.write(answer_write, value if isinstance(value, bytes) else value.encode())
            finally:
                os._exit(0)
        os.close(answer_write)
        children.append((pid, answer_read))
    os.close(start_read)
    os.close(start_write)                             # every child's read returns now
    answers = []
    for pid, answer_read in children:
        with os.fdopen(answer_read, "rb") as handle:
            answers.append(handle.read())
        os.waitpid(pid, 0)
    return answers


@pytest.mark.parametrize("make, where", MADE_ONCE, ids=["lock key", "machine id"])
def test_processes_started_together_on_a_fresh_machine_agree(make, where):
    for _ in range(ROUNDS):
        if os.path.exists(where()):
            os.unlink(where())
        answers = _all_at_once(make, AT_ONCE)
        with open(where(), "rb") as handle:
            published = handle.read()
        assert set(answers) == {published.strip() if make is lease.machine_id else published}
        assert len(published.strip()) >= 8


@pytest.mark.parametrize("make, where", MADE_ONCE, ids=["lock key", "machine id"])
def test_a_file_left_empty_by_a_killed_writer_is_made_again(make, where):
    make()
    with open(where(), "w"):
        pass                                          # created, killed before writing
    first = make()
    assert len(first.strip()) >= 8
    assert make() == first and _all_at_once(make, 4) == [
        first if isinstance(first, bytes) else first.encode()] * 4


def test_the_lock_key_is_private():
    book._lock_key()
    assert oct(os.stat(_key_path()).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(_key_path())).st_mode & 0o777) == "0o700"
