"""Subcommands, one module per area; each exposes ``register(subparsers, common)``."""

from __future__ import annotations

import argparse


def register_all(sub, common: argparse.ArgumentParser) -> None:
    from . import demo, diagnose, export, history, live, mcp, nodes, record, recordings, replay, ui

    for module in (demo, nodes, live, record, history, recordings, export, replay, diagnose, mcp, ui):
        module.register(sub, common)
