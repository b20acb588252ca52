"""Incoming control messages: what the peer tells us, and the answers the protocol expects.

The fast path is a message to a mailbox (SEND, SEND_SENDER, REG_SEND): decode, look the
mailbox up, append. Everything else is rarer and handled by one method per operation:

============================  ===============================================================
LINK {1, From, To}            record the link; unknown ``To`` -> EXIT {3, To, From, noproc}
EXIT / EXIT_TT / PAYLOAD_*    ``ExitSignal(From, Reason)`` to the linked mailbox (link removed)
EXIT2 / EXIT2_TT / PAYLOAD_*  ``ExitSignal(From, Reason, linked=False)`` (exit/2 on our pid)
MONITOR_P {19, From, To, R}   record; unknown pid or name -> MONITOR_P_EXIT {21, To, From, R, noproc}
DEMONITOR_P {20, ...}         forget the monitor
MONITOR_P_EXIT (+PAYLOAD)     ``('DOWN', Ref, process, Pid | {Name, Node}, Reason)`` to our mailbox
UNLINK_ID {35, Id, From, To}  remove the link; answer UNLINK_ID_ACK {36, Id, To, From}
UNLINK {4, From, To}          remove the link (pre-OTP 26 peers)
UNLINK_ID_ACK {36, ...}       nothing to do (the link was removed when we sent UNLINK_ID)
SEND_TT / REG_SEND_TT / ...   delivered like their plain forms; the seq_trace token is dropped
ALIAS_SEND(_TT) {33, F, A}    dropped: we create no aliases (we never set the ALIAS flag), so
                              a message to an alias can only be stale
SPAWN_REQUEST {29, ...}       answered SPAWN_REPLY {31, ReqId, From, 0, notsup} (we never set SPAWN)
GROUP_LEADER, NODE_LINK       ignored
============================  ===============================================================

A message to a pid or name we do not have is dropped, as the BEAM does. A message whose
payload this decoder cannot read (e.g. nested deeper than Python's recursion allows) is not
dropped silently and does not cost the connection: the mailbox gets an ``UndecodableMessage``
with the raw bytes and the reason. A control term that cannot be read, or that has the wrong
shape for its operation (a map, a short tuple, a non-pid where a pid belongs), closes the
connection with ``protocol error: ...`` as its down reason; nothing else escapes the handler.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..etf import Atom, Pid, decode_one
from ..etf.decode import DecodeError
from .control import Op
from .errors import DistError
from .mailbox import ExitSignal, UndecodableMessage

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

_NOPROC = Atom("noproc")
_NOTSUP = Atom("notsup")
_DOWN = Atom("DOWN")
_PROCESS = Atom("process")


class Dispatcher:
    def __init__(self, conn: "Connection") -> None:
        self.conn = conn
        self.node = conn.node
        self.mailboxes = conn.node._mailboxes
        self.names = conn.node._names
        self.rpc_pid = conn.node._rpc_pid
        self.handlers = {
            Op.LINK: self.link,
            Op.EXIT: self.exit,
            Op.EXIT_TT: self.exit_tt,
            Op.PAYLOAD_EXIT: self.exit,
            Op.PAYLOAD_EXIT_TT: self.exit,
            Op.EXIT2: self.exit2,
            Op.EXIT2_TT: self.exit2_tt,
            Op.PAYLOAD_EXIT2: self.exit2,
            Op.PAYLOAD_EXIT2_TT: self.exit2,
            Op.MONITOR_P: self.monitor_p,
            Op.DEMONITOR_P: self.demonitor_p,
            Op.MONITOR_P_EXIT: self.monitor_p_exit,
            Op.PAYLOAD_MONITOR_P_EXIT: self.monitor_p_exit,
            Op.UNLINK_ID: self.unlink_id,
            Op.UNLINK: self.unlink,
            Op.UNLINK_ID_ACK: self.ignore,
            Op.SEND_TT: self.send_tt,
            Op.SEND_SENDER_TT: self.send_tt,
            Op.REG_SEND_TT: self.reg_send,
            Op.ALIAS_SEND: self.ignore,
            Op.ALIAS_SEND_TT: self.ignore,
            Op.SPAWN_REQUEST: self.spawn_request,
            Op.SPAWN_REQUEST_TT: self.spawn_request,
            Op.GROUP_LEADER: self.ignore,
            Op.NODE_LINK: self.ignore,
        }
        self.handlers = {int(k): v for k, v in self.handlers.items()}

    # -- entry point (called from data_received) ------------------------------------------
    def on_packet(self, data: bytes, start: int, end: int) -> None:
        try:
            if data[start] != 112:  # 'p': pass-through; anything else needs flags we never set
                raise DecodeError(f"unexpected packet type {data[start]} (we negotiated pass-through framing)")
            ctrl, off = decode_one(data, start + 1)
            if type(ctrl) is not tuple or not ctrl or type(ctrl[0]) is not int:
                raise DecodeError(f"a control message must be a tuple starting with an operation number, "
                                  f"got {type(ctrl).__name__}")
            op = ctrl[0]
            if op == 22 or op == 2:  # SEND_SENDER / SEND: {Op, From|'', To}
                try:
                    msg, _ = decode_one(data, off)
                except DecodeError as exc:
                    msg = UndecodableMessage(data[off:end], str(exc))
                self.deliver(ctrl[2], msg)
                return
            if op == 6:  # REG_SEND {6, From, '', ToName}
                try:
                    msg, _ = decode_one(data, off)
                except DecodeError as exc:
                    msg = UndecodableMessage(data[off:end], str(exc))
                mbox = self.names.get(ctrl[3])
                if mbox is not None:
                    mbox._deliver(msg)
                return
            payload = decode_one(data, off)[0] if off < end else None
            handler = self.handlers.get(op)
            if handler is None:
                log.warning("ignoring unknown control message %r from %s", ctrl, self.conn.node_name)
                return
            handler(ctrl, payload)
        except DistError:
            pass  # an answer to a connection that just went down: nothing to answer any more
        except (DecodeError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # A malformed control message (wrong arity, a map where a tuple belongs, a pid
            # that is not a pid): the peer is broken or hostile. Never let it escape into
            # the event loop; close this connection with the reason.
            detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, DecodeError) else str(exc)
            log.error("bad packet from %s: %s; closing the connection", self.conn.node_name, detail[:500])
            self.conn._go_down(f"protocol error: {detail[:500]}", abort=True)

    def deliver(self, to: Any, msg: Any) -> None:
        mbox = self.mailboxes.get(to)
        if mbox is not None:
            mbox._deliver(msg)
        elif to == self.rpc_pid:
            self.conn._rpc_reply(msg)

    # -- messages with trace tokens -------------------------------------------------------
    def send_tt(self, ctrl: tuple, msg: Any) -> None:
        self.deliver(ctrl[2], msg)

    def reg_send(self, ctrl: tuple, msg: Any) -> None:
        mbox = self.names.get(ctrl[3])
        if mbox is not None:
            mbox._deliver(msg)

    def ignore(self, ctrl: tuple, payload: Any) -> None:
        return None

    # -- links ----------------------------------------------------------------------------
    def link(self, ctrl: tuple, _: Any) -> None:
        _, from_pid, to_pid = ctrl
        mbox = self.mailboxes.get(to_pid)
        if mbox is None:
            self.conn._send_control((Op.EXIT.value, to_pid, from_pid, _NOPROC))
            return
        self.conn._links.add((to_pid, from_pid))
        mbox._links[from_pid] = self.conn

    def _linked_exit(self, from_pid: Pid, to_pid: Pid, reason: Any) -> None:
        if (to_pid, from_pid) not in self.conn._links:
            return  # no link (e.g. already unlinked): the BEAM ignores it too
        self.conn._links.discard((to_pid, from_pid))
        mbox = self.mailboxes.get(to_pid)
        if mbox is not None:
            mbox._links.pop(from_pid, None)
            mbox._deliver(ExitSignal(from_pid, reason))

    def exit(self, ctrl: tuple, payload: Any) -> None:
        # EXIT {3, From, To, Reason}; PAYLOAD_EXIT {24, From, To} + Reason; _TT has a token
        reason = ctrl[3] if ctrl[0] == Op.EXIT else payload
        self._linked_exit(ctrl[1], ctrl[2], reason)

    def exit_tt(self, ctrl: tuple, _: Any) -> None:
        self._linked_exit(ctrl[1], ctrl[2], ctrl[4])

    def _exit2(self, from_pid: Pid, to_pid: Pid, reason: Any) -> None:
        mbox = self.mailboxes.get(to_pid)
        if mbox is not None:
            mbox._deliver(ExitSignal(from_pid, reason, linked=False))

    def exit2(self, ctrl: tuple, payload: Any) -> None:
        reason = ctrl[3] if ctrl[0] == Op.EXIT2 else payload
        self._exit2(ctrl[1], ctrl[2], reason)

    def exit2_tt(self, ctrl: tuple, _: Any) -> None:
        self._exit2(ctrl[1], ctrl[2], ctrl[4])

    def unlink_id(self, ctrl: tuple, _: Any) -> None:
        _, uid, from_pid, to_pid = ctrl
        self._drop_link(to_pid, from_pid)
        self.conn._send_control((Op.UNLINK_ID_ACK.value, uid, to_pid, from_pid))

    def unlink(self, ctrl: tuple, _: Any) -> None:
        self._drop_link(ctrl[2], ctrl[1])

    def _drop_link(self, local: Pid, remote: Pid) -> None:
        self.conn._links.discard((local, remote))
        mbox = self.mailboxes.get(local)
        if mbox is not None:
            mbox._links.pop(remote, None)

    # -- monitors -------------------------------------------------------------------------
    def monitor_p(self, ctrl: tuple, _: Any) -> None:
        _, from_pid, target, ref = ctrl
        mbox = self.mailboxes.get(target) if isinstance(target, Pid) else self.names.get(target)
        if mbox is None or mbox.closed:
            self.conn._send_control((Op.MONITOR_P_EXIT.value, target, from_pid, ref, _NOPROC))
            return
        self.conn._monitored[ref] = mbox
        mbox._monitored_by[ref] = (self.conn, from_pid, target)

    def demonitor_p(self, ctrl: tuple, _: Any) -> None:
        ref = ctrl[3]
        mbox = self.conn._monitored.pop(ref, None)
        if mbox is not None:
            mbox._monitored_by.pop(ref, None)

    def monitor_p_exit(self, ctrl: tuple, payload: Any) -> None:
        # MONITOR_P_EXIT {21, FromProc, ToPid, Ref, Reason}; PAYLOAD_ {28, FromProc, ToPid, Ref} + Reason
        ref = ctrl[3]
        reason = ctrl[4] if ctrl[0] == Op.MONITOR_P_EXIT else payload
        entry = self.conn._monitors.pop(ref, None)
        if entry is None:
            return
        mbox, target = entry
        mbox._monitors.pop(ref, None)
        mbox._deliver((_DOWN, ref, _PROCESS, self.conn._down_object(target), reason))

    # -- spawn ----------------------------------------------------------------------------
    def spawn_request(self, ctrl: tuple, _: Any) -> None:
        # {29, ReqId, From, GroupLeader, {M, F, A}, OptList}; the _TT form adds a token
        req_id, from_pid = ctrl[1], ctrl[2]
        self.conn._send_control((Op.SPAWN_REPLY.value, req_id, from_pid, 0, _NOTSUP))
