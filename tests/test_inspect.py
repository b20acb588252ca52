"""Elixir-style term formatting, checked against the real ``IO.inspect`` of the installed Elixir.

Two tables:

- ``ELIXIR_CASES``: Elixir expressions. One ``elixir`` run prints, for each, the
  ``term_to_binary`` bytes and ``inspect`` text; the test decodes the bytes with our ETF decoder
  and requires our ``inspect`` to print exactly what Elixir printed. (Funs and structs are
  left out here: Elixir names a fun by its compiled name, which the external format does not
  carry, and prints struct fields in definition order, which a decoded map does not keep.)
- ``PYTHON_CASES``: terms built in Python for what Elixir cannot produce for us (the tracer's
  truncation and redaction markers, funs, structs) and for the Erlang syntax.
"""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elixir_scope.instrument.etf.decode import decode
from elixir_scope.instrument.etf.inspect import inspect
from elixir_scope.instrument.etf.terms import (
    Atom,
    BitBinary,
    Charlist,
    Export,
    ImproperList,
    Pid,
    Port,
    Ref,
)

# (Elixir expression, inspect options as an Elixir keyword list, our keyword arguments)
ELIXIR_CASES: list[tuple[str, str, dict]] = [
    (":ok", "[]", {}),
    ("nil", "[]", {}),
    ("true", "[]", {}),
    ("false", "[]", {}),
    (':"foo bar"', "[]", {}),
    ("Foo.Bar", "[]", {}),
    (':"Elixir.foo"', "[]", {}),
    (":foo?", "[]", {}),
    (":+", "[]", {}),
    (":a@b", "[]", {}),
    (":Foo", "[]", {}),
    (':"9a"', "[]", {}),
    (':""', "[]", {}),
    (':"a\\"b"', "[]", {}),
    ("1", "[]", {}),
    ("-5", "[]", {}),
    ("123456789012345678901234567890", "[]", {}),
    ("0.1", "[]", {}),
    ("1.0e20", "[]", {}),
    ("1.0e-10", "[]", {}),
    ("1.0e15", "[]", {}),
    ("-0.0", "[]", {}),
    ("1.5e300", "[]", {}),
    ('"hello"', "[]", {}),
    ('"a\\"b\\n\\#{1}\\\\"', "[]", {}),
    ('"héllo wörld"', "[]", {}),
    ('"\\e\\a\\t"', "[]", {}),
    ('""', "[]", {}),
    ("<<255, 104>>", "[]", {}),
    ("<<0, 1>>", "[]", {}),
    ("<<1, 2, 3::4>>", "[]", {}),
    ("<<5::3>>", "[]", {}),
    ("'hi'", "[]", {}),
    ("[104, 105]", "[]", {}),
    ("[0, 1]", "[]", {}),
    ("'hello\\n'", "[]", {}),
    ("[104, 233]", "[]", {}),
    ("[]", "[]", {}),
    ("[1, 2 | 3]", "[]", {}),
    ("[:a | :b]", "[]", {}),
    ('[1, "two", :three, 4.0]', "[]", {}),
    ('[a: 1, "b c": 2]', "[]", {}),
    ('[{:a, 1}, {"b", 2}]', "[]", {}),
    ("[{Foo, 1}]", "[]", {}),
    ("[{:a, 1, 2}]", "[]", {}),
    ("%{}", "[]", {}),
    ("%{a: 1, b: 2}", "[]", {}),
    ("%{1 => 2, a: 1}", "[]", {}),
    ('%{"a" => 1, 2 => 3, :b => 4}', "[]", {}),
    ('%{"k" => [1, %{x: {:ok, "v"}}]}', "[]", {}),
    ('%{:"a b" => 1}', "[]", {}),
    ("%{Foo => 1}", "[]", {}),
    ("{:ok, 1}", "[]", {}),
    ("{}", "[]", {}),
    ("{1, {2, {3, []}}}", "[]", {}),
    ("self()", "[]", {}),
    ("make_ref()", "[]", {}),
    ('Port.open({:spawn, "true"}, [])', "[]", {}),
    ("&String.length/1", "[]", {}),
    ("&:lists.map/2", "[]", {}),
    ("&Kernel.+/2", "[]", {}),
    ("Enum.to_list(1..60)", "[]", {}),
    ("Enum.to_list(1..5)", "[limit: 2]", {"limit": 2}),
    ("{1, 2, 3, 4}", "[limit: 2]", {"limit": 2}),
    ("%{a: 1, b: 2, c: 3}", "[limit: 1]", {"limit": 1}),
    ("<<1, 2, 3, 4, 5>>", "[limit: 2]", {"limit": 2}),
    ('["a", 1]', "[limit: 1]", {"limit": 1}),
    ("[a: 1, b: 2]", "[limit: 1]", {"limit": 1}),
    ('String.duplicate("ab", 10)', "[printable_limit: 5]", {"printable_limit": 5}),
    ('String.duplicate("ab", 10) |> String.to_charlist()', "[printable_limit: 5]", {"printable_limit": 5}),
    ('String.duplicate("x", 5000)', "[]", {}),
]


