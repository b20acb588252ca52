"""A human-readable Markdown summary of a SourceAnalysis (for the CLI, reports, and the
agent's context window). Bounded: long lists are cut with a count of what was left out."""

from __future__ import annotations

from .model import SourceAnalysis


def render_markdown(result: SourceAnalysis, *, max_items: int = 15) -> str:
    lines = [f"# Source analysis of `{result.root}`", "",
             f"{result.files} files, {result.lines} lines, {len(result.modules)} modules, "
             f"{len(result.flags)} flags, {len(result.errors)} file(s) skipped.", ""]
    if result.flags:
        lines += ["## Flags", ""]
        for f in result.flags[:max_items]:
            where = ", ".join(str(loc) for loc in f.locations[:3])
            lines.append(f"- **{f.kind.value}** ({f.severity}): {f.message} — {where}")
        lines += _more(len(result.flags), max_items) + [""]
    roled = [m for m in result.modules if m.roles]
    if roled:
        lines += ["## Processes and roles", "", "| module | roles | callbacks | registered as |", "|---|---|---|---|"]
        for m in roled[:max_items * 2]:
            roles = ", ".join(r.value for r in m.roles)
            if m.supervisor and m.supervisor.strategy:
                roles += f" ({m.supervisor.strategy})"
            lines.append(f"| `{m.name}` | {roles} | {', '.join(m.callbacks)} | {', '.join(m.registered_names)} |")
        lines += [""] + _more(len(roled), max_items * 2) + [""]
    fns = sorted(((m, f) for m in result.modules for f in m.functions), key=lambda mf: -mf[1].complexity)
    if fns:
        lines += ["## Most complex functions", "", "| function | complexity | nesting | clauses | lines |",
                  "|---|---|---|---|---|"]
        for m, f in fns[:max_items]:
            lines.append(f"| `{m.name}.{f.key}` | {f.complexity} | {f.nesting} | {f.clauses} | {f.lines} |")
        lines.append("")
    if result.errors:
        lines += ["## Skipped files", ""]
        lines += [f"- `{e.file}:{e.line}`: {e.message}" for e in result.errors[:max_items]]
        lines += _more(len(result.errors), max_items)
    return "\n".join(lines).rstrip() + "\n"


def _more(total: int, shown: int) -> list[str]:
    return [f"- … and {total - shown} more"] if total > shown else []
