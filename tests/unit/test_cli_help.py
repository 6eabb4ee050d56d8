"""The command's help: every option says what it does."""

from __future__ import annotations

from typing import Any

from graphops.cli.base import cli


def test_every_option_has_help() -> None:
    def commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if hasattr(command, "commands"):
                found.extend(commands(command, prefix + name + " "))
        return found

    bare = [(name, param.name) for name, command in commands(cli) for param in command.params
            if param.param_type_name == "option" and not param.help and param.name != "help"]  # fmt: skip
    assert not bare, f"options without help: {bare}"
