"""The prebuilt agent shipped as package data: built from the shipped source (and rebuilt
byte-for-byte by scripts/build_agent.sh), loaded with one ``code:load_binary`` on OTP 25 and on
the OTP 28 runtime, and skipped for compiling when it is stale.

If ``test_the_shipped_beam_is_built_from_the_shipped_source`` fails, the .erl changed since
the beam was built: run ``bash scripts/build_agent.sh`` and commit the beam."""

from __future__ import annotations

import os
import subprocess

import pytest
from elixir_scope.instrument.agent import agent_version, ensure_agent
from elixir_scope.instrument.agent import loader
from elixir_scope.instrument.agent.loader import (
    HASH_ATTRIBUTE,
    MODULE,
    PREBUILT_PATH,
    SOURCE_PATH,
    AgentLoadError,
    beam_attributes,
    prebuilt,
)
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom
from support.nodes import REPO

BUILD = REPO / "scripts" / "build_agent.sh"


def build(src, out) -> None:
    env = {**os.environ, "ES_AGENT_SRC": str(src), "ES_AGENT_OUT": str(out)}
    proc = subprocess.run(["bash", str(BUILD)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_shipped_beam_is_built_from_the_shipped_source():
    pre = prebuilt()
    assert pre.beam is not None, pre.why
    assert pre.beam == PREBUILT_PATH.read_bytes()


def test_the_build_script_reproduces_the_shipped_beam_byte_for_byte(tmp_path):
    out = tmp_path / "agent.beam"
    build(SOURCE_PATH, out)
    assert out.read_bytes() == PREBUILT_PATH.read_bytes(), \
        "the shipped beam is not what scripts/build_agent.sh builds now: rerun it and commit the beam"


def test_beam_attributes_reads_the_source_hash_and_refuses_non_beams():
    attrs = beam_attributes(PREBUILT_PATH.read_bytes())
    assert len(attrs[HASH_ATTRIBUTE][0]) == 64
    with pytest.raises(AgentLoadError, match="not a BEAM"):
        beam_attributes(b"FOR1\x00\x00\x00\x04JUNK")


async def _attach(beam_node, **kw):
    async with Node() as node:
        conn = await node.connect(beam_node.name, cookie=beam_node.cookie)
        res = await ensure_agent(conn, **kw)
        attrs = await conn.rpc(MODULE, "module_info", [Atom("attributes")])
        where = await conn.rpc("code", "which", [Atom(MODULE)])
        return res, dict(attrs), "".join(map(chr, where))


async def test_a_fresh_otp25_node_gets_the_prebuilt_agent(erl_node):
    res, attrs, where = await _attach(erl_node)
    assert (res.how, res.version, res.note) == ("prebuilt", agent_version(), "")
    assert attrs[Atom(HASH_ATTRIBUTE)] == beam_attributes(PREBUILT_PATH.read_bytes())[HASH_ATTRIBUTE]
    assert where == f"{MODULE}.erl"  # loaded from memory, nothing written on the target


async def test_the_otp28_runtime_loads_the_prebuilt_agent(otp28_node):
    res, attrs, _ = await _attach(otp28_node)
    assert res.how == "prebuilt" and Atom(HASH_ATTRIBUTE) in attrs


async def test_a_stale_prebuilt_agent_is_skipped_for_compiling_on_the_target(erl_node, tmp_path, monkeypatch):
    edited = tmp_path / f"{MODULE}.erl"
    edited.write_bytes(SOURCE_PATH.read_bytes() + b"\n%% edited after the beam was built\n")
    stale = tmp_path / f"{MODULE}.beam"
    build(edited, stale)
    monkeypatch.setattr(loader, "PREBUILT_PATH", stale)
    assert "stale" in prebuilt().why and "scripts/build_agent.sh" in prebuilt().why
    res, attrs, _ = await _attach(erl_node)
    assert res.how == "target_compile" and "stale" in res.note
    assert Atom(HASH_ATTRIBUTE) not in attrs  # the compiled-from-source agent, not the stale beam
