"""Redaction on the node (issue 12): a corpus of secret shapes - normalised keys, tagged
tuples, keyword lists, secret-looking values, arguments and results of functions with a
sensitive name, messages - sent through a real capture on OTP 25 and on the OTP 28 runtime.
No secret reaches the store (decoded events and the database files), an export, the MCP
query tool's output or the CLI's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from elixir_scope.cli import main
from elixir_scope.instrument.capture import CapturePlan, Registered
from elixir_scope.instrument.dist import Node
from elixir_scope.instrument.etf import Atom, Charlist
from elixir_scope.instrument.limits import CaptureLimits
from elixir_scope.instrument.session import CaptureSession
from elixir_scope.instrument.specs import compile_spec
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.store import EventKind, TraceStore
from support.erlang_fixtures import compile_erlang_fixtures
from support.nodes import start_node

A = Atom
MARK = b"SECRETVALUE"


def secret(i: int) -> bytes:
    return b"Q%02dz" % i + MARK + b"z"


def corpus() -> list:
    """Each shape hides secret(i) (no two alike); harmless text stays next to it."""
    s = secret
    shapes = [
        {A("password"): s(0), A("user"): b"alice"},
        {b"password": s(1)},
        [(A("password"), s(2)), (A("user"), b"alice")],                  # keyword list
        [(Charlist.from_text("x-api-key"), s(3))],                      # charlist key
        {b"X-Api-Key": s(4)},
        {A("API-KEY"): s(5)},
        {A("private_key"): s(6)},
        {b"private-key": s(7)},
        [(A("pwd"), s(8))],
        {A("pass"): s(9), A("passenger"): b"bob"},
        {b"user-pass": s(10)},
        {A("passphrase"): s(11)},
        {A("bearer"): s(12)},
        {A("jwt"): s(13)},
        {A("session_id"): s(14)},
        {b"Session-Id": s(15)},
        {b"DB_PASSWORD": s(16)},
        {A("Authorization"): s(17)},
        {b"cookie": s(18)},
        {A("access_token"): s(19)},
        {A("client_secret"): s(20)},
        (A("password"), s(21), A("extra")),                              # {:password, v, x}
        (A("password"), s(22)),
        (b"api_key", s(23)),
        b"https://admin:" + s(24) + b"@db.example.com/app",              # URL user info
        Charlist.from_text("postgres://u:" + s(25).decode() + "@host/db"),
        b"eyJhbGciOiJIUzI1NiJ9." + s(26) + b".c2lnbmF0dXJl",              # a JWT
        b"-----BEGIN RSA PRIVATE KEY-----\nMIIE" + s(27) + b"\n-----END RSA PRIVATE KEY-----",
        b"Bearer " + s(28),
        {A("headers"): [(b"accept", b"*/*"), (b"authorization", b"Basic " + s(29))]},
        {A("config"): {A("db"): [(A("password"), s(30))]}},                # nested
        {A("__struct__"): A("Elixir.Conn"), A("secret_key_base"): s(31)},  # a struct
        {b"X-Auth-Token": s(32)},
        {A("apiKey"): s(33)},
        {A("note"): b"see Bearer " + s(34) + b" in the header"},
        # a charlist with a character above 255 is encoded one integer per character
        # (LIST_EXT, not STRING_EXT): the precheck knows that form too
        [(Charlist.from_text("my_password\u2713"), s(35))],
        (A("ok"), Charlist.from_text("postgres://u:" + s(36).decode() + "@host/\u2713")),
    ]
    return shapes


@pytest.fixture(scope="module")
def beams(tmp_path_factory):
    return compile_erlang_fixtures(tmp_path_factory.mktemp("beams"))


async def capture_corpus(kind: str, beams: Path, db: Path) -> int:
    target = start_node(kind, code_paths=[beams], eval_code="es_secrets:start_sink()")
    try:
        store = TraceStore.open(db)
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            plan = CapturePlan(specs=(compile_spec("es_secrets:handle(X) -> return"),
                                      compile_spec("es_secrets:verify_password(U, P) -> return"),
                                      compile_spec("es_secrets:get_token(S) -> return")),
                               message_procs=(Registered("es_sink"),))
            rec = store.create_recording("secrets", spec=plan.describe(), limits={})
            s = await CaptureSession.start(conn, rec, plan, CaptureLimits())
            shapes = corpus()
            for shape in shapes:
                await conn.rpc("es_secrets", "handle", [shape])
                await conn.send(A("es_sink"), shape)
            await conn.rpc("es_secrets", "verify_password", [b"alice", secret(40)])
            assert await conn.rpc("es_secrets", "get_token", [secret(41)]) == secret(41)
            result = await s.stop()
        calls = list(store.recording(result.recording_id).events(kind=EventKind.CALL, limit=1000))
        handled = [e for e in calls if e.mfa.function == "handle"]
        assert len(handled) == len(shapes) >= 30
        assert all(e.redacted for e in handled), [e.payload for e in handled if not e.redacted]
        received = list(store.recording(result.recording_id).events(kind=EventKind.RECEIVE, limit=1000))
        assert len(received) == len(shapes) and all(e.redacted for e in received)
        # harmless parts stay readable
        first = handled[0].payload[0]
        assert first == {A("password"): A("[REDACTED]"), A("user"): b"alice"}
        assert handled[9].payload[0][A("passenger")] == b"bob"
        assert handled[24].payload[0] == b"https://admin:[REDACTED]@db.example.com/app"
        rets = list(store.recording(result.recording_id).events(kind=EventKind.RETURN, limit=1000))
        assert [e.payload for e in rets if e.mfa.function == "get_token"] == [A("[REDACTED]")]
        pw = [e.payload for e in calls if e.mfa.function == "verify_password"]
        assert pw == [[A("[REDACTED]"), A("[REDACTED]")]]
        for e in store.recording(result.recording_id).events(limit=10000):
            assert MARK not in repr(e.payload).encode(), e
        return result.recording_id
    finally:
        target.stop()


def no_secret_in_files(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file():
            assert MARK not in f.read_bytes(), f


@pytest.mark.parametrize("kind", ["erl", "otp28"])
async def test_no_secret_leaves_the_node(kind, beams, tmp_path, capsys):
    db = tmp_path / "store" / "traces.db"
    db.parent.mkdir()
    rid = await capture_corpus(kind, beams, db)
    no_secret_in_files(db.parent)

    (tmp_path / "out").mkdir()
    exported = TraceStore.open(db).export_recording(rid, tmp_path / "out" / "secrets.esrec")
    no_secret_in_files(exported.parent)

    async with Client(build_server(ServerConfig(store_path=db))) as client:
        for text in ("events", "calls", "returns", "receives"):
            r = await client.call_tool("query", {"text": text, "recording": rid, "limit": 100})
            assert not r.is_error, r.content[0].text
            out = json.dumps(r.structured_content) + "".join(c.text for c in r.content if hasattr(c, "text"))
            assert MARK.decode() not in out
            if text != "returns":
                assert "REDACTED" in out

    for argv in (["query", "events", "--limit", "200"], ["query", "events", "--limit", "200", "--json"]):
        code = main([*argv, "--store", str(db)])
        cap = capsys.readouterr()
        assert code == 0 and "REDACTED" in cap.out, cap.err
        assert MARK.decode() not in cap.out + cap.err


def counts_and_flags() -> list:
    """Values under sensitive keys that are no secret (a count, a flag, nil) next to ones that
    are: the first kept as they are, the second redacted — matched by the key's words."""
    s = secret
    return [
        {A("__struct__"): A("Elixir.Limiter.Bucket"), A("tokens"): 9, A("capacity"): 10},   # a count
        {A("tokens"): -1},
        {A("token"): A("nil"), A("password_set"): True, A("secret_ratio"): 0.25},
        {A("api_token"): s(50), A("retries"): 3},
        {A("csrf_token"): s(51)},
        {A("tokens"): [s(52), s(53)]},                    # plural, a list of strings: redacted
        {A("token"): {A("id"): 7, A("value"): s(54)}},    # a map under the key: redacted whole
        (A("tokens"), 4),                                 # a tagged tuple holding a count
        (A("password"), s(55), 3),                        # the string hidden, the number kept
    ]


