"""The ``infergraph`` command. One module per subcommand; :mod:`.main` parses and dispatches."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
