"""The agents package's public names, pinned; importing it stays light (no langgraph, anthropic,
chromadb or torch until a diagnosis runs)."""

import subprocess
import sys

import elixir_scope.agents as agents


def test_public_names():
    assert sorted(agents.__all__) == sorted([
        "REPORT_SCHEMA", "Culprit", "DiagnosisContext", "DiagnosisInput", "Evidence", "Finding",
        "LLMConfig", "Report", "diagnose", "render_json", "render_markdown"])
    for name in agents.__all__:
        assert getattr(agents, name) is not None
    assert agents.REPORT_SCHEMA == "elixir-scope/diagnosis-report@1"


def test_import_is_light():
    code = ("import sys, elixir_scope.agents; "
            "heavy = [m for m in ('langgraph', 'anthropic', 'chromadb', 'torch', 'sentence_transformers') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
