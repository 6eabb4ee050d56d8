"""``graphops connector``: the Power Platform custom connector's files, made from the API document and the start
actions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from graphops.api import openapi_document
from graphops.cli.base import cli
from graphops.connector.definition import connector_files


@cli.command("connector")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("connector"),
    show_default=True,
    help="The folder to write apiDefinition.swagger.json and apiProperties.json to.",
)
def connector(out: Path) -> None:
    """Write the custom connector for Power Automate and Logic Apps (docs/connector.md): a trigger "When a Graph
    operation ends", and actions to track, start, read and cancel. Run it after adding a start action."""
    out.mkdir(parents=True, exist_ok=True)
    for name, text in connector_files(json.loads(openapi_document())).items():
        (out / name).write_text(text)
        click.echo(f"wrote {out / name}")
