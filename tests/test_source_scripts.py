"""Modules Elixir makes of a script's top-level code (``elixir_compiler_N``) are not the
application: the survey leaves them out, so no plan traces them (and no report then says it
recorded nothing for them). On a real Elixir node."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.nodes import start_node  # noqa: E402

from elixir_scope.agents.planner import Survey, plan  # noqa: E402
from elixir_scope.instrument.dist import Node  # noqa: E402
from elixir_scope.instrument.etf import Atom  # noqa: E402
from elixir_scope.instrument.survey import app_modules, survey  # noqa: E402

DEFINE = ('Code.compile_string("defmodule :elixir_compiler_9137 do\\n def run, do: :ok\\nend")\n'
          'Code.compile_string("defmodule Jobs.Runner do\\n use GenServer\\n def init(a), do: {:ok, a}\\nend")\n'
          '{:ok, _} = GenServer.start(Jobs.Runner, [], name: Jobs.Runner)')


async def test_script_modules_are_never_surveyed_nor_planned():
    node = start_node("elixir", eval_code=DEFINE)
    dist = Node()
    try:
        conn = await dist.connect(node.name, cookie=node.cookie)
        loaded = await conn.rpc("code", "is_loaded", [Atom("elixir_compiler_9137")])
        assert isinstance(loaded, tuple), loaded  # it is there, loaded from memory like the app's modules
        mods = await app_modules(conn)
        assert "Elixir.Jobs.Runner" in mods and not [m for m in mods if m.startswith("elixir_compiler")], mods
        sv = Survey.from_app_survey(await survey(conn))
    finally:
        await dist.close()
        node.stop()
    p = plan("the job runner hangs", sv)
    assert "Jobs.Runner :: return" in [s.spec for s in p.specs]
    assert not [s.spec for s in p.specs if "elixir_compiler" in s.spec]
