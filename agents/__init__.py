"""The diagnosis agent: a LangGraph graph that plans instrumentation, captures, detects and
explains, plus report rendering. Does not format MCP replies.

::

    from elixir_scope.agents import DiagnosisContext, DiagnosisInput, diagnose, render_markdown
    report = await diagnose(DiagnosisInput(symptom="checkout hangs", node="shop@host",
                                           trigger="Shop.checkout(1)"),
                            DiagnosisContext(store=store, conn=conn))
    print(render_markdown(report)); report.to_json()

Module map: ``state`` (input and full state), ``context`` (run configuration and live
resources), ``planner``, ``capture``, ``view`` + ``detectors/`` (what a recording proves),
``explain`` (templated narrative), ``llm`` + ``evidence_tools`` (a model, optional: ``model_api``
is the backend interface, ``anthropic_backend`` one backend, ``tool_loop`` the loop),
``findings`` (the report's typed model and JSON schema), ``report`` (Markdown), ``graph``.

Heavy libraries (langgraph, anthropic) load only when ``diagnose`` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .findings import REPORT_SCHEMA, Culprit, Evidence, Finding, Report
from .llm import LLMConfig
from .report import render_json, render_markdown
from .state import DiagnosisInput

if TYPE_CHECKING:
    from .context import DiagnosisContext

__all__ = [
    "REPORT_SCHEMA",
    "Culprit",
    "DiagnosisContext",
    "DiagnosisInput",
    "Evidence",
    "Finding",
    "LLMConfig",
    "Report",
    "diagnose",
    "render_json",
    "render_markdown",
]


def __getattr__(name: str) -> Any:
    if name == "diagnose":
        from .graph import diagnose

        return diagnose
    if name == "DiagnosisContext":
        from .context import DiagnosisContext

        return DiagnosisContext
    raise AttributeError(f"module 'elixir_scope.agents' has no attribute {name!r}")
