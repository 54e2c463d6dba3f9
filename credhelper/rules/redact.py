"""Show tokens to people without revealing them.

``redact`` is for one known secret (``glpat-…Xy12``); ``scrub`` is the last line of defence for
free text (exception messages, subprocess output) and replaces anything shaped like a GitLab
token.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# Prefixes GitLab puts on its tokens; the redacted form keeps them so people can tell kinds apart.
KNOWN_PREFIXES = ("glpat-", "gldt-", "glcbt-", "gloas-", "glrt-", "glptt-", "glft-", "glimt-",
                  "glagent-", "glsoat-", "glffct-")

# Below this length even the last four characters say too much about the secret.
_MIN_LENGTH_TO_SHOW_TAIL = 16


def redact(secret: str | None) -> str:
    """``glpat-abcdef…`` -> ``glpat-…cdef``: enough to recognise a token, not to use it."""
    if not secret:
        return "(none)"
    prefix = next((p for p in KNOWN_PREFIXES if secret.startswith(p)), "")
    if len(secret) - len(prefix) < _MIN_LENGTH_TO_SHOW_TAIL:
        return prefix + "…"
    return prefix + "…" + secret[-4:]


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace every given secret and anything that looks like a GitLab token in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, redact(secret))
    if "gl" not in text:  # cheap exit: every GitLab token prefix starts with "gl"
        return text
    import re  # only on the error path

    return re.sub(r"\bgl[a-z]{1,7}-[A-Za-z0-9_.\-]{8,}", lambda m: redact(m.group(0)), text)
