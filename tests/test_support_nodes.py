"""The test nodes' own contract (tests/support/nodes.py): a node a test is done with is killed by
its own pid, leaving no process behind; ``graceful=True`` lets it stop in good order (SIGTERM,
``init:stop()``, exit status 0) for the tests whose point is an orderly stop."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from support.nodes import start_node


def _os_processes_named(sname: str) -> list[int]:
    """The pids of the processes whose command line names ``sname`` (the node's own name)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if sname.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:   # a process that ended while we looked
            pass
    return found


@pytest.mark.parametrize("kind", ["erl", "elixir"])
def test_stop_kills_the_node_by_its_pid_and_leaves_nothing_running(kind):
    node = start_node(kind)
    assert node.alive() and _os_processes_named(node.sname)
    node.stop()
    assert node.proc.returncode == -signal.SIGKILL
    assert not node.alive() and _os_processes_named(node.sname) == []
    node.stop()   # a second stop of a node that is gone is nothing
    assert node.proc.returncode == -signal.SIGKILL


def test_a_graceful_stop_is_an_orderly_shutdown_of_the_node():
    node = start_node("erl")
    node.stop(graceful=True)
    assert node.proc.returncode == 0, node.log()   # init:stop() ran to its end
    assert _os_processes_named(node.sname) == []
