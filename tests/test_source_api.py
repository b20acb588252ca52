"""The public surface of elixir_scope.knowledge.source: names, errors, file handling, the
Markdown report."""

from pathlib import Path

import pytest

import elixir_scope.knowledge.source as source
from elixir_scope.knowledge.source import (
    SourceAnalysisError,
    SourcePathError,
    analyze_file,
    analyze_source,
    analyze_tree,
    render_markdown,
)
from elixir_scope.knowledge.source.parse import discover, glob_regex

UMBRELLA = Path(__file__).parent / "fixtures" / "elixir_umbrella"


def test_public_names_are_pinned():
    assert sorted(source.__all__) == [
        "CallEdge", "Candidate", "EtsAccess", "Flag", "FlagKind", "FunctionInfo", "InteractionGraph", "Location",
        "ModuleInfo", "ParseProblem", "RoleKind", "SourceAnalysis", "SourceAnalysisError", "SourcePathError",
        "SupervisorInfo", "SymptomClass", "SymptomError", "TopicUse", "analyze_file", "analyze_source",
        "analyze_tree", "classify_symptom", "rank_candidates", "render_markdown"]
    for name in source.__all__:
        assert getattr(source, name) is not None


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(SourcePathError, match="does not exist"):
        analyze_tree(tmp_path / "nope")
    with pytest.raises(SourcePathError, match="not a file"):
        analyze_file(tmp_path)
    assert issubclass(SourcePathError, SourceAnalysisError)


def test_a_string_instead_of_a_pattern_list_is_rejected():
    with pytest.raises(SourcePathError, match="sequence of glob patterns"):
        analyze_tree(UMBRELLA, include="**/*.ex")


def test_analyze_file_and_tree_on_a_file_agree():
    cart = UMBRELLA / "apps/shop/lib/shop/cart.ex"
    one = analyze_file(cart)
    assert [m.name for m in one.modules] == ["Shop.Cart"] and one.files == 1
    assert analyze_tree(cart).modules == one.modules


def test_broken_file_alone_gives_an_error_not_an_exception():
    result = analyze_file(UMBRELLA / "apps/shop/lib/shop/broken.ex")
    assert result.modules == () and result.files == 0 and len(result.errors) == 1


def test_syntax_error_location_when_the_parser_can_narrow_it():
    result = analyze_source("defmodule M do\n  def ok, do: 1\n  def bad(x), do: x +* 2\nend\n")
    [problem] = result.errors
    assert problem.line == 3 and "line 3" in problem.message


def test_unreadable_and_oversized_files_are_reported(tmp_path):
    (tmp_path / "big.ex").write_text("defmodule Big do\nend\n" * 10)
    result = analyze_tree(tmp_path, max_file_bytes=50)
    assert result.errors[0].file == "big.ex" and "max_file_bytes" in result.errors[0].message


def test_non_utf8_bytes_do_not_break_the_analysis(tmp_path):
    (tmp_path / "latin1.ex").write_bytes(b"defmodule L do\n  def f, do: \"caf\xe9\"\nend\n")
    result = analyze_tree(tmp_path)
    assert [m.name for m in result.modules] == ["L"] and not result.errors


def test_globs():
    rx = glob_regex("**/*.ex")
    assert rx.match("a.ex") and rx.match("lib/a/b.ex") and not rx.match("lib/a.exs")
    assert glob_regex("deps/**").match("deps/x/y.ex") and not glob_regex("deps/**").match("apps/deps.ex")
    assert glob_regex("apps/*/lib/*.ex").match("apps/a/lib/x.ex")
    assert not glob_regex("apps/*/lib/*.ex").match("apps/a/b/lib/x.ex")


def test_discovery_is_lazy_and_sorted():
    files = discover(UMBRELLA)
    assert iter(files) is files  # a generator: the tree is walked as files are consumed
    rels = [p.relative_to(UMBRELLA).as_posix() for p in files]
    assert rels == [p.relative_to(UMBRELLA).as_posix() for p in discover(UMBRELLA)]  # stable order
    assert len(rels) == 22 and "apps/shop/lib/shop/broken.ex" in rels
    assert not any(r.startswith(("deps/", "_build/")) or r.endswith(".exs") or "/test/" in r for r in rels)


def test_markdown_report_mentions_flags_roles_and_skipped_files():
    text = render_markdown(analyze_tree(UMBRELLA), max_items=20)
    assert "call_cycle" in text and "ets_read_modify_write" in text
    assert "`Shop.Supervisor` | supervisor (:one_for_all)" in text
    assert "broken.ex" in text and "Most complex functions" in text


def test_a_hundred_files_stream_through(tmp_path):
    """Scale, not speed: 120 generated files in 12 apps, one syntax error among them."""
    template = (UMBRELLA / "apps/shop/lib/shop/cart.ex").read_text()
    for app in range(12):
        lib = tmp_path / f"apps/app{app}/lib"
        lib.mkdir(parents=True)
        for n in range(10):
            (lib / f"cart{n}.ex").write_text(template.replace("Shop.Cart", f"App{app}.Cart{n}")
                                             .replace("alias Shop.Inventory", f"alias App{app}.Inventory"))
    (tmp_path / "apps/app0/lib/cart0.ex").write_text("defmodule Broken do\n  def f(, do: 1\nend\n")
    result = analyze_tree(tmp_path)
    assert result.files == 119 and len(result.errors) == 1 and len(result.modules) == 119
    assert all(m.function("handle_call", 3).complexity == 7 for m in result.modules)
