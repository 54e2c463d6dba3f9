"""The figures as a markdown table ready for README, each beside its limit from issue 15's
"Done means" (figures, not timed tests) with PASS or FAIL."""

from __future__ import annotations

from typing import Any


class Row:
    """One scenario: its label, what its ratios are against, and its limit (a ratio of
    ``measure``, "instructions" or "wall"), if issue 15 set one.  ``daemon``: the bash client
    and the HOME's warm daemon answer it (no Python starts), else False (Python answers)."""

    def __init__(self, key: str, label: str, reference: str | None = "floor",
                 limit: float | None = None, measure: str = "instructions",
                 daemon: bool = False) -> None:
        self.key, self.label, self.reference = key, label, reference
        self.limit, self.measure, self.daemon = limit, measure, daemon


def rows(others: int) -> list[Row]:
    return [
        Row("floor", "`python -I -c pass`, the installed venv's interpreter", None),
        Row("get_file", "`git-credential-gitlab get`, file store, hot †", limit=1.40,
            daemon=True),
        Row("store_file", "`git-credential-gitlab store` of the credential just served †",
            limit=1.15, daemon=True),
        Row("get_keyring", "`git-credential-gitlab get`, Secret Service, hot †", limit=2.00,
            daemon=True),
        Row("docker", "`docker-credential-gitlab get`, file store, hot"),
        Row("get_many", "`git-credential-gitlab get`, file store, %d tokens on other hosts †"
            % others, "get_file", limit=1.05, daemon=True),
        Row("shared", "`git-credential-gitlab get`, token shared through OpenBao (paused) †",
            daemon=True),
        Row("get_launcher", "`git-credential-gitlab-python get`, file store, hot: the Python "
            "launcher alone"),
        Row("ls_store", "`git ls-remote` over HTTPS through `git credential-store`", None),
        Row("ls_credhelper", "`git ls-remote` over HTTPS through credhelper †", "ls_store",
            limit=1.10, measure="wall", daemon=True),
        Row("ls_launcher", "`git ls-remote` over HTTPS through credhelper, no XDG_RUNTIME_DIR "
            "(the client execs the launcher)", "ls_store"),
    ]


_REFERENCE = {"floor": "floor", "get_file": "1 token", "ls_store": "credential-store"}
LEGEND = ("† the bash client and the HOME's warm daemon (no Python starts): instructions are "
          "the client's (with git and its children for ls-remote) plus the daemon's per run, "
          "counted apart (the daemon is no child: callgrind_control switches it on only while "
          "it serves); its work is inside the client's wall time, which waits for the answer.")


def results(table: list[Row], client: dict[str, int], walls: dict[str, float],
            daemon: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Every row's figures and ratios, and its verdict: PASS, FAIL, or None (no limit, or
    its measure was not taken).  A row's instructions are its ``client`` count plus, for a
    row the daemon serves, the ``daemon``'s per run."""
    daemon = daemon or {}
    counts = {key: value + round(daemon.get(key, 0)) for key, value in client.items()}
    out: dict[str, dict[str, Any]] = {}
    for row in table:
        if row.key not in walls:
            continue
        ratios = {}
        for measure, values in (("instructions", counts), ("wall", walls)):
            base = values.get(row.reference or "")
            ratios[measure] = values[row.key] / base if base and row.key in values else None
        ratio = ratios[row.measure]
        verdict = None if row.limit is None or ratio is None else \
            "PASS" if ratio <= row.limit else "FAIL"
        out[row.key] = {"label": row.label, "instructions": counts.get(row.key),
                        "wall_ms": walls[row.key] * 1000, "reference": row.reference,
                        "instructions_ratio": ratios["instructions"],
                        "wall_ratio": ratios["wall"], "limit": row.limit,
                        "measure": row.measure, "result": verdict, "daemon": row.daemon,
                        "client_instructions": client.get(row.key),
                        "daemon_instructions": daemon.get(row.key)}
    return out


def markdown(table: list[Row], figures: dict[str, dict[str, Any]], rounds: int) -> str:
    lines = ["| scenario | instructions (callgrind) | ratio | wall, median of %d | ratio "
             "| ratios against | limit (issue 15) | result |" % rounds,
             "|---|---|---|---|---|---|---|---|"]
    for row in table:
        if row.key not in figures:
            continue
        got = figures[row.key]
        count = _count(got)
        limit = "≤ %.2fx (%s)" % (row.limit, row.measure) if row.limit else "—"
        verdict = got["result"] or ("n/a (not measured)" if row.limit else "")
        if got["result"]:
            verdict = "**%s** (%.3fx)" % (verdict, got["%s_ratio" % row.measure])
        lines.append("| %s | %s | %s | %.1f ms | %s | %s | %s | %s |" % (
            row.label, count, _ratio(got["instructions_ratio"]), got["wall_ms"],
            _ratio(got["wall_ratio"]), _REFERENCE.get(row.reference or "", "—"), limit,
            verdict))
    return "\n".join(lines + ["", LEGEND])


def _count(got: dict[str, Any]) -> str:
    if not got["instructions"]:
        return "n/a"
    if got["daemon_instructions"] is None:
        return "%.1f M" % (got["instructions"] / 1e6)
    return "%.1f M (client %.1f + daemon %.1f)" % (
        got["instructions"] / 1e6, got["client_instructions"] / 1e6,
        got["daemon_instructions"] / 1e6)


def _ratio(value: float | None) -> str:
    return "%.2fx" % value if value is not None else "—"
