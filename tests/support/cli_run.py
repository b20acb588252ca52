"""Running the ``elixir-scope`` command line in-process from a test (capsys captures its
output)."""

from __future__ import annotations

import json

from elixir_scope.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command."""
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def run_ok(capsys, *argv) -> str:
    """Stdout of a command that must succeed."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def run_json(capsys, *argv):
    """The ``--json`` output of a command that must succeed."""
    return json.loads(run_ok(capsys, *argv, "--json"))


def run_fail(capsys, *argv) -> str:
    """Stderr of a command that must fail cleanly: no traceback, an ``error:`` first line."""
    code, _, err = run(capsys, *argv)
    assert code != 0
    assert "Traceback" not in err
    assert err.strip().splitlines()[0].startswith("error: ")
    return err
