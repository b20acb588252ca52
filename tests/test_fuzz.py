"""The fuzz stage: hostile input for every parser of bytes and text, bounded to about a minute
in total on a shared 2-core machine (hypothesis with fixed example budgets, deadlines off;
about 4,000 examples, ~15 s of CPU). Each target may raise only its
documented error:

- ETF decoding (random bytes, and mutations of real encodings): ``DecodeError``;
- the store's batch scanning (``etfscan``, ``parse_records``): ``BatchFormatError``;
- printing any term, however deep, wide or big (``inspect``): never raises, bounded output;
- the trace spec compiler: ``SpecError``;
- the query parser: ``QuerySyntaxError``.

Hypothesis keeps failing examples in its database, so a regression found once is replayed
first on the next run.
"""

from __future__ import annotations

import struct
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elixir_scope.instrument.etf import Atom, DecodeError, ImproperList, Pid, decode, decode_one, encode
from elixir_scope.instrument.etf.inspect import inspect
from elixir_scope.instrument.specs import SpecError, compile_spec
from elixir_scope.store import etfscan
from elixir_scope.store.errors import BatchFormatError
from elixir_scope.store.batch import RecordsBuffer
from elixir_scope.store.ingest import parse_records
from elixir_scope.store.query import QuerySyntaxError, parse

def budget(n: int) -> settings:
    """``n`` examples, no per-example deadline (the machine is shared), no health checks."""
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))

# -- terms ---------------------------------------------------------------------------------

# the atoms true and false are Python's booleans once decoded (st.booleans() covers them), so an
# Atom("false") does not survive a round trip as an Atom by design
atoms = st.text(max_size=20).filter(lambda s: s not in ("true", "false")).map(Atom)
leaves = st.one_of(
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=40), atoms, st.booleans(),
    st.builds(lambda n: Pid(Atom("a@b"), n, 0, 1), st.integers(0, 2 ** 15 - 1)),
)
terms = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.lists(inner, max_size=6).map(tuple),
        st.dictionaries(st.one_of(atoms, st.binary(max_size=8)), inner, max_size=5),
        st.builds(lambda items, tail: ImproperList(items, tail), st.lists(inner, min_size=1, max_size=3), leaves),
    ),
    max_leaves=40,
)


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    b = bytearray(data)
    for kind, pos, val in ops:
        if not b:
            break
        i = pos % len(b)
        if kind == 0:
            b[i] = val
        elif kind == 1:
            b.insert(i, val)
        elif kind == 2:
            del b[i]
        else:  # a length field blown up
            b[i:i + 4] = struct.pack(">I", 0xFFFFFFF0 - val)
    return bytes(b)


mutations = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6)


def _decode_only_decode_error(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError:
        pass
    try:
        decode_one(data, 0)
    except DecodeError:
        pass


@budget(1000)
@given(st.binary(max_size=200).map(lambda b: b"\x83" + b))
def test_etf_random_bytes(data):
    _decode_only_decode_error(data)


@budget(400)
@given(terms, mutations, st.booleans())
def test_etf_mutated_encodings(term, ops, compressed):
    raw = encode(term)
    if compressed:
        body = raw[1:]
        raw = b"\x83\x50" + len(body).to_bytes(4, "big") + zlib.compress(body)
    _decode_only_decode_error(_mutate(raw, ops))


@budget(100)
@given(terms)
def test_etf_round_trip_of_generated_terms(term):
    assert decode(encode(term)) == term


# -- batch scanning ------------------------------------------------------------------------

def _scan_only_batch_errors(data: bytes) -> None:
    for fn in (etfscan.body, etfscan.tuple_elements, etfscan.list_elements, etfscan.atom_text,
               lambda d: etfscan.skip(d, 1)):
        try:
            fn(data)
        except BatchFormatError:
            pass


@budget(300)
@given(terms, mutations)
def test_etfscan_on_mutated_terms(term, ops):
    _scan_only_batch_errors(_mutate(encode(term), ops))
    _scan_only_batch_errors(encode(term))


@budget(150)
@given(st.lists(st.tuples(st.integers(0, 20), terms), max_size=5), mutations)
def test_parse_records_on_mutated_batches(records, ops):
    out = RecordsBuffer()
    for i, (kind, t) in enumerate(records):
        out.add(kind, 0, i, 0, 1, 0, encode(t))
    buf = out.binary()
    for data in (buf, _mutate(buf, ops) if buf else b"\x00" * 7, buf + buf):
        try:
            parse_records(data)
        except BatchFormatError:
            pass


# -- printing ------------------------------------------------------------------------------

@budget(250)
@given(terms, st.integers(1, 60), st.integers(0, 300), st.sampled_from(["elixir", "erlang"]))
def test_printing_never_raises(term, limit, printable, syntax):
    text = inspect(term, limit=limit, printable_limit=printable, syntax=syntax, max_chars=20_000)
    assert isinstance(text, str) and len(text) < 40_000


@budget(60)
@given(st.integers(50, 3000), st.sampled_from(["list", "tuple", "map"]), st.integers(0, 5))
def test_printing_deep_and_huge_terms(depth, shape, exp):
    t: object = 10 ** (10 ** exp)
    for _ in range(depth):
        t = [t] if shape == "list" else (t,) if shape == "tuple" else {Atom("k"): t}
    text = inspect(t, max_chars=50_000)
    assert isinstance(text, str) and len(text) < 100_000


# -- spec and query parsers ----------------------------------------------------------------

SPEC_WORDS = ["MyApp.Cart", ".", "add", "(", ")", "x", ",", "_", ":_", ':"$1"', "when", "and", "or",
              "not", "==", ">", "1", "1.5e308", "9" * 60, "{", "}", "[", "]", "|", "%{", "=>", "::",
              "return", "->", "lists:map/2", "is_integer", "true", "'$$'", "<<", ">>", '"s"', "in"]


def _spec(text: str) -> None:
    try:
        compile_spec(text)
    except SpecError:
        pass


@budget(600)
@given(st.text(max_size=60))
def test_spec_any_text(text):
    _spec(text)


@budget(500)
@given(st.lists(st.sampled_from(SPEC_WORDS), max_size=20), st.integers(0, 400))
def test_spec_word_salad(words, nest):
    _spec(" ".join(words))
    _spec("MyApp.f(" + "{" * nest + "x" + "}" * nest + ")")


QUERY_WORDS = ["calls", "MyApp.Cart.add/2", "where", "arg[1]", ">", "9" * 50, "1e400", "last", "30s",
               "|", "count", "by", "sequence", "call", "then", "(", ")", "[", "]", "{", "}", "%{",
               "not", "and", "or", "within", "same", "process", "1e9999999s", "limit", "<0.1.0>"]


@budget(400)
@given(st.lists(st.sampled_from(QUERY_WORDS), max_size=25), st.integers(0, 500))
def test_query_word_salad_and_nesting(words, nest):
    for text in (" ".join(words), "calls where " + "(" * nest + "arg[1] = 1" + ")" * nest,
                 "calls where arg[1] = " + "[" * nest + "1" + "]" * nest):
        try:
            parse(text)
        except QuerySyntaxError as err:
            assert 0 <= err.position <= len(text)
