"""Small Erlang modules for tests (tests/fixtures/erlang), compiled with the OS ``erlc``
(OTP 25) into a directory given to a node with ``code_paths``; the OTP 28 runtime loads them."""

from __future__ import annotations

import subprocess
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "erlang"


def compile_erlang_fixtures(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p) for p in FIXTURES.glob("*.erl"))
    subprocess.run(["erlc", "-o", str(dest), *sources], check=True, capture_output=True)
    return dest
