"""`handlers` and `inspect` explain themselves, and docs/cli.md documents every option."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from infergraph.cli.main import build_parser

CLI_DOC = Path(__file__).parents[2] / "docs" / "cli.md"


def section(title: str) -> str:
    """The text of docs/cli.md's ``## title`` section."""
    found = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", CLI_DOC.read_text(), re.M | re.S)
    assert found, f"docs/cli.md has no '## {title}' section"
    return found.group(1)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def documented_names(parser: argparse.ArgumentParser) -> list[str]:
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        names += action.option_strings or [action.metavar or action.dest.upper()]
    return names


@pytest.mark.parametrize("command", ["handlers", "inspect", "serve"])
def test_the_subcommand_has_a_description(command: str) -> None:
    parser = subcommands()[command]
    assert parser.description and len(parser.description) > 80
    assert parser.description.split()[0] in parser.format_help()


@pytest.mark.parametrize("title", ["General options", "handlers", "inspect", "serve"])
def test_every_option_is_documented(title: str) -> None:
    parser = build_parser() if title == "General options" else subcommands()[title]
    text = section(title)
    for name in documented_names(parser):
        if name in ("-h", "--help") and title != "General options":
            continue
        assert f"`{name}" in text, f"docs/cli.md, section {title!r}, does not document {name}"
