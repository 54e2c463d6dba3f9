"""The command line as data: the commands, options and arguments of the argparse parser that
``credhelper`` runs, read from the parser itself.  Shell completion (cli/completion.py) and
the man page (cli/manpage.py) are generated from it, so neither can drift from the parser."""

from __future__ import annotations

import argparse
from typing import NamedTuple

# a positional with this metavar names a command (``credhelper help COMMAND``)
from credhelper.cli.help_command import COMMAND_METAVAR

# a value named like one of these is a file name: the shells offer files for it
_FILE_WORDS = ("PATH", "FILE")


class Option(NamedTuple):
    flags: tuple[str, ...]        # ("-V", "--version")
    help: str
    metavar: str | None           # None: a flag, it takes no value
    choices: tuple[str, ...]      # the values it takes, when argparse knows them
    files: bool                   # its value is a file name


class Argument(NamedTuple):
    name: str                     # HOST, [REGISTRY]...
    help: str
    choices: tuple[str, ...]
    optional: bool
    commands: bool                # it names one of credhelper's commands


class Command(NamedTuple):
    path: tuple[str, ...]         # () for credhelper itself, ("setup", "git")
    help: str
    description: str
    options: tuple[Option, ...]
    arguments: tuple[Argument, ...]
    commands: tuple[Command, ...]

    @property
    def name(self) -> str:
        return " ".join(("credhelper",) + self.path)

    def walk(self) -> list[Command]:
        """This command and every command under it, depth first."""
        return [self] + [sub for command in self.commands for sub in command.walk()]


def tree(parser: argparse.ArgumentParser | None = None) -> Command:
    """``credhelper``'s command tree (its real parser unless given one)."""
    if parser is None:
        from credhelper.cli import build_parser

        parser = build_parser()
    return _command(parser, (), "")


def _command(parser: argparse.ArgumentParser, path: tuple[str, ...], help: str) -> Command:
    options: list[Option] = []
    arguments: list[Argument] = []
    commands: list[Command] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            commands += _subcommands(action, path)
        elif action.option_strings:
            options.append(_option(action))
        else:
            arguments.append(_argument(action))
    return Command(path, help, parser.description or help, tuple(options), tuple(arguments),
                   tuple(commands))


def _subcommands(action: argparse._SubParsersAction[argparse.ArgumentParser],
                 path: tuple[str, ...]) -> list[Command]:
    helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    return [_command(parser, path + (name,), helps.get(name, ""))
            for name, parser in action.choices.items() if name in helps]


def _option(action: argparse.Action) -> Option:
    takes_value = action.nargs != 0
    metavar = _metavar(action) if takes_value else None
    return Option(tuple(action.option_strings), _help(action), metavar, _choices(action),
                  takes_value and any(word in (metavar or "") for word in _FILE_WORDS))


def _argument(action: argparse.Action) -> Argument:
    name = _metavar(action)
    return Argument(name, _help(action), _choices(action), action.nargs in ("?", "*"),
                    name == COMMAND_METAVAR)


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None:
        return "{%s}" % ",".join(str(choice) for choice in action.choices)
    return action.dest.upper() if action.option_strings else action.dest


def _choices(action: argparse.Action) -> tuple[str, ...]:
    return tuple(str(choice) for choice in action.choices or ())


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:                 # argparse's own expansions (%(default)s...)
        text = text % dict(vars(action), prog="credhelper")
    return " ".join(text.split())
