#!/usr/bin/env bash
# Install credhelper for the current user and show it working.
#
#     ./install.sh [--help]
#     ./install.sh --uninstall [--revoke|--keep] [--forget-tokens]
#
# 1. makes sure python3 (>= 3.11) with venv and git are there (apt-get when root or with sudo);
# 2. creates an isolated environment (default ~/.local/share/credhelper-venv) and installs
#    credhelper from this checkout into it;
# 3. links credhelper and its helpers (git, docker, cargo, terraform) into ~/.local/bin, and
#    terraform-credentials-gitlab into ~/.terraform.d/plugins, where Terraform looks for it;
#    then puts credhelper's manual page and shell completion (bash; zsh and fish when installed)
#    into your data directories;
# 4. runs `credhelper selftest`: a real git clone and push through the helper against a local
#    fake GitLab (nothing of yours is read or changed);
# 5. tells you the next command.
#
# Environment: CREDHELPER_VENV, CREDHELPER_BIN (where the links go), PYTHON (the interpreter).
# Re-running upgrades in place; your tokens and config are kept (they live elsewhere).
# --uninstall runs `credhelper uninstall` (git's, docker's and npm's entries out; tokens offered
# for revocation), then removes what this script put in place; see uninstall() below.
set -euo pipefail

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<'EOF'
usage: ./install.sh [--help]
       ./install.sh --uninstall [--revoke|--keep] [--forget-tokens]

Installs credhelper for the current user, from this checkout:
  - an isolated environment: $CREDHELPER_VENV (default ~/.local/share/credhelper-venv)
  - credhelper, git-credential-gitlab, docker-credential-gitlab, cargo-credential-gitlab and
    terraform-credentials-gitlab linked into $CREDHELPER_BIN (default ~/.local/bin), and
    terraform-credentials-gitlab into ~/.terraform.d/plugins
  - the manual page (~/.local/share/man/man1/credhelper.1) and shell completion for bash
    (~/.local/share/bash-completion/completions), zsh and fish when they are installed
then runs `credhelper selftest` against a local fake GitLab (nothing of yours is read).
Re-running upgrades in place; tokens and config are kept.  Missing git or python3-venv are
installed with apt-get when run as root or with password-less sudo.

Options:
  -h, --help       print this and exit, installing nothing
  --uninstall      take credhelper out of git's, docker's and npm's configuration
                   (`credhelper uninstall`), then remove the links, the Terraform plugin link,
                   the manual page, the completions and the environment; tokens stay in
                   credhelper's store unless revoked or --forget-tokens
  --revoke, --keep, --forget-tokens
                   with --uninstall: revoke every token on the server / keep them there without
                   asking (default: ask at a terminal, else keep) / forget the ones not revoked
Environment: CREDHELPER_VENV, CREDHELPER_BIN, PYTHON (the interpreter, default python3)
EOF
}

