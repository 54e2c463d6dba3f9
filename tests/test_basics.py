"""What people type first (issue 13, item 4): --version, help, shell completion for bash, zsh
and fish, the man page, and install.sh --help; all through the installed executables and the
real shells and man."""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from credhelper.cli import clitree
from tests.conftest import credhelper, run

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
COMMANDS = [command.path[-1] for command in clitree.tree().commands]


def test_version_flags_print_the_packages_version():
    for flag in ("--version", "-V"):
        assert credhelper(flag).stdout == "credhelper %s\n" % VERSION
    assert credhelper("version").stdout == "credhelper %s\n" % VERSION


def test_protocol_helpers_print_their_version_without_reading_stdin():
    """stdin is a pipe that stays open: a helper that read it would hang (the timeout)."""
    read_end, write_end = os.pipe()
    try:
        for helper, flag in (("git-credential-gitlab", "--version"),
                             ("git-credential-gitlab", "-V"),
                             ("docker-credential-gitlab", "--version"),
                             ("docker-credential-gitlab", "-v"),
                             ("cargo-credential-gitlab", "--version"),
                             ("terraform-credentials-gitlab", "--version")):
            done = subprocess.run([helper, flag], stdin=read_end, capture_output=True,
                                  text=True, timeout=30)
            assert (done.returncode, done.stdout, done.stderr) == (
                0, "%s (credhelper) %s\n" % (helper, VERSION), ""), helper
    finally:
        os.close(read_end)
        os.close(write_end)


def test_help_command_prints_the_commands_own_help():
    for words in (["add"], ["setup", "git"], ["completion"]):
        assert credhelper("help", *words).stdout == credhelper(*words, "--help").stdout
    assert credhelper("help").stdout == credhelper("--help").stdout


def test_help_for_an_unknown_command_is_one_line_and_fails():
    for words in (["nosuch"], ["setup", "nosuch"]):
        done = credhelper("help", *words, check=False)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and "no command 'nosuch'" in done.stderr


BASH_COMPLETE = """
source <(credhelper completion bash)
complete -p credhelper
offer() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
          _credhelper; echo "${COMPREPLY[*]}"; }
offer credhelper ''
offer credhelper se
offer credhelper setup ''
offer credhelper add gitlab.example.com --kind ''
offer credhelper add --ca-file %s/ca
offer credhelper help s
offer credhelper completion ''
"""


def test_bash_completion_offers_the_parsers_commands_and_options(tmp_path):
    (tmp_path / "ca.pem").write_text("")
    lines = run("bash", "-c", BASH_COMPLETE % tmp_path).stdout.splitlines()
    assert lines[0] == "complete -F _credhelper credhelper"
    assert lines[1].split() == COMMANDS + ["-h", "--help", "-V", "--version"]
    assert "add" in COMMANDS and "setup" in COMMANDS and "man" in COMMANDS
    assert lines[2:5] == ["setup selftest", "git docker -h --help", "pat deploy oauth job"]
    assert lines[5] == str(tmp_path / "ca.pem")              # a file, for a PATH option
    assert lines[6] == "status setup selftest"               # help completes command names
    assert lines[7].split()[:3] == ["bash", "zsh", "fish"]


# zsh completes for real in a terminal of its own (zpty), with compinit and the generated
# function on $fpath; each read waits for the listing it expects (the subprocess timeout
# bounds a wait for a listing that never comes)
ZSH_COMPLETE = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; fpath=(%s $fpath); autoload -U compinit; compinit -u -D; echo READY'
zpty -r z out '*READY*'
zpty -w z 'credhelper setup '$'\t'
zpty -r z out '*docker*credential.https://HOST.helper*' && print -r -- "SETUP: $out"
zpty -d z
"""


def test_zsh_completion_lists_subcommands_in_a_real_zsh(tmp_path):
    assert shutil.which("zsh"), "zsh is in tests/run's packages"
    (tmp_path / "_credhelper").write_text(credhelper("completion", "zsh").stdout)
    done = run("zsh", "-f", "-c", ZSH_COMPLETE % tmp_path)
    listing = done.stdout.split("SETUP: ", 1)[1]
    assert "add credHelpers entries" in listing and "set credential.https://HOST.helper" \
        in listing
    check = run("zsh", "-f", "-c", "autoload -U compinit && compinit -u -D; source %s; "
                "print -r -- $_comps[credhelper]" % (tmp_path / "_credhelper"))
    assert check.stdout == "_credhelper\n"


def test_fish_completion_offers_commands_and_option_values(tmp_path):
    assert shutil.which("fish"), "fish is in tests/run's packages"
    script = tmp_path / "credhelper.fish"
    script.write_text(credhelper("completion", "fish").stdout)
    done = run("fish", "--no-config", "-c", "source %s; complete -C 'credhelper '; echo ---; "
               "complete -C 'credhelper setup '; echo ---; complete -C 'credhelper add --kind '"
               % script)
    top, setup, kinds = (part.strip().splitlines() for part in done.stdout.split("---"))
    assert sorted(line.split("\t")[0] for line in top) == sorted(COMMANDS)
    assert [line.split("\t")[0] for line in setup] == ["docker", "git"]
    assert [line.split("\t")[0] for line in kinds] == ["deploy", "job", "oauth", "pat"]


def test_man_page_renders_every_command_and_option_without_warnings(tmp_path):
    page = tmp_path / "credhelper.1"
    page.write_text(credhelper("man").stdout)
    done = run("man", "--warnings", "-l", str(page),
               env=dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8"))
    assert done.stderr == ""
    text = done.stdout
    assert "credhelper %s" % VERSION in text
    for command in clitree.tree().walk()[1:]:
        assert command.name in text
        for option in command.options:
            assert all(flag in text for flag in option.flags), (command.name, option)


def test_install_sh_help_and_unknown_arguments_install_nothing(tmp_path, home):
    env = dict(os.environ, CREDHELPER_VENV=str(tmp_path / "venv"),
               CREDHELPER_BIN=str(tmp_path / "bin"))
    done = subprocess.run(["bash", str(ROOT / "install.sh"), "--help"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: ./install.sh")
    assert "--help" in done.stdout and "CREDHELPER_VENV" in done.stdout
    for argument, said in (("--uninstal", "unknown option --uninstal"),
                           ("glpat-pastedpastedpasted", "takes no arguments but --help")):
        done = subprocess.run(["bash", str(ROOT / "install.sh"), argument], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and said in done.stderr
        assert "glpat" not in done.stderr
    assert not (tmp_path / "venv").exists() and not (tmp_path / "bin").exists()
    assert sorted(p.name for p in home.iterdir()) == []


def test_readmes_steps_put_completion_and_man_page_where_the_tools_look(home):
    from tests.support import readme

    readme.run_shell("# shell completion and the man page, by hand", dict(os.environ))
    bash_file = home / ".local/share/bash-completion/completions/credhelper"
    loaded = run("bash", "-c", "source %s; complete -p credhelper" % bash_file)
    assert loaded.stdout == "complete -F _credhelper credhelper\n"
    assert (home / ".local/share/zsh/site-functions/_credhelper").read_text().startswith(
        "#compdef credhelper")
    assert "complete -c credhelper" in (home / ".config/fish/completions/credhelper.fish"
                                        ).read_text()
    shown = run("man", str(home / ".local/share/man/man1/credhelper.1"))
    assert "credhelper completion SHELL" in shown.stdout