@pytest.fixture(scope="module")
def elixir_printed() -> list[tuple[bytes, str]]:
    """Run every expression through the real Elixir once: (term_to_binary, inspect text)."""
    if shutil.which("elixir") is None:
        pytest.fail("elixir is not installed (apt-get install -y elixir)")
    lines = []
    for expr, opts, _ in ELIXIR_CASES:
        lines.append(
            f"t = ({expr}); IO.puts(Base.encode64(:erlang.term_to_binary(t)) <> "
            f'"\\t" <> Base.encode64(inspect(t, {opts} ++ [width: :infinity])))'
        )
    script = "\n".join(lines)
    out = subprocess.run(["elixir", "-e", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = []
    for line in out.stdout.splitlines():
        etf, text = line.split("\t")
        rows.append((base64.b64decode(etf), base64.b64decode(text).decode()))
    assert len(rows) == len(ELIXIR_CASES)
    return rows


@pytest.mark.parametrize("index", range(len(ELIXIR_CASES)), ids=[c[0][:40] for c in ELIXIR_CASES])
def test_matches_real_elixir_inspect(elixir_printed, index):
    etf, expected = elixir_printed[index]
    kwargs = ELIXIR_CASES[index][2]
    assert inspect(decode(etf), **kwargs) == expected


PID = Pid(Atom("app@host"), 123, 0, 1)
USER = {Atom("__struct__"): Atom("Elixir.MyApp.User"), Atom("age"): 3, Atom("name"): b"x"}

PYTHON_CASES: list[tuple[object, dict, str]] = [
    # the tracer agent's markers, visible and unmistakable
    (Atom("$truncated"), {}, "«truncated»"),
    (Atom("[REDACTED]"), {}, "«redacted»"),
    ((Atom("$truncated"), Atom("binary"), 123456), {}, "«truncated binary: 123456 bytes»"),
    ({Atom("password"): Atom("[REDACTED]")}, {}, "%{password: «redacted»}"),
    ([1, Atom("$truncated")], {}, "[1, «truncated»]"),
    # structs (fields in key order: the definition order is not on the wire)
    (USER, {}, '%MyApp.User{age: 3, name: "x"}'),
    ({Atom("__struct__"): Atom("Elixir.Empty")}, {}, "%Empty{}"),
    # values Python code hands to the printer
    (None, {}, "nil"),
    ("text", {}, '"text"'),
    (Charlist.from_text("abc"), {"charlists": "sigil"}, '~c"abc"'),
    (ImproperList([1], Atom("x")), {}, "[1 | :x]"),
    (BitBinary(b"\x01\xa0", 3), {}, "<<1, 5::size(3)>>"),
    (Export(Atom("Elixir.MyApp.Cart"), Atom("add"), 2), {}, "&MyApp.Cart.add/2"),
    # Erlang syntax, as io:format("~p") prints
    (Atom("ok"), {"syntax": "erlang"}, "ok"),
    (Atom("Elixir.Foo"), {"syntax": "erlang"}, "'Elixir.Foo'"),
    (Atom("receive"), {"syntax": "erlang"}, "'receive'"),
    (b"abc", {"syntax": "erlang"}, '<<"abc">>'),
    (b"\xff\x01", {"syntax": "erlang"}, "<<255,1>>"),
    (Charlist.from_text("abc"), {"syntax": "erlang"}, '"abc"'),
    ({Atom("a"): [1, 2]}, {"syntax": "erlang"}, "#{a => [1,2]}"),
    ((Atom("ok"), PID), {"syntax": "erlang"}, "{ok,<0.123.0>}"),
    (Ref(Atom("n@h"), 1, (1, 2, 3)), {"syntax": "erlang"}, "#Ref<0.3.2.1>"),
    (Port(Atom("n@h"), 5, 1), {"syntax": "erlang"}, "#Port<0.5>"),
    (ImproperList([1, 2], 3), {"syntax": "erlang"}, "[1,2|3]"),
    (Export(Atom("lists"), Atom("map"), 2), {"syntax": "erlang"}, "fun lists:map/2"),
    (None, {"syntax": "erlang"}, "undefined"),
    (list(range(5)), {"syntax": "erlang", "limit": 2}, "[0,1,...]"),
]


@pytest.mark.parametrize("term, kwargs, expected", PYTHON_CASES, ids=[c[2][:40] for c in PYTHON_CASES])
def test_python_built_terms(term, kwargs, expected):
    assert inspect(term, **kwargs) == expected


def test_a_fun_names_its_module_and_arity():
    out = subprocess.run(
        ["elixir", "-e", "IO.write(Base.encode64(:erlang.term_to_binary(fn a, b -> {a, b} end)))"],
        capture_output=True, text=True, timeout=60,
    )
    text = inspect(decode(base64.b64decode(out.stdout)))
    assert text.startswith("#Function<") and text.endswith("/2 in :elixir_eval>") or "/2 in " in text, text


def test_never_raises_on_foreign_objects():
    assert inspect(object()).startswith("<object object")


def _escaped_by_the_loop(text: str, quote: str, interpolation: bool) -> str:
    """What escape() wrote character by character before it became one translate pass."""
    from elixir_scope.instrument.etf.spelling import _ESCAPES

    out, prev = [], ""
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + quote)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif interpolation and ch == "{" and prev == "#":
            out[-1] = "\\#"
            out.append("{")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
        prev = ch
    return "".join(out)


def test_escape_writes_what_the_per_character_loop_wrote():
    import random

    from elixir_scope.instrument.etf.spelling import escape

    rnd = random.Random(7)
    alphabet = list("ab#{}\\\"'\n\r\t\v\b\f\x1b\x7f\x07\x00\x01\x1f é€") + ["##{", "\\#{", "#{#{"]
    texts = ["", "#{", "##{", "\\#{x}", 'say "hi"\n', "tab\there", "\x00\x1f"]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 40))) for _ in range(3000)]
    for text in texts:
        for quote in ('"', "'"):
            for interpolation in (False, True):
                assert escape(text, quote, interpolation) == _escaped_by_the_loop(text, quote, interpolation), \
                    (text, quote, interpolation)


@given(st.text(alphabet=st.sampled_from(['a', 'é', '"', "'", '\\', '#', '{', '}', 'x', '\x00', '\x07', '\x08', '\t',
                                         '\n', '\x0b', '\x0c', '\r', '\x0e', '\x1a', '\x1b', '\x1c', '\x1f', '\x7f',
                                         '\u2028', ' ']), max_size=40),
       st.sampled_from(['"', "'"]), st.booleans())
def test_escape_is_the_per_character_table(text, quote, interpolation):
    """escape() replaces kind by kind (for speed); it must equal the one-character-at-a-time
    definition: backslash, the quote, the named escapes, other control characters as \\xNN, and
    with interpolation the text's own "#{" as "\\#{"."""
    from elixir_scope.instrument.etf.spelling import _ESCAPES, escape

    def one(c: str) -> str:
        if c == "\\":
            return "\\\\"
        if c == quote:
            return "\\" + quote
        if c in _ESCAPES:
            return _ESCAPES[c]
        return f"\\x{ord(c):02X}" if ord(c) < 0x20 else c

    want = "".join(one(c) for c in text)
    assert escape(text, quote, interpolation) == (want.replace("#{", "\\#{") if interpolation else want)