async def test_counts_and_flags_under_sensitive_keys_are_kept(beams, tmp_path):
    target = start_node("erl", code_paths=[beams], eval_code="es_secrets:start_sink()")
    try:
        store = TraceStore.open(tmp_path / "traces.db")
        async with Node() as node:
            conn = await node.connect(target.name, cookie=target.cookie)
            plan = CapturePlan(specs=(compile_spec("es_secrets:handle(X) -> return"),))
            rec = store.create_recording("counts", spec=plan.describe(), limits={})
            s = await CaptureSession.start(conn, rec, plan, CaptureLimits())
            for shape in counts_and_flags():
                await conn.rpc("es_secrets", "handle", [shape])
            result = await s.stop()
        handled = [e.payload[0] for e in store.recording(result.recording_id).events(kind=EventKind.CALL, limit=100)
                   if e.mfa.function == "handle"]
        R = A("[REDACTED]")
        assert handled[0] == {A("__struct__"): A("Elixir.Limiter.Bucket"), A("tokens"): 9, A("capacity"): 10}
        assert handled[1] == {A("tokens"): -1}
        assert handled[2] == {A("token"): A("nil"), A("password_set"): True, A("secret_ratio"): 0.25}
        assert handled[3] == {A("api_token"): R, A("retries"): 3}
        assert handled[4] == {A("csrf_token"): R}
        assert handled[5] == {A("tokens"): R}
        assert handled[6] == {A("token"): R}
        assert handled[7] == (A("tokens"), 4)
        assert handled[8] == (A("password"), R, 3)
        for e in store.recording(result.recording_id).events(limit=1000):
            assert MARK not in repr(e.payload).encode(), e
    finally:
        target.stop()
