"""Human and machine output for the command line.

Everything shown comes from a node or a recording, so every text is *data*: table cells,
field values, titles and lines are shown with control characters escaped (``visible``: a
name holding ``\x1b[2J`` cannot clear the terminal) and Rich markup escaped (a name holding
``[red]`` or ``[/]`` is printed as is, never interpreted or crashing the renderer). Only the
fixed labels of this module add styling.

Human output is rich tables with every Erlang term printed the Elixir way (``inspect``);
``--json`` prints one JSON document on stdout for scripts, with terms as their Elixir text
so a script never has to understand ETF. Progress and errors go to stderr, so ``--json``
output can always be piped.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from elixir_scope.instrument.etf.inspect import inspect
from elixir_scope.instrument.etf.visible import visible


def term(value: Any, *, limit: int = 20, printable_limit: int = 200) -> str:
    """One Erlang term as short Elixir text, for a table cell."""
    return inspect(value, limit=limit, printable_limit=printable_limit)


def jsonable(value: Any) -> Any:
    """Plain JSON data for ``value``: models and dataclasses as objects, terms as Elixir text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "model_dump"):  # pydantic models
        return jsonable(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and _is_plain_dataclass(value):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: jsonable(v) for k, v in value.items()}
    if type(value) in (list, tuple) and not _is_term_container(value):
        return [jsonable(v) for v in value]
    return inspect(value, limit=100, printable_limit=4096)


def _is_plain_dataclass(value: Any) -> bool:
    # ETF value objects (Pid, Ref, Export...) are dataclasses too, but are terms.
    return not type(value).__module__.startswith("elixir_scope.instrument.etf")


def _is_term_container(value: Any) -> bool:
    return isinstance(value, tuple)  # a tuple is an Erlang tuple, shown as {a, b}


class Output:
    """Where a command writes: a rich console for people, or JSON for scripts."""

    def __init__(self, *, json_mode: bool = False, stream=None, err_stream=None) -> None:
        self.json_mode = json_mode
        stream = stream or sys.stdout
        # Piped output is read by people too: give tables room instead of 80 columns.
        width = None if stream.isatty() else 140
        self.console = Console(file=stream, highlight=False, soft_wrap=False, width=width)
        self.err = Console(file=err_stream or sys.stderr, highlight=False)

    def emit_json(self, value: Any) -> None:
        self.console.file.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")
        self.console.file.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              *, right: Sequence[str] = ()) -> None:
        t = Table(title=safe(title) if title else title, title_justify="left", header_style="bold")
        for c in columns:
            t.add_column(c, justify="right" if c in right else "left", overflow="fold")
        for row in rows:
            t.add_row(*[safe(cell if isinstance(cell, str) else term(cell)) for cell in row])
        self.console.print(t)

    def fields(self, title: str | None, pairs: Iterable[tuple[str, Any]]) -> None:
        if title:
            self.console.print(f"[bold]{safe(title)}[/bold]")
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        for k, v in pairs:
            t.add_row(safe(k), safe(v if isinstance(v, str) else term(v)))
        self.console.print(t)

    def tree(self, tree: Tree) -> None:
        self.console.print(tree)

    def line(self, text: str = "") -> None:
        """Plain text (possibly several lines, e.g. a generated test): control characters other
        than the line breaks are shown as escapes, markup is not interpreted."""
        self.console.print(visible_lines(text), markup=False, highlight=False)

    def markdown(self, text: str) -> None:
        """A Markdown document (a diagnosis report) rendered for people: control characters
        other than the line breaks are shown as escapes first, line by line (escaping the
        whole text would print every line break as a literal ``\\x0a``)."""
        from rich.markdown import Markdown

        self.console.print(Markdown(visible_lines(text)))

    def warn(self, text: str) -> None:
        """A warning for people (stderr), e.g. gaps in what was examined."""
        self.err.print(f"[yellow]{safe(text)}[/yellow]")

    def note(self, text: str) -> None:
        """Status for people (stderr, never mixed into --json output)."""
        self.err.print(f"[dim]{safe(text)}[/dim]")

    def error(self, message: str, hint: str | None) -> None:
        self.err.print(f"[bold red]error:[/bold red] {safe(message)}", soft_wrap=True)
        if hint:
            self.err.print(f"[yellow]hint:[/yellow] {safe(hint)}", soft_wrap=True)


def visible_lines(text: str) -> str:
    """``text`` with control characters shown as escapes, its line breaks kept."""
    return "\n".join(visible(part) for part in text.split("\n"))


def safe(text: str) -> str:
    """Text from a node or a recording, ready for a Rich markup string: control characters
    shown as escapes, markup escaped."""
    from rich.markup import escape

    return escape(visible(text))


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
