"""Starting an example scenario that runs on several nodes (``"nodes"`` in its scenario.json,
see examples/README.md): the further nodes first, then the first node, all with one cookie so
they can reach each other. ``{node1}``, ``{node2}`` … in a ``start`` or ``trigger`` expression
stand for the further nodes' names as Elixir atoms."""

from __future__ import annotations

import json
import re
import secrets

from support.nodes import REPO, BeamNode, start_node

EXAMPLES = REPO / "examples"


def scenario(name: str) -> dict:
    return json.loads((EXAMPLES / name / "scenario.json").read_text())


def is_multi_node(name: str) -> bool:
    return bool(scenario(name).get("nodes"))


def substitute(expr: str, nodes: list[BeamNode]) -> str:
    """``{nodeN}`` → the name of the scenario's node N as an Elixir atom (node 0 is the first)."""
    def name(m: re.Match) -> str:
        i = int(m.group(1))
        if not 0 <= i < len(nodes) or nodes[i] is None:
            raise ValueError(f"{expr!r} names node {i}, which is not started yet (further nodes start in "
                             "order, the first node last)")
        return f':"{nodes[i].name}"'
    return re.sub(r"\{node(\d+)\}", name, expr)


def start_cluster_scenario(name: str) -> list[BeamNode]:
    """Every node of scenario ``name``, the first node first in the list. The caller stops them."""
    sc = scenario(name)
    folder = EXAMPLES / name
    cookie = secrets.token_hex(12)
    further: list[BeamNode] = []
    started: list[BeamNode] = []
    try:
        for spec in sc.get("nodes", []):
            # a further node may name the nodes started before it ({node1} …), never the first
            expr = substitute(spec["start"], [None, *further])
            node = start_node("elixir", cookie=cookie, elixir_files=[folder / f for f in spec["files"]],
                              eval_code="{:ok, _} = " + expr)
            further.append(node)
            started.append(node)
        names = [None, *further]
        first = start_node("elixir", cookie=cookie, elixir_files=[folder / f for f in sc["files"]],
                           eval_code="{:ok, _} = " + substitute(sc["start"], names))
        started.append(first)
    except Exception:
        for node in started:
            node.stop()
        raise
    return [first, *further]


def trigger(name: str, nodes: list[BeamNode]) -> str:
    return substitute(scenario(name)["trigger"], nodes)
