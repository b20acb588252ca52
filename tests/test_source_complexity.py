"""The complexity counting rules (knowledge/source/complexity.py), one rule per row.

Each row: an Elixir snippet inside `defmodule M`, the function, and the expected
(complexity, nesting). The comment on each row says which rule it exercises."""

import pytest

from elixir_scope.knowledge.source import analyze_source


def figures(body: str, key: str) -> tuple[int, int]:
    result = analyze_source(f"defmodule M do\n{body}\nend\n")
    assert not result.errors, result.errors
    mod = result.module("M")
    assert mod is not None
    name, arity = key.split("/")
    fn = mod.function(name, int(arity))
    assert fn is not None, f"{key} not found in {[f.key for f in mod.functions]}"
    return fn.complexity, fn.nesting


CASES = [
    # base: a straight-line function is 1, nesting 0
    ("def f(x), do: x + 1", "f/1", 1, 0),
    # a pipe and remote calls add nothing
    ("def f(x), do: x |> Enum.map(&inc/1) |> Enum.sum()", "f/1", 1, 0),
    # rule 1: each clause beyond the first +1
    ("def f(0), do: :zero\ndef f(_), do: :other", "f/1", 2, 0),
    ("def f(0), do: 0\ndef f(1), do: 1\ndef f(n), do: n", "f/1", 3, 0),
    # rule 1: a bodiless head declaring defaults is not a clause
    ("def f(a, b \\\\ 1)\ndef f(a, b), do: a + b", "f/2", 1, 0),
    # rule 1: clauses of different arities are different functions
    ("def f(a), do: a\ndef f(a, b), do: a + b", "f/2", 1, 0),
    # rule 2: case, k clauses -> k - 1
    ("def f(x) do\n  case x do\n    1 -> :a\n    2 -> :b\n    _ -> :c\n  end\nend", "f/1", 3, 1),
    ("def f(x) do\n  case x do\n    _ -> :only\n  end\nend", "f/1", 1, 1),
    # rule 2: cond
    ("def f(x) do\n  cond do\n    x > 1 -> :big\n    true -> :small\n  end\nend", "f/1", 2, 1),
    # rule 2 + 3: receive clauses k - 1, the after clause +1
    ("def f do\n  receive do\n    {:a, v} -> v\n    {:b, v} -> v\n  after\n    100 -> :timeout\n  end\nend",
     "f/0", 3, 1),
    # rule 2: a one-clause fn adds nothing but nests
    ("def f(xs), do: Enum.map(xs, fn x -> x * 2 end)", "f/1", 1, 1),
    # rule 2: a two-clause fn +1
    ("def f(xs), do: Enum.map(xs, fn\n  0 -> :zero\n  x -> x\nend)", "f/1", 2, 1),
    # rule 3: rescue and catch, every clause +1; try's after adds nothing
    ("def f do\n  try do\n    g()\n  rescue\n    ArgumentError -> 1\n    RuntimeError -> 2\n  catch\n"
     "    :exit, _ -> 3\n  after\n    h()\n  end\nend\ndefp g, do: 1\ndefp h, do: 2", "f/0", 4, 1),
    # rule 3: rescue directly in a def body
    ("def f do\n  g()\nrescue\n  e -> e\nend\ndefp g, do: 1", "f/0", 2, 0),
    # rule 2: try/else clauses k - 1
    ("def f do\n  try do\n    1\n  else\n    1 -> :a\n    _ -> :b\n  end\nend", "f/0", 2, 1),
    # rule 4: if +1, else adds nothing
    ("def f(x) do\n  if x do\n    1\n  else\n    2\n  end\nend", "f/1", 2, 1),
    ("def f(x), do: if(x, do: 1)", "f/1", 2, 1),
    # rule 4: unless
    ("def f(x) do\n  unless x, do: 1, else: 2\nend", "f/1", 2, 1),
    # rule 4: for comprehension
    ("def f(xs), do: for(x <- xs, do: x * 2)", "f/1", 2, 1),
    # rule 5: with, one per <- clause; = bindings nothing
    ("def f do\n  with {:ok, a} <- g(),\n       b = a + 1,\n       {:ok, c} <- g() do\n    b + c\n  end\nend\n"
     "defp g, do: {:ok, 1}", "f/0", 3, 1),
    # rule 5 + 2: with else clauses k - 1
    ("def f do\n  with {:ok, a} <- g() do\n    a\n  else\n    {:error, _} -> 0\n    _ -> -1\n  end\nend\n"
     "defp g, do: {:ok, 1}", "f/0", 3, 1),
    # rule 6: a guard +1
    ("def f(x) when is_integer(x), do: x", "f/1", 2, 0),
    # rules 6 + 7: a guard with `and` is +2
    ("def f(x) when is_integer(x) and x > 0, do: x", "f/1", 3, 0),
    # rules 1 + 6: a guarded clause and a catch-all
    ("def f(x) when x > 0, do: :pos\ndef f(_), do: :other", "f/1", 3, 0),
    # rule 6 in case clauses; rule 7 `or` inside it
    ("def f(x) do\n  case x do\n    n when n < 0 or n > 10 -> :out\n    _ -> :in\n  end\nend", "f/1", 4, 1),
    # rule 7: && and || each +1
    ("def f(a, b, c), do: a && b || c", "f/3", 3, 0),
    # rule 7: and / or each +1
    ("def f(a, b), do: a and b", "f/2", 2, 0),
    # rule 7: not, !, comparisons count nothing
    ("def f(a, b), do: not a == !b", "f/2", 1, 0),
    # rule 7: operators inside a capture still count
    ("def f(xs), do: Enum.filter(xs, &(&1 > 0 and &1 < 10))", "f/1", 2, 0),
    # nesting: case inside fn inside Enum.map is 2 (the Enum.map call is not a construct)
    ("def f(xs) do\n  Enum.map(xs, fn x ->\n    case x do\n      1 -> :a\n      _ -> :b\n    end\n  end)\nend",
     "f/1", 2, 2),
    # nesting: if inside case inside if is 3; siblings do not add up
    ("def f(x) do\n  if x do\n    case x do\n      1 -> if x, do: 1\n      _ -> 0\n    end\n  end\n"
     "  if x, do: 2\nend", "f/1", 5, 3),
    # nesting: the maximum over clauses
    ("def f(0), do: 0\ndef f(x) do\n  case x do\n    _ -> if x, do: 1\n  end\nend", "f/1", 3, 2),
    # private functions and macros follow the same rules
    ("defp f(x) when is_atom(x), do: x", "f/1", 2, 0),
    ("defmacro m(x) do\n  quote do\n    if unquote(x), do: 1\n  end\nend", "m/1", 2, 1),
]


