"""`elixir-scope record --otlp URL`: a capture of the real sample app streams its traced calls
to a real loopback OTLP receiver while it records; a dead endpoint warns and the capture goes
on; a bad URL is refused before attaching."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

from elixir_scope.cli import main
from elixir_scope.store import EventKind, TraceStore
from support.otlp_receiver import OtlpReceiver

SPEC = "SampleApp.Inventory.handle_call/3 :: return"


def traffic(app, stop: threading.Event) -> threading.Thread:
    def go():
        from elixir_scope.instrument.dist import Node

        async def run():
            node = Node()
            conn = await node.connect(app.name, cookie=app.cookie)
            while not stop.is_set():
                await conn.rpc("Elixir.SampleApp.Workload", "run", [5])
                await asyncio.sleep(0.2)
            await node.close()

        asyncio.run(run())

    t = threading.Thread(target=go)
    t.start()
    return t


def calls_in(store_path) -> int:
    s = TraceStore.open(store_path)
    try:
        rec = s.recording(s.recordings()[-1].id)
        return len(rec.events(kind=EventKind.CALL, limit=100_000))
    finally:
        s.close()


def test_record_streams_spans_to_otlp(capsys, sample_app_module, tmp_path):
    app = sample_app_module
    stop = threading.Event()
    t = traffic(app, stop)
    store = tmp_path / "t.db"
    try:
        with OtlpReceiver() as r:
            code = main(["record", SPEC, "--max-seconds", "3", "--otlp", r.url, "--store", str(store),
                         "--node", app.name, "--cookie", app.cookie, "--json"])
    finally:
        stop.set()
        t.join()
    cap = capsys.readouterr()
    assert code == 0, cap.err
    summary = json.loads(cap.out)
    n = calls_in(store)
    assert n > 0 and summary["otlp"]["spans"] == n == len(r.spans())
    assert {s.name for _, s in r.spans()} == {"SampleApp.Inventory.handle_call/3"}


def test_a_dead_endpoint_does_not_stop_the_capture(capsys, sample_app_module, tmp_path):
    app = sample_app_module
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        stop = threading.Event()
        t = traffic(app, stop)
        try:
            code = main(["record", SPEC, "--max-seconds", "2", "--otlp", url, "--store", str(tmp_path / "t.db"),
                         "--node", app.name, "--cookie", app.cookie])
        finally:
            stop.set()
            t.join()
    cap = capsys.readouterr()
    assert code == 0 and "OpenTelemetry export stopped" in cap.err and "cannot reach" in cap.err
    assert calls_in(tmp_path / "t.db") > 0


def test_a_bad_url_is_refused_before_attaching(capsys, tmp_path):
    code = main(["record", SPEC, "--otlp", "ftp://127.0.0.1:4318", "--store", str(tmp_path / "t.db"),
                 "--node", "nobody@nowhere"])
    err = capsys.readouterr().err
    assert code == 1 and "not an http(s) URL" in err and "nobody@nowhere" not in err
