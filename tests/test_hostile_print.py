"""Printing hostile terms never raises and stays bounded: deep nesting, exponential sharing,
integers too long for decimal text, gigantic binaries and charlists, values that are not
terms. Each elision is visible (``...``, ``«integer of N bits»``, ``«unprintable ...»``)."""

from __future__ import annotations

import pytest

from elixir_scope.cli.render import jsonable, term
from elixir_scope.instrument.etf import Atom, decode
from elixir_scope.instrument.etf.inspect import inspect


def _deep_tuple_bytes(depth: int) -> bytes:
    return b"\x83" + b"\x68\x01" * depth + b"\x6a"


@pytest.mark.parametrize("syntax", ["elixir", "erlang"])
def test_deep_terms_print_with_an_elision(syntax):
    t = decode(_deep_tuple_bytes(900))  # as deep as the decoder goes
    text = inspect(t, syntax=syntax)
    assert text.startswith("{" * 64) and "..." in text and len(text) < 200
    nested: list = []
    for _ in range(100_000):  # far deeper than any recursion limit
        nested = [nested]
    assert "..." in inspect(nested, syntax=syntax)
    assert inspect(nested, max_depth=3, syntax=syntax) == "[[[[...]]]]"  # three levels shown, the fourth elided


def test_exponential_sharing_is_cut_by_the_total_budget():
    t: tuple = ()
    for _ in range(40):  # 2**40 leaves if printed in full
        t = (t, t)
    text = inspect(t, max_chars=5_000)
    assert 5_000 <= len(text) < 8_000 and text.count("...") > 0
    assert len(inspect(t)) < 300_000  # the default budget


def test_huge_integers():
    big = decode(b"\x83\x6f" + (100_000).to_bytes(4, "big") + b"\x00" + b"\xff" * 100_000)
    assert inspect(big) == "«integer of 800000 bits»"
    assert inspect(-big) == "«negative integer of 800000 bits»"
    assert inspect([1, big]) == "[1, «integer of 800000 bits»]"
    assert inspect(2 ** 64) == str(2 ** 64)


def test_gigantic_binaries_and_charlists_print_their_prefix():
    b = b"a" * 50_000_000
    text = inspect(b, printable_limit=10)
    assert text == '"aaaaaaaaaa" <> ...'
    assert inspect(bytes(range(256)) * 1000, limit=3) == "<<0, 1, 2, ...>>"
    cut_utf8 = "é".encode() * 100
    assert inspect(cut_utf8, printable_limit=3) == '"ééé" <> ...'
    assert inspect(list(b"abc") * 1_000_000, printable_limit=4) == "'abca' ++ ..."


def test_values_that_are_not_terms_never_raise():
    class Bad:
        def __repr__(self):
            raise RuntimeError("boom")

    assert inspect(Bad()) == "«unprintable Bad: RuntimeError»"
    assert inspect([Bad()]).startswith("«unprintable")
    assert inspect({Atom("k"): Bad()}).startswith("«unprintable")
    assert len(inspect(object.__new__(type("Long", (), {"__repr__": lambda s: "x" * 10_000})))) < 300


def test_cli_cells_and_json_use_the_same_bounds():
    t = decode(_deep_tuple_bytes(900))
    assert "..." in term(t) and "..." in jsonable([t])[0]
    assert term(10 ** 5000) == "«integer of 16610 bits»"
