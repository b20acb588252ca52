"""What the start answers depend on, so what makes stored answers valid (``start_cache``).

- The *environment key*: the installed versions of the distributions that shape the answers
  (``DEPENDENCIES``: the SDK and pydantic, read from their ``.dist-info`` folder names, no
  import) and the settings that shape them (``ANSWER_FIELDS``; tests/test_mcp_start_answers.py
  checks that changing any other setting changes no answer), with the cache format.
- The *sources*: the sha256 of every ElixirScope module the server had imported when it was
  built (the answers are computed by that code and no other), recorded with the answers by
  ``loaded_sources`` and checked against the files on disk by ``sources_match``. Paths are
  relative to the package (``mcp_server/tools/query.py``), so a check holds on every install.

Content only, never file dates: answers computed once hold on every install of the same code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ServerConfig

__all__ = ["environment_key", "dependency_versions", "loaded_sources", "sources_match", "ANSWER_FIELDS",
           "DEPENDENCIES"]

PACKAGE = "elixir_scope"
# The distributions whose code shapes the answers (schemas, serialisation, negotiation).
DEPENDENCIES = ("mcp", "mcp_types", "pydantic", "pydantic_core")
# The settings that shape the answers (the tools registered); every other one leaves them alone.
ANSWER_FIELDS = ("allow_mutations",)
# The packages the server is built from (the command line's modules only start it).
SERVER_PACKAGES = ("mcp_server", "store", "instrument", "agents", "knowledge")


def dependency_versions() -> dict[str, str]:
    """``{distribution: version}`` from the ``.dist-info`` folders beside each package
    (no import, no metadata parsing); ``"?"`` when it cannot be told."""
    found: dict[str, str] = {}
    listed: dict[str, list[str]] = {}
    for name in DEPENDENCIES:
        version = "?"
        spec = find_spec(name)
        if spec is not None and spec.origin:
            folder = os.path.dirname(os.path.dirname(spec.origin))
            if folder not in listed:
                try:
                    listed[folder] = os.listdir(folder)
                except OSError:
                    listed[folder] = []
            prefix = name + "-"
            for entry in listed[folder]:
                if entry.endswith(".dist-info") and entry.startswith(prefix) and "-" not in entry[len(prefix):-10]:
                    version = entry[len(prefix):-10]
                    break
        found[name] = version
    return found


def environment_key(config: ServerConfig, format_: int) -> str:
    """The hash naming the answers (file ``format_``) for ``config`` with the installed dependencies."""
    settings = {f: getattr(config, f) for f in ANSWER_FIELDS}
    text = json.dumps({"format": format_, "dependencies": dependency_versions(), "settings": settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _sha256_file(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def loaded_sources() -> dict[str, str]:
    """``{relative path: sha256}`` of every module of ``SERVER_PACKAGES`` (and the root package)
    imported so far, the path taken
    from its top-level package (``mcp_server/tools/query.py``; ``__init__.py`` for the root)."""
    out: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            continue
        parts = name.split(".")
        if len(parts) > 1 and parts[1] not in SERVER_PACKAGES:
            continue
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        if len(parts) == 1:
            rel = "__init__.py"
        else:
            top = sys.modules.get(f"{PACKAGE}.{parts[1]}")
            roots = list(getattr(top, "__path__", []) or [])
            if not roots:
                continue
            rel = parts[1] + "/" + os.path.relpath(file, roots[0]).replace(os.sep, "/")
        digest = _sha256_file(file)
        if digest is not None:
            out[rel] = digest
    return out


def _package_root(top: str, roots: dict[str, str | None]) -> str | None:
    if top not in roots:
        try:
            spec = find_spec(f"{PACKAGE}.{top}")  # imports only the elixir_scope package itself
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec else []
        roots[top] = locations[0] if locations else None
    return roots[top]


def sources_match(sources: Any) -> bool:
    """True when every recorded source file still has the recorded content."""
    if not isinstance(sources, dict) or not sources:
        return False
    roots: dict[str, str | None] = {}
    for rel, digest in sources.items():
        if not isinstance(rel, str) or ".." in rel.split("/"):
            return False
        if rel == "__init__.py":
            spec = find_spec(PACKAGE)
            path = spec.origin if spec else None
        else:
            top, _, rest = rel.partition("/")
            root = _package_root(top, roots)
            path = os.path.join(root, *rest.split("/")) if root else None
        if path is None or _sha256_file(path) != digest:
            return False
    return True
