"""Subcommands, one module per area; each exposes ``register(subparsers, common)``."""

from __future__ import annotations

import argparse


def register_all(sub, common: argparse.ArgumentParser) -> None:
    from . import demo, history, mcp, nodes, recordings

    for module in (demo, nodes, history, recordings, mcp):
        module.register(sub, common)
