"""Write the start answers shipped in the wheel: mcp_server/start_answers-*.json.

The MCP server answers a client's ``initialize`` and first ``tools/list`` from these while it
still loads (mcp_server/start_cache.py, fast_start.py), so even the first start after install
answers within a fraction of a second. They are valid only for the code and SDK they were
computed with (the file records the sha256 of every module that built the server and the
versions of the SDK and pydantic): after a change to the server's code, rerun

    .venv/bin/python scripts/build_start_cache.py

and commit the files (tests/test_mcp_start_answers.py fails until you do; scripts/test.sh runs
this script first). ``--check`` only reports whether the file is current (exit status 1 if not).

"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check that the shipped file is current")
    ap.add_argument("--out", type=Path, help="write into this folder instead of the package's")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from elixir_scope.mcp_server.config import ServerConfig
    from elixir_scope.mcp_server.start_answers import shipped
    from elixir_scope.mcp_server.start_cache import SHIPPED_DIR

    folder = args.out or SHIPPED_DIR
    with tempfile.TemporaryDirectory() as tmp:  # a store path of its own: nothing touches ~/.elixir-scope
        files = shipped(ServerConfig(store_path=Path(tmp) / "traces.db"))
    stale = []
    for name, text in files.items():
        path = folder / name
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current == text:
            print(f"{path} is current")
            continue
        stale.append(path)
        if args.check:
            print(f"{path} is stale: run scripts/build_start_cache.py and commit it", file=sys.stderr)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        tmp_out = path.with_suffix(".json.tmp")
        tmp_out.write_text(text, encoding="utf-8")
        os.replace(tmp_out, path)
        print(f"wrote {path} ({len(text)} bytes)")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
