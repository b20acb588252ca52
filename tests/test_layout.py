"""The package layout: top-level folders installed under the `elixir_scope` namespace."""

import tomllib
from pathlib import Path

import elixir_scope

REPO = Path(__file__).resolve().parents[1]


def _config():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed_for_the_wheel():
    cfg = _config()
    mapping = cfg["package-dir"]
    listed = set(cfg["packages"])
    found = set()
    for pkg, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found == listed, f"packages missing from pyproject: {found - listed}; stale: {listed - found}"


def test_parts_import_under_the_namespace():
    import importlib

    for part in ("instrument", "store", "knowledge", "agents", "mcp_server", "cli"):
        mod = importlib.import_module(f"elixir_scope.{part}")
        assert Path(mod.__file__).resolve().parent == REPO / part
    assert elixir_scope.__version__
