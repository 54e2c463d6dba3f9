"""Show tokens, and text a server or another program controls, to people without harm.

``redact`` is for one known secret (``glpat-…Xy12``).  ``scrub`` is the one sanitiser for
everything shown to a person or written to the audit log (server error text, scopes, stored
usernames, exception messages, subprocess output):

- characters that act on a terminal or hide text are replaced: C0 controls (ESC too), DEL, C1,
  the bidi overrides and isolates of "Trojan source" (U+202A-U+202E, U+2066-U+2069, and the
  marks U+200E, U+200F, U+061C) and lone surrogates; line breaks and tabs become spaces;
- every secret credhelper knows in this process (``stores.KNOWN_SECRETS``: read, given, sent
  or received), and those passed in, are replaced, also inside base64 (an echoed Basic
  header), token-shaped or not;
- anything shaped like a GitLab token is replaced.
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
_TAIL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

MIN_SECRET = 8     # a shorter "secret" is no token; replacing it would garble messages
REPLACEMENT = "\ufffd"     # what a character that must not be shown becomes
_SPACES = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")   # line and field breaks
# Format characters that reorder or hide text (Unicode TR9; "Trojan source")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def known_secret(secret: str | None) -> None:
    """Register ``secret`` with ``stores.KNOWN_SECRETS``: ``scrub`` replaces it from now on."""
    from credhelper.stores import KNOWN_SECRETS

    if secret:
        KNOWN_SECRETS.add(secret)


def redact(secret: str | None) -> str:
    """``glpat-abcdef…`` -> ``glpat-…cdef``: enough to recognise a token, not to use it.
    The tail is shown only when it is made of token characters."""
    if not secret:
        return "(none)"
    prefix = next((p for p in KNOWN_PREFIXES if secret.startswith(p)), "")
    tail = secret[-4:]
    if len(secret) - len(prefix) < _MIN_LENGTH_TO_SHOW_TAIL or not _TAIL_CHARACTERS.issuperset(
            tail):
        return prefix + "…"
    return prefix + "…" + tail


def visible(text: str) -> str:
    """``text`` with every character that acts on a terminal or hides text replaced (see the
    module's docstring); line breaks and tabs become spaces.  No ``re``, no ``unicodedata``:
    ``str.isprintable`` is False for every such character (bidi ones are format characters),
    so it answers for most text at once; other non-printable characters (a no-break space,
    a zero-width joiner) are kept."""
    if text.isprintable():
        return text
    return "".join(_visible(char) for char in text)


def _visible(char: str) -> str:
    if char in _SPACES:
        return " "
    if char in _BIDI or char < " " or "\x7f" <= char <= "\x9f" or "\ud800" <= char <= "\udfff":
        return REPLACEMENT
    return char


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` safe to show: visible characters only, no known or given secret, nothing that
    looks like a GitLab token (see the module's docstring)."""
    text = visible(text)
    if "gl" in text:  # cheap exit: every GitLab token prefix starts with "gl"
        import re  # only on the error path

        text = re.sub(r"\bgl[a-z]{1,7}-[A-Za-z0-9_.\-]{8,}", lambda m: redact(m.group(0)), text)
    from credhelper.stores import KNOWN_SECRETS

    known = {s for s in (*KNOWN_SECRETS, *secrets) if s and len(s) >= MIN_SECRET}
    return _without(text, known) if known else text


def _without(text: str, secrets: set[str]) -> str:
    """``text`` with every one of ``secrets``, and its base64 forms, replaced until none is
    left (a replacement is shorter than what it replaces, so this ends; its characters are
    visible ones)."""
    forms = sorted(((secret, _masked(secret)) for secret in secrets), key=_longest_first)
    forms += sorted(((encoded, "…") for secret in secrets for encoded in _base64_forms(secret)),
                    key=_longest_first)
    changed = True
    while changed:
        changed = False
        for secret, shown in forms:
            if secret in text:
                text = text.replace(secret, shown)
                changed = True
    return text


def _masked(secret: str) -> str:
    """``redact(secret)``, or just "…" where that would not be shorter (a bare prefix)."""
    shown = redact(secret)
    return shown if len(shown) < len(secret) else "…"


def _longest_first(form: tuple[str, str]) -> int:
    return -len(form[0])


def _base64_forms(secret: str) -> list[str]:
    """The parts of base64 that stand for ``secret`` alone, wherever it starts in the encoded
    bytes (``user:secret`` in a Basic header): three alignments, without the groups of four
    that also encode a neighbouring byte."""
    import base64

    data = secret.encode("utf-8", "surrogatepass")
    if len(data) < 12:
        return []        # too short to leave a part that is its own
    forms = []
    for offset in range(3):
        whole_groups = (offset + len(data)) // 3
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        forms.append(encoded[4 if offset else 0:4 * whole_groups])
    return forms
