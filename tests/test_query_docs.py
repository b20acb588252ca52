"""Every query shown in docs/query-language.md parses (the grammar doc and the parser agree),
and runs on a real store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from elixir_scope.instrument.etf import Atom
from elixir_scope.store import TraceStore
from elixir_scope.store.query import parse, run_query
from support.query_records import MS, flush, new_recording

DOC = Path(__file__).resolve().parents[1] / "docs" / "query-language.md"


def documented_queries() -> list[str]:
    text = DOC.read_text()
    first_block = text.split("```")[1]
    queries = [line for line in first_block.splitlines() if line.strip()]
    for row in re.findall(r"^\| [^|]+ \| (`.+`) \|$", text, re.M):
        for q in re.findall(r"`([^`]+)`", row.replace("\\|", "|")):
            queries.append(q)
    return queries


QUERIES = documented_queries()


def test_the_doc_has_examples():
    assert len(QUERIES) >= 15


@pytest.mark.parametrize("query", QUERIES)
def test_documented_query_parses(query):
    parse(query)


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    store = TraceStore.open(tmp_path_factory.mktemp("docs") / "d.db")
    w, node, b = new_recording(store)
    cart = b.pid(1, "MyApp.Cart", ("MyApp.Cart", "init", 1))
    add = b.mfa("MyApp.Cart", "add", 2)
    b.call(cart, add, [1, 2], MS)
    b.exc(cart, add, "error", Atom("badarith"), MS)
    flush(w, node, b)
    w.finish("stopped")
    yield store.recording(w.id)
    store.close()


@pytest.mark.parametrize("query", QUERIES)
def test_documented_query_runs(rec, query):
    res = run_query(rec, query)
    assert res.shape in ("events", "matches", "absences", "groups")
