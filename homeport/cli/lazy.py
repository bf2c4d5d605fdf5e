"""Commands imported when they are used: ``homeport status`` loads the read side only.

The root group knows each command by name and by where it lives (``module:attribute``:
a typer function, or a ``typer.Typer`` for a group such as ``sim``). A command's module
is imported the first time the command is looked up — to run it, to print its help, to
complete it in the shell — and built exactly as ``app.command()`` / ``app.add_typer()``
would have built it, then tidied for help (``helpfmt.tidy``). So the daemon never loads
the simulator, and a read command neither the reconcilers nor their clients.

``homeport --help`` and the shell's completion of a command name list every command with
its one-line help: that comes from a table (``summaries``), so listing imports no command.

A command that needs an optional extra (``sim`` and ``demo`` run the simulator, which
needs ``homeport[sim]``) and whose libraries are not installed is listed all the same;
running it says what to install, in one line, exit 2 — never an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from homeport.cli.helpfmt import tidy

Loader = Callable[[str, str], Any]


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name, in the order declared; built on first access.

    ``click``'s group reads its ``commands`` mapping for everything (lookup, listing,
    "did you mean"), so laziness here serves all of them. Asking whether a name is a
    command imports nothing; reading it imports its module.
    """

    def __init__(self, places: Mapping[str, str], load: Loader) -> None:
        self._places = dict(places)
        self._order = list(places)
        self._built: dict[str, Any] = {}
        self._load = load

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._load(name, self._places[name])  # KeyError: no such
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._places.pop(name, None)
        self._built.pop(name, None)

    def is_built(self, name: str) -> bool:
        return name in self._built

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


class LazyGroup(TyperGroup):
    """The root group: ``places`` names every command and where it lives, ``summaries``
    its one-line help, ``extras`` the optional extra a command needs and ``extra_modules``
    what each extra installs (subclass it)."""

    places: ClassVar[Mapping[str, str]] = {}
    summaries: ClassVar[Mapping[str, str]] = {}
    extras: ClassVar[Mapping[str, str]] = {}
    extra_modules: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False  # while the commands are listed, not run
        eager = dict(self.commands)  # registered with app.command(): none today
        self.commands = LazyCommands(self.places, self._load)
        for name, command in eager.items():
            tidy(command)
            self.commands[name] = command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # The group's own help and flags (typer appends the completion flags after
        # constructing the group, so not in ``__init__``); each command's as it is built.
        tidy(self, children=False)
        return super().main(*args, **kwargs)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._listed():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        with self._listed():
            return super().shell_complete(ctx, incomplete)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names, in order: typer's reads every command

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        commands = self.commands
        listed_only = (
            self._listing
            and cmd_name in self.summaries
            and isinstance(commands, LazyCommands)
            and not commands.is_built(cmd_name)
        )
        return self._summary(cmd_name) if listed_only else super().get_command(ctx, cmd_name)

    @contextmanager
    def _listed(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def _summary(self, name: str) -> Any:
        """What a listing shows of command ``name``: its name and one-line help, or that
        its extra is not installed (as the command itself would say), built unimported."""
        extra = self.extras.get(name)
        missing = [
            module
            for module in self.extra_modules.get(extra or "", ())
            if importlib.util.find_spec(module) is None
        ]
        if extra is not None and missing:
            stand_in = not_installed(name, extra, missing=missing[0])
            return self._command(name, stand_in)
        return TyperCommand(name=name, help=self.summaries[name])

    def _load(self, name: str, place: str) -> Any:
        module, _, attribute = place.partition(":")
        try:
            target = getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as exc:
            if name not in self.extras or (exc.name or "homeport").startswith("homeport"):
                raise  # a command of the core install, or a module of ours: a bug
            stand_in = not_installed(name, self.extras[name], missing=str(exc.name))
            # It takes whatever it is given (``sim up --state DIR``) and says what to do.
            anything = {"ignore_unknown_options": True, "allow_extra_args": True}
            return self._command(name, stand_in, context_settings=anything)
        return self._command(name, target)

    def _command(
        self, name: str, target: Any, *, context_settings: dict[str, Any] | None = None
    ) -> Any:
        """The click command ``app.command(name)(target)`` or ``app.add_typer(target,
        name=name)`` builds under this group's settings, tidied for help."""
        scratch = typer.Typer(
            rich_markup_mode=self.rich_markup_mode,
            suggest_commands=self.suggest_commands,
            add_completion=False,
        )
        if isinstance(target, typer.Typer):
            scratch.add_typer(target, name=name)
        else:
            scratch.command(name, context_settings=context_settings)(target)
        command = typer.main.get_group(scratch).commands[name]
        tidy(command)
        return command


def not_installed(name: str, extra: str, *, missing: str) -> Callable[..., None]:
    """A stand-in for command ``name``, which needs ``homeport[extra]``: it says so."""
    fix = f"pip install 'homeport[{extra}]'"

    def command() -> None:
        from homeport.cli.output import console

        console(stderr=True).print(
            f"error: homeport {name} needs the {extra!r} extra ({missing} is not installed): {fix}",
            markup=False,
        )
        raise typer.Exit(2)

    markup = fix.replace("[", "\\[")  # the help is rich markup: [sim] would be a style tag
    command.__doc__ = f"Not installed here: needs the {extra} extra ({markup})."
    return command
