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

# The files that take longest (from `--durations`), longest first. Under pytest-xdist
# (scripts/test.sh: two workers, `--dist loadfile --no-loadscope-reorder`) they are handed out
# first, so that no worker is left running one of them alone at the end; the other files follow
# in their usual order. Only the order changes, and a file missing here only runs later.
LONGEST_FIRST = (
    "test_install.py",
    "test_diagnose.py",
    "test_diagnose_contract.py",
    "test_diagnose_precise.py",
    "test_diagnose_repeats.py",
    "test_diagnose_classes.py",
    "test_diagnose_false.py",
    "test_diagnose_h14b.py",
    "test_diagnose_h14a.py",
    "test_diagnose_drops.py",
    "test_diagnose_left.py",
    "test_diagnose_lead.py",
    "test_mcp_inspector.py",
    "test_ingest_pipeline.py",
    "test_store_yield.py",
    "test_mcp_inspector_live.py",
    "test_evidence_loops.py",
    "test_diagnose_upstream.py",
    "test_mcp_budget.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the order the files are handed out
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


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


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory):
    """``$ELIXIR_SCOPE_HOME`` for the whole session (and the commands it starts): a folder of its
    own, so nothing lands in the user's ~/.local/share, and the knowledge index the code finds by
    default — the command line, the MCP server, a diagnosis given no ``knowledge_dir`` — is the
    one ``kb_index_dir`` holds: built once per session (by whichever comes first), not once for
    the tests that name it and once more in the user's home. Under pytest-xdist each worker is a
    session of its own, with its own home under its own ``basetemp``: nothing is shared."""
    home = tmp_path_factory.mktemp("elixir-scope-home")
    before = os.environ.get("ELIXIR_SCOPE_HOME")
    os.environ["ELIXIR_SCOPE_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("ELIXIR_SCOPE_HOME", None)
    else:
        os.environ["ELIXIR_SCOPE_HOME"] = before


@pytest.fixture(scope="session")
def kb_index_dir(session_home):
    """One knowledge index (real Chroma + the packaged model) built once per test session (per
    pytest-xdist worker) and shared by the tests that only read it; tests of building and
    syncing make their own. It is the session home's default index (``session_home``): syncing
    it again is a no-op."""
    from elixir_scope.knowledge.index import KnowledgeIndex
    from elixir_scope.knowledge.kb import KnowledgeBase

    path = session_home / "kb-index"
    KnowledgeIndex.open(path).sync(KnowledgeBase.load())
    return path
