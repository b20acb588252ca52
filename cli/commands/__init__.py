"""Subcommands, one module per area; each exposes ``register(subparsers, common)``."""

from __future__ import annotations

import argparse


def register_all(sub, common: argparse.ArgumentParser, only: str | None = None) -> None:
    """Register every subcommand, or with ``only="mcp"`` just that one: the command modules
    import models (pydantic, the store) that cost ~0.4 s, which an MCP client starting the
    server waits for otherwise."""
    if only == "mcp":
        from . import mcp

        mcp.register(sub, common)
        return
    from . import demo, diagnose, export, history, live, mcp, nodes, record, recordings, replay, ui

    for module in (demo, nodes, live, record, history, recordings, export, replay, diagnose, mcp, ui):
        module.register(sub, common)
