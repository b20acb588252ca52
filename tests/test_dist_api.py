"""The public names of the etf, dist and introspect packages are a contract other parts code
against: pin them (adding is fine - update this list; renaming breaks callers)."""

from __future__ import annotations

import elixir_scope.instrument.dist as dist
import elixir_scope.instrument.etf as etf
import elixir_scope.instrument.introspect as introspect


def test_etf_public_names():
    assert {"Atom", "Pid", "Ref", "Port", "Fun", "Export", "BitBinary", "ImproperList", "Charlist",
            "encode", "decode", "decode_one", "DecodeError", "EncodeError", "freeze", "FrozenList",
            "FrozenMap", "ExactKey"} <= set(etf.__all__)
    for name in etf.__all__:
        assert hasattr(etf, name), name


def test_dist_public_names():
    assert {"Node", "Connection", "Mailbox", "ExitSignal", "DistError", "ConnectError", "HostUnreachable",
            "NodeNotFound", "AuthenticationFailed", "NotAllowed", "InvalidNodeName", "NodeDown", "RpcError",
            "RpcTimeout"} <= set(dist.__all__)
    for name in dist.__all__:
        assert hasattr(dist, name), name
    for cls in (dist.HostUnreachable, dist.NodeNotFound, dist.AuthenticationFailed, dist.NotAllowed,
                dist.InvalidNodeName):
        assert issubclass(cls, dist.ConnectError) and issubclass(cls, dist.DistError)
    for cls in (dist.NodeDown, dist.RpcError, dist.RpcTimeout):
        assert issubclass(cls, dist.DistError) and not issubclass(cls, dist.ConnectError)
    for method in ("connect", "mailbox", "close", "make_ref"):
        assert callable(getattr(dist.Node, method))
    for method in ("rpc", "send", "monitor", "demonitor", "link", "unlink", "close", "add_down_callback"):
        assert callable(getattr(dist.Connection, method))


def test_introspect_public_names():
    assert {"node_info", "process_overview", "process_details", "supervision_trees", "NodeInfo",
            "ProcessSummary", "ProcessDetails", "SupervisorNode"} <= set(introspect.__all__)