@pytest.mark.parametrize(("body", "key", "complexity", "nesting"), CASES,
                         ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_counting_rule(body, key, complexity, nesting):
    assert figures(body, key) == (complexity, nesting)


def test_size_lines_calls_and_clauses():
    src = ("defmodule M do\n"
           "  def f(0), do: g(1)\n"
           "  def f(x) do\n"
           "    y = g(x)\n"
           "    Enum.sum([y, h(x)])\n"
           "  end\n"
           "  defp g(x), do: x\n"
           "  defp h(x), do: x\n"
           "end\n")
    fn = analyze_source(src).module("M").function("f", 1)
    assert (fn.clauses, fn.lines, fn.line, fn.calls) == (2, 5, 2, 4)  # g, g, Enum.sum, h
    assert fn.kind == "def" and fn.public


def test_module_complexity_is_the_sum_of_its_functions():
    mod = analyze_source("defmodule M do\n def a(x), do: x && 1\n def b(x) when x > 1, do: x\nend\n").module("M")
    assert (mod.complexity, mod.max_complexity) == (4, 2)


def test_defs_inside_quote_are_templates_not_functions():
    src = ("defmodule M do\n"
           "  defmacro __using__(_) do\n"
           "    quote do\n"
           "      def injected(x) when is_integer(x), do: x\n"
           "    end\n"
           "  end\n"
           "end\n")
    mod = analyze_source(src).module("M")
    assert [f.key for f in mod.functions] == ["__using__/1"]
    assert mod.function("__using__", 1).complexity == 2  # the guard inside the quote counts for the macro


def test_dynamic_function_names_are_skipped_not_fatal():
    src = ("defmodule M do\n"
           "  for name <- [:a, :b] do\n"
           "    def unquote(name)(x), do: x\n"
           "  end\n"
           "  def ok(x), do: x\n"
           "end\n")
    result = analyze_source(src)
    assert not result.errors
    assert [f.key for f in result.module("M").functions] == ["ok/1"]


def test_nested_modules_get_full_names_and_their_own_functions():
    src = "defmodule A do\n def a, do: 1\n defmodule B do\n  def b(x), do: x || 1\n end\nend\n"
    result = analyze_source(src)
    assert [m.name for m in result.modules] == ["A", "A.B"]
    assert [f.key for f in result.module("A").functions] == ["a/0"]
    assert result.module("A.B").function("b", 1).complexity == 2


def test_protocol_implementations_are_modules_and_quoted_modules_are_not():
    result = analyze_source("defimpl String.Chars, for: Money do\n def to_string(m), do: m.text\nend\n"
                            "defmodule Money do\n defimpl Inspect do\n  def inspect(m, _o), do: m.text\n end\nend\n"
                            "defmodule Gen do\n defmacro __using__(_) do\n  quote do\n"
                            "   defmodule Child do\n    def f, do: 1\n   end\n  end\n end\nend\n")
    assert [m.name for m in result.modules] == ["String.Chars.Money", "Money", "Inspect.Money", "Gen"]
    assert result.module("String.Chars.Money").function("to_string", 1) is not None
