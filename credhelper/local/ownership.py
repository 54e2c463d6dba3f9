"""Which files credhelper trusts: its user's (or root's: root can change them anyway), writable
by no one else, as ssh's StrictModes asks of ~/.ssh: anyone who can write them can send the
tokens elsewhere (README "Configuration").

Apart from ``files.py`` because the ``get`` fast path (``local/compact.py``) checks the same
rules and may not import ``os`` (``launcher.py`` says why): ``posix`` only, nothing else.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from os import stat_result

try:
    from posix import geteuid
except ImportError:  # no uids here (Windows): nothing to check
    OWNERS: tuple[int, int] | None = None
else:
    OWNERS = (geteuid(), 0)

STICKY = 0o1000


def unsafe_reason(info: "stat_result", path: str) -> str | None:
    """Why ``path`` (whose stat is ``info``) must not be trusted, or None when it may."""
    if OWNERS is None:
        return None
    if info.st_uid not in OWNERS:
        return "%s is owned by another user (uid %d); credhelper does not use it" % (
            path, info.st_uid)
    # a sticky directory (/tmp) lets no one else replace what is ours in it
    if info.st_mode & 0o022 and not (info.st_mode & STICKY and is_dir(info)):
        return "%s is writable by others; credhelper does not use it (chmod go-w it)" % path
    return None


def is_dir(info: "stat_result") -> bool:
    return info.st_mode & 0o170000 == 0o040000      # stat.S_ISDIR, without the import


def is_file(info: "stat_result") -> bool:
    return info.st_mode & 0o170000 == 0o100000      # stat.S_ISREG
