"""The ``elixir-scope`` command line (entry point ``elixir_scope.cli:main``).

``main.py`` parses and dispatches, ``commands/`` holds one module per area, ``render.py``
prints tables (terms in Elixir syntax) or ``--json``, ``demo.py`` launches the bundled
sample app for ``elixir-scope demo``.
"""

from .main import main

__all__ = ["main"]
