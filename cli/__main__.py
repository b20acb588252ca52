"""``python -m elixir_scope.cli`` runs the command line (same as ``elixir-scope``)."""

import sys

from .main import main

sys.exit(main())
