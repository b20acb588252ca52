"""Shared fixtures: real BEAM nodes with unique names and cookies, stopped by their own pid."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import REPO, BeamNode, start_node  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

SAMPLE_APP = REPO / "examples" / "sample_app"


@pytest.fixture
def erl_node():
    node = start_node("erl")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def erl_node_module():
    node = start_node("erl")
    yield node
    node.stop()


@pytest.fixture
def otp28_node():
    node = start_node("otp28")
    yield node
    node.stop()


def start_sample_app(**kw) -> BeamNode:
    """The bundled sample Elixir OTP app (examples/sample_app) as a distributed node."""
    files = sorted((SAMPLE_APP / "lib").rglob("*.ex"))
    return start_node(
        "elixir",
        elixir_files=files,
        eval_code="{:ok, _} = SampleApp.start()",
        **kw,
    )


@pytest.fixture
def sample_app() -> BeamNode:
    node = start_sample_app()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def sample_app_module() -> BeamNode:
    node = start_sample_app()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def kb_index_dir(tmp_path_factory):
    """One knowledge index (real Chroma + the packaged model) built once per test session and
    shared by the tests that only read it; tests of building and syncing make their own."""
    from elixir_scope.knowledge.index import KnowledgeIndex
    from elixir_scope.knowledge.kb import KnowledgeBase

    path = tmp_path_factory.mktemp("kb-index-shared")
    KnowledgeIndex.open(path).sync(KnowledgeBase.load())
    return path
