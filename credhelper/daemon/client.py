"""The bash client install.sh installs as ``git-credential-gitlab`` on Linux: it asks the
warm daemon (``server.py``, which describes the wire) with bash builtins only, so a ``get``
or ``store`` starts no Python.  Everything else goes to the Python launcher on the same
input: another action, CI job variables, ``CREDHELPER_NO_DAEMON``, no ``XDG_RUNTIME_DIR``, an
input line the wire could not carry, no live daemon (a ``get`` then starts one for the next
command), a busy or declining daemon, or no reply within the bound.

Every wait is bounded: both FIFOs are opened read-write (an open never blocks, even on a
FIFO whose daemon died), and every read has ``-t``.  The secret passes through builtins
(``read``, ``printf``) only, never an argv.  ``-p`` keeps ``BASH_ENV`` and exported functions
out.  bash cannot hold a NUL: it drops one from the input where the full path would refuse
it, which only joins two pieces of a value the caller wrote itself (README, threat model).
"""

from __future__ import annotations

import shlex

from credhelper.daemon.place import DIRECTORY
from credhelper.daemon.server import ENVIRONMENT, PRESENCE, SLOTS, STALL
from credhelper.launcher import SILENT_STORE

MAX_LINES = 64

CLIENT = r"""#!/bin/bash -p
# credhelper's git-credential-gitlab (install.sh writes it: credhelper/daemon/client.py says
# how it works): the warm daemon answers, else the Python launcher does.
launcher=@LAUNCHER@
daemon=@DAEMON@
id=@ID@
if [[ $# -ne 1 || ( $1 != get && $1 != store && $1 != erase ) || -n ${CREDHELPER_NO_DAEMON-} \
        || -n @PRESENT@ || ${XDG_RUNTIME_DIR-} != /* ]]; then
    exec "$launcher" "$@"
fi
nl=$'\n' input='' n=0 plain=1
fallback() {    # the launcher on exactly what was read, then the rest of the input
    exec 3>&- 4>&-
    { printf '%s' "$input"; exec cat; } | "$launcher" "$@"
    exit
}
while :; do
    if ! IFS= read -r line; then                # the end of the input
        input+=$line
        [[ -z $line ]] || plain=''              # a last line without its newline
        break
    fi
    input+=$line$nl
    [[ -z $line ]] && break
    [[ $line == . ]] && plain=''                # the wire's end mark
    (( ++n > @MAX_LINES@ )) && { plain=''; break; }
done
[[ @VALUES@ != *$nl* ]] || plain=''             # a newline would forge a line of the wire
[[ -n $plain ]] || fallback "$@"
d=$XDG_RUNTIME_DIR/@DIRECTORY@
if [[ ! -O $d ]] || ! { IFS= read -r pid && IFS= read -r fd; } <"$d/pid" 2>/dev/null \
        || [[ -z $pid || -z $fd || $pid$fd == *[!0-9]* || ! /proc/$pid/fd/$fd -ef $d/rep.0 ]]
then    # no live daemon: a pid alone could be another process's by now
    if [[ $1 == get && ( ! -e $d || -O $d ) ]]; then
        ( exec "$daemon" "$id" </dev/null >/dev/null 2>&1 & )
    fi
    fallback "$@"
fi
set -C          # claim a slot: noclobber's open is O_CREAT|O_EXCL
slot=''
for (( k = 0; k < @SLOTS@; k++ )); do
    if { true >"$d/lock.$k"; } 2>/dev/null; then slot=$k; break; fi
done
set +C
[[ -n $slot && -p $d/req.$slot && -p $d/rep.$slot ]] || fallback "$@"
{ exec 3<>"$d/req.$slot" 4<>"$d/rep.$slot"; } 2>/dev/null || fallback "$@"
nonce=$$.$RANDOM$RANDOM       # the reply names it: never another client's answer
printf '%s\n' "$id" "$nonce" "$1" @LINES@ -- >&3
printf '%s.\n' "$input" >&3
IFS= read -r -t @STALL@ status <&4 || fallback "$@"
out='' ended=''
while IFS= read -r -t @STALL@ reply <&4; do
    [[ $reply == . ]] && { ended=1; break; }
    out+=$reply$nl
done
printf 'done\n' >&3
[[ $status == "silent $nonce" ]] && export @SILENT@=1    # the launcher must not wait again
[[ $status == "ok $nonce" && -n $ended ]] || fallback "$@"
exec 3>&- 4>&-
printf '%s' "$out"
"""


def script(launcher: str, daemon: str, install_id: str) -> str:
    """The client for this install: the Python launcher and daemon it names, and the id that
    tells the daemon of an older install to retire."""
    lines = " ".join('"${%s+=$%s}"' % (name, name) for name in ENVIRONMENT)
    lines += " " + " ".join('"${%s+=}"' % name for name in PRESENCE)
    replacements = {
        "@LAUNCHER@": shlex.quote(launcher), "@DAEMON@": shlex.quote(daemon),
        "@ID@": shlex.quote(install_id), "@DIRECTORY@": DIRECTORY, "@SLOTS@": str(SLOTS),
        "@STALL@": str(int(STALL)), "@MAX_LINES@": str(MAX_LINES), "@LINES@": lines,
        "@PRESENT@": "".join("${%s+x}" % name for name in PRESENCE),
        "@VALUES@": '"' + "".join("${%s-}" % name for name in ENVIRONMENT) + '"',
        "@SILENT@": SILENT_STORE,
    }
    text = CLIENT
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text
