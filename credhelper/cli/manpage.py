"""`credhelper man`: print credhelper(1) as roff, generated from the parser (cli/clitree.py),
so the page lists exactly the commands and options that exist.  ``man -l`` shows it;
install.sh puts it where man finds it (~/.local/share/man/man1).  The page carries no date:
the same version gives the same page."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from credhelper.cli.clitree import Argument, Command, Option
    from credhelper.cli.common import Commands

SEE_ALSO = "git-credential(7), gitcredentials(7), git-config(1)"
# the environment a user may set (README, "Configuration"); each with what it does
ENVIRONMENT = (
    ("CREDHELPER_CONFIG", "the configuration file (default "
     "$XDG_CONFIG_HOME/credhelper/config.toml)"),
    ("CREDHELPER_STORE", "the store for new tokens: keyring or file"),
    ("CREDHELPER_DEBUG", "set to 1 to see a traceback where credhelper reports an internal "
     "error"),
)


def register(commands: Commands) -> None:
    page = commands.add_parser("man", help="print the manual page (roff; view it with "
                               "credhelper man | man -l -)")
    page.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from credhelper.cli import clitree

    print(page(clitree.tree()), end="")
    return 0


def page(root: Command) -> str:
    from credhelper import __version__

    lines = ['.TH CREDHELPER 1 "" "credhelper %s" "User Commands"' % __version__, ".nh", ".ad l",
             ".SH NAME", "credhelper \\- " + _text(root.description.rstrip(".")),
             ".SH SYNOPSIS"]
    for command in root.commands:
        tail = _synopsis_tail(command)
        lines += [".B credhelper %s" % _text(command.path[-1])] + ([tail] if tail else []) + [
            ".br"]
    lines += [".SH DESCRIPTION", _text(
        "credhelper keeps GitLab tokens in the system keyring or a 0600 file, checks, rotates "
        "and refreshes them, and serves the right one per host and project to git "
        "(git-credential-gitlab), docker (docker-credential-gitlab), cargo, Terraform and the "
        "package managers. Tokens are read from stdin or a hidden prompt, never from the "
        "command line.")]
    lines += [".SH OPTIONS"] + [line for option in root.options for line in _option(option)]
    lines.append(".SH COMMANDS")
    for command in root.walk()[1:]:
        lines += _command(command)
    lines += [".SH ENVIRONMENT"]
    for name, meaning in ENVIRONMENT:
        lines += [".TP", ".B " + name, _text(meaning)]
    lines += [".SH EXIT STATUS", _text("0 on success, 1 when a command fails (one line on "
                                       "stderr says why), 2 for a usage error, 130 when "
                                       "interrupted."),
              ".SH SEE ALSO", _text(SEE_ALSO)]
    return "\n".join(lines) + "\n"


def _command(command: Command) -> list[str]:
    lines = [".SS %s" % _quoted(("%s %s" % (_text(command.name), _synopsis_tail(command))).strip())]
    if command.description:
        lines.append(_text(command.description))
    for argument in command.arguments:
        lines += [".TP", ".I " + _text(argument.name), _text(_argument_help(argument))]
    for option in command.options:
        if "--help" not in option.flags:
            lines += _option(option)
    return lines


def _synopsis_tail(command: Command) -> str:
    words = [("[%s]" if a.optional else "%s") % a.name for a in command.arguments]
    if command.commands:
        words.append("{%s}" % ",".join(sub.path[-1] for sub in command.commands))
    if any("--help" not in option.flags for option in command.options):
        words.append("[options]")
    return _text(" ".join(words))


def _option(option: Option) -> list[str]:
    flags = ", ".join("\\fB%s\\fR" % _text(flag) for flag in option.flags)
    if option.metavar:
        flags += " \\fI%s\\fR" % _text(option.metavar)
    return [".TP", flags, _text(option.help)]


def _argument_help(argument: Argument) -> str:
    return argument.help or ("one of " + ", ".join(argument.choices) if argument.choices
                             else "")


def _quoted(text: str) -> str:
    return '"%s"' % text.replace('"', '\\(dq')


def _text(text: str) -> str:
    """Running text for roff: backslashes and hyphens escaped, no line taken for a request
    (a leading dot or quote)."""
    text = " ".join(text.replace("\\", "\\e").replace("-", "\\-").split())
    return "\\&" + text if text[:1] in (".", "'") else text