uninstalling=0
passed=()           # for `credhelper uninstall`
for arg in "$@"; do
    case $arg in
        -h|--help) usage; exit 0 ;;
        --uninstall) uninstalling=1 ;;
        --revoke|--keep|--forget-tokens) passed+=("$arg") ;;
        # the argument is named only when it looks like an option: never echo a pasted secret
        -[A-Za-z]|--[A-Za-z-]*[A-Za-z])
            [ ${#arg} -le 40 ] || arg="given"
            printf 'install.sh: unknown option %s (see ./install.sh --help)\n' "$arg" >&2
            exit 2 ;;
        *) printf 'install.sh: takes no arguments but --help (see ./install.sh --help)\n' >&2
           exit 2 ;;
    esac
done

if [ ${#passed[@]} -gt 0 ] && [ $uninstalling -eq 0 ]; then
    printf 'install.sh: %s goes with --uninstall (see ./install.sh --help)\n' "${passed[0]}" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${CREDHELPER_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/credhelper-venv}
bindir=${CREDHELPER_BIN:-$HOME/.local/bin}
python=${PYTHON:-python3}
data=${XDG_DATA_HOME:-$HOME/.local/share}
plugins=$HOME/.terraform.d/plugins
fish_completion=${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions/credhelper.fish
[ -t 0 ] || exec </dev/null

# --uninstall: first the clients' configuration (while the helper still runs, and so that git
# never names a helper that is gone), then only what this script made: a link is removed only
# when it points into the environment.
uninstall() {
    if [ -x "$venv/bin/credhelper" ]; then
        "$venv/bin/credhelper" uninstall "${passed[@]}" \
            || die "credhelper uninstall failed (see above); nothing else was removed"
        [ ! -x "$venv/bin/credhelper-daemon" ] || "$venv/bin/credhelper-daemon" --stop || true
    else
        say "No environment at $venv: git's and docker's entries were not checked"
    fi
    local name link removed=()
    for link in "$bindir"/{credhelper,git-credential-gitlab,docker-credential-gitlab} \
                "$bindir"/{cargo-credential-gitlab,terraform-credentials-gitlab,keyring} \
                "$plugins/terraform-credentials-gitlab"; do
        if [ -L "$link" ] && case $(readlink "$link") in "$venv"/*) true ;; *) false ;; esac
        then
            rm -f "$link"
            removed+=("$link")
        fi
    done
    for name in "$data/man/man1/credhelper.1" "$data/bash-completion/completions/credhelper" \
                "$data/zsh/site-functions/_credhelper" "$fish_completion"; do
        if [ -f "$name" ]; then
            rm -f "$name"
            removed+=("$name")
        fi
    done
    if [ -d "$venv" ]; then
        rm -rf "$venv"
        removed+=("$venv")
    fi
    say "Removed: ${removed[*]:-nothing}"
    say "Kept: your config (${XDG_CONFIG_HOME:-$HOME/.config}/credhelper) and credhelper's" \
        "data (${data}/credhelper); remove them yourself once no token there is needed"
}
if [ $uninstalling -eq 1 ]; then
    uninstall
    exit 0
fi

apt_install() {
    local runner=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        runner=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    say "Installing $* with apt-get..."
    "${runner[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${runner[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- 1. prerequisites ------------------------------------------------------------------------
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v "$python" >/dev/null 2>&1 || missing+=(python3 python3-venv)
if command -v "$python" >/dev/null 2>&1 && ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" ca-certificates || die "please install: ${missing[*]}"
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "credhelper needs Python 3.11 or newer ($python is $("$python" -V 2>&1))"

# --- 2. the isolated environment -------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
    say "Creating the environment in $venv"
    "$python" -m venv "$venv"
fi
say "Installing credhelper from $here"
# pip builds in the checkout, and setuptools puts whatever build/lib holds into the wheel: a module
# since removed from the tree (the old credhelper/testing/) would be installed again.
rm -rf "$here/build/lib" "$here"/build/bdist.*
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$here" \
    || die "pip install failed (see above)"
# setuptools is only needed to build; its .pth hook would cost every `get` about a millisecond.
"$venv/bin/python" -m pip uninstall --quiet --yes setuptools >/dev/null 2>&1 || true

# pip's console-script wrappers import re and compile a regex on every start (half a million
# instructions); git runs a helper twice per command.  Plain launchers instead, isolated (-I)
# from PYTHONPATH and the user's site-packages, and started without site (-S) until credhelper
# needs it: credhelper/launcher.py writes them and says why.  (A venv path with spaces keeps
# pip's.)
write_launcher() {   # NAME FUNCTION: credhelper.launcher.FUNCTION
    local name=$1 function=$2 tmp
    case "$venv" in *[[:space:]]*) return 0 ;; esac
    tmp=$(mktemp "$venv/bin/.$name.XXXXXX")
    "$venv/bin/python" -I -c 'import sys; from credhelper.launcher import script
sys.stdout.write(script(sys.argv[1]))' "$function" >"$tmp" || die "could not write $name"
    chmod 755 "$tmp"
    mv -f "$tmp" "$venv/bin/$name"
}
write_launcher credhelper run_credhelper
# git's helper.  On Linux with bash: the client of the warm daemon (credhelper/daemon/), which
# answers a get or store with bash builtins and no Python start, and hands everything else to
# the Python launcher; the id tells a daemon of an older install to retire.  Elsewhere: the
# Python launcher itself.
if [ "$(uname -s)" = Linux ] && [ -x /bin/bash ] && ! case "$venv" in *[[:space:]]*) true ;; *) false ;; esac
then
    write_launcher git-credential-gitlab-python run_git
    write_launcher credhelper-daemon run_daemon
    "$venv/bin/credhelper-daemon" --stop || true          # the old code goes now, not later
    tmp=$(mktemp "$venv/bin/.git-credential-gitlab.XXXXXX")
    "$venv/bin/python" -I -c 'import sys; from credhelper.daemon.client import script
sys.stdout.write(script(*sys.argv[1:]))' "$venv/bin/git-credential-gitlab-python" \
        "$venv/bin/credhelper-daemon" "$(date +%s)-$$-$RANDOM" >"$tmp" \
        || die "could not write git-credential-gitlab"
    chmod 755 "$tmp"
    mv -f "$tmp" "$venv/bin/git-credential-gitlab"
else
    write_launcher git-credential-gitlab run_git
fi
write_launcher docker-credential-gitlab run_docker
write_launcher cargo-credential-gitlab run_cargo
write_launcher terraform-credentials-gitlab run_terraform

# --- 3. executables on PATH ------------------------------------------------------------------
mkdir -p "$bindir"
for name in credhelper git-credential-gitlab docker-credential-gitlab cargo-credential-gitlab \
            terraform-credentials-gitlab; do
    ln -sf "$venv/bin/$name" "$bindir/$name"
done
# Terraform (and OpenTofu) run a credentials helper only from their plugin directory, never
# from PATH: without this link `terraform init` gets no token and a silent 401 (README,
# "Package managers").  ln -sfn keeps a re-run idempotent.
mkdir -p "$plugins"
ln -sfn "$venv/bin/terraform-credentials-gitlab" "$plugins/terraform-credentials-gitlab"
say "Linked credhelper and its helpers (git, docker, cargo, terraform) into $bindir," \
    "and terraform-credentials-gitlab into $plugins"
# pip's and uv's --keyring-provider subprocess run `keyring` from PATH; offer ours (with the
# GitLab package backend) unless the user already has one.
if ! command -v keyring >/dev/null 2>&1 || [ "$(command -v keyring)" = "$bindir/keyring" ]; then
    ln -sf "$venv/bin/keyring" "$bindir/keyring"
    say "Linked keyring (for pip/uv --keyring-provider subprocess) into $bindir"
fi

# The manual page and completion scripts, generated from the installed parser; man finds
# ~/.local/share/man through ~/.local/bin on PATH, bash-completion loads its user directory.
installed=()
write_generated() {   # FILE ARGS...: FILE is what `credhelper ARGS...` prints
    local file=$1 tmp
    shift
    mkdir -p "$(dirname "$file")"
    tmp=$(mktemp "$file.XXXXXX")
    if "$venv/bin/credhelper" "$@" >"$tmp"; then
        chmod 644 "$tmp"
        mv -f "$tmp" "$file"
        installed+=("$file")
    else
        rm -f "$tmp"
    fi
}
write_generated "$data/man/man1/credhelper.1" man
write_generated "$data/bash-completion/completions/credhelper" completion bash
if command -v zsh >/dev/null 2>&1; then
    write_generated "$data/zsh/site-functions/_credhelper" completion zsh
fi
if command -v fish >/dev/null 2>&1; then
    write_generated "$fish_completion" completion fish
fi
say "Installed the manual page and shell completion: ${installed[*]}"
if command -v zsh >/dev/null 2>&1; then
    say "  (zsh: put fpath=($data/zsh/site-functions \$fpath) before compinit in ~/.zshrc)"
fi

# The compact copies git's `get` reads (credhelper/local/compact.py), once after an upgrade
# from a version without them; a token file it cannot read is left for `credhelper doctor`.
"$venv/bin/python" -I -c 'from credhelper.local.token_index import TokenIndex
TokenIndex().reindex()' 2>/dev/null || true

# --- 4. show it working ----------------------------------------------------------------------
say ""
say "Self-test:"
PATH="$bindir:$PATH" "$bindir/credhelper" selftest || die "the self-test failed (see above)"

# --- 5. what next ----------------------------------------------------------------------------
say ""
case ":$PATH:" in
    *":$bindir:"*) ;;
    *) say "Add $bindir to your PATH (e.g. in ~/.profile):  export PATH=\"$bindir:\$PATH\"" ;;
esac
say "Next: register a token (it is read from a hidden prompt or stdin, never the command line)"
say "  credhelper login gitlab.com    (or: credhelper add gitlab.com; both set git up for it)"
