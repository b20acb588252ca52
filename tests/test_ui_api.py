"""The web UI's server side without a browser: who may talk to it, its configuration rules,
and its JSON answers compared with the store's own (over the cart recording, written through
the real ingest path)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from elixir_scope.store import TraceStore
from elixir_scope.store.density import event_density
from elixir_scope.store.lastchange import last_change
from elixir_scope.ui import UiConfig, UiConfigError, build_app
from support.cart_recording import CART, build_cart_recording

HOST = "http://127.0.0.1:8766"


@pytest.fixture(scope="module")
def cart(tmp_path_factory):
    path = tmp_path_factory.mktemp("ui-api") / "traces.db"
    rid = build_cart_recording(path)
    return path, rid


@pytest.fixture
def client(cart):
    config = UiConfig(store_path=cart[0])
    with TestClient(build_app(config), base_url=HOST) as c:
        c.headers["Authorization"] = f"Bearer {config.token}"
        yield c, config


def test_config_refuses_unsafe_or_broken_settings(tmp_path):
    with pytest.raises(UiConfigError, match="--allowed-host"):
        UiConfig(store_path=tmp_path, host="0.0.0.0").validate()
    with pytest.raises(UiConfigError, match="16 characters"):
        UiConfig(store_path=tmp_path, token="short").validate()
    UiConfig(store_path=tmp_path, host="0.0.0.0", allowed_hosts=("devbox:*",)).validate()
    assert UiConfig(store_path=tmp_path).token != UiConfig(store_path=tmp_path).token  # fresh each time
    assert "?token=" in UiConfig(store_path=tmp_path, port=9000).url()


def test_token_host_and_origin_rules(cart):
    config = UiConfig(store_path=cart[0])
    with TestClient(build_app(config), base_url=HOST) as c:
        assert c.get("/api/recordings").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/recordings", headers={"Authorization": "Bearer " + "x" * 32}).status_code == 401
        page = c.get(f"/?token={config.token}")
        assert page.status_code == 200 and "es_ui_token=" in page.headers["set-cookie"]
        assert "SameSite=Strict" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
        assert c.get("/api/recordings").status_code == 200  # the cookie now opens the API
        assert c.get("/static/app.js").status_code == 200
        # the MCP HTTP transport's rules: foreign Host 421, foreign Origin 403
        assert c.get("/api/recordings", headers={"Host": "evil.example"}).status_code == 421
        assert c.get("/api/recordings", headers={"Origin": "http://evil.example"}).status_code == 403
        # loopback origins only on the server's own port (the MCP transport's rule)
        assert c.get("/api/recordings", headers={"Origin": "http://localhost:5173"}).status_code == 403
        assert c.get("/api/recordings", headers={"Origin": f"http://localhost:{config.port}"}).status_code == 200


def test_density_counts_every_event_and_shows_the_gap(client, cart):
    c, _ = client
    d = c.get(f"/api/recordings/{cart[1]}/density", params={"buckets": 10}).json()
    store = TraceStore.open(cart[0], readonly=True)
    rec = store.recording(cart[1])
    lanes = {lane["proc"]["name"]: lane for lane in d["lanes"]}
    for name, lane in lanes.items():
        assert sum(lane["counts"]) == lane["total"] == len(rec.events(pid=lane["proc"]["pid"], limit=1000))
    assert "SampleApp.Cart" in lanes
    assert d["total"] == rec.info.event_count
    assert [g["count"] for g in d["gaps"]] == [7]
    # a narrower window counts only its own events
    half = d["until"] // 2
    part = c.get(f"/api/recordings/{cart[1]}/density", params={"until": half, "buckets": 5}).json()
    t0 = min(e.ts for e in rec.events(limit=1000))
    assert part["total"] == len(rec.events(until=t0 + half, limit=1000))
    direct = event_density(rec, t0, t0 + half, buckets=5)
    # counted by position (what windows of more than EXACT_MAX events get) = counted by time
    for since, until in ((None, None), (t0 + 3000, t0 + 17000)):
        by_position = event_density(rec, since, until, buckets=7, exact_max=0)
        by_time = event_density(rec, since, until, buckets=7)
        assert [(lane.process, lane.total, lane.counts) for lane in by_position.lanes] == \
            [(lane.process, lane.total, lane.counts) for lane in by_time.lanes]
        assert by_position.total_events == by_time.total_events
    assert [lane["counts"] for lane in part["lanes"]] == [lane.counts for lane in direct.lanes]
    store.close()


def test_state_at_with_diff_and_cause(client, cart):
    c, _ = client
    store = TraceStore.open(cart[0], readonly=True)
    rec = store.recording(cart[1])
    t0 = min(e.ts for e in rec.events(limit=1000))
    end = max(e.ts for e in rec.events(limit=1000))
    cart_key = f"{rec.resolve_process(CART).node_id}.{rec.resolve_process(CART).idx}"
    st = c.get(f"/api/recordings/{cart[1]}/state", params={"t": end - t0, "proc": cart_key}).json()
    change = last_change(rec, CART, end)
    assert st["change"]["message"] == '{:add, "plum"}' and change.cause is not None
    assert [ch["kind"] for ch in st["change"]["changes"]] == [ch.kind for ch in change.changes]
    items = dict(st["state"]["c"])[":items"]
    assert items["mark"] == "changed" and [x[1]["s"] for x in items["c"]] == ['"apple"', '"pear"', '"plum"']
    store.close()


def test_bad_requests_say_what_to_do(client, cart):
    c, _ = client
    r = c.get(f"/api/recordings/{cart[1]}/density", params={"buckets": 0})
    assert r.status_code == 400 and "buckets must be between" in r.json()["error"]
    r = c.get(f"/api/recordings/{cart[1]}/state", params={"proc": "<0.300.0>"})
    assert r.status_code == 400 and "t=" in r.json()["error"]
    r = c.get(f"/api/recordings/{cart[1]}/state", params={"t": 0, "proc": "Nope.Server"})
    assert r.status_code == 404 and "no process" in r.json()["error"]
    assert c.get("/api/recordings/999").status_code == 404
    r = c.post(f"/api/recordings/{cart[1]}/query", json={"text": "calls whre"})
    assert r.status_code == 400 and "did you mean" in r.json()["error"]
    r = c.post("/api/recordings/import", content=b"not a store")
    assert r.status_code == 400 and "not an importable recording" in r.json()["error"]
    assert c.get("/api/nothing").status_code == 404


def test_the_command_prints_a_url_that_opens_the_ui(cart):
    """`elixir-scope ui` as a user runs it: a real process, the printed URL, then Ctrl-C."""
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "elixir_scope.cli", "ui", "--port", "0", "--store", str(cart[0])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, (url, proc.stderr.read())
        page = urllib.request.urlopen(url)
        assert page.status == 200 and b'src="/static/app.js"' in page.read()
        cookie = page.headers["set-cookie"].split(";")[0]
        req = urllib.request.Request(url.split("?")[0] + "api/recordings", headers={"Cookie": cookie})
        assert [r["id"] for r in __import__("json").loads(urllib.request.urlopen(req).read())["recordings"]] == [cart[1]]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_the_command_refuses_an_exposed_bind_without_allowed_hosts(cart):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "elixir_scope.cli", "ui", "--host", "0.0.0.0", "--store", str(cart[0])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--allowed-host" in out.stderr


def test_pinned_lanes_come_first_even_when_idle(client, cart):
    c, _ = client
    store = TraceStore.open(cart[0], readonly=True)
    rec = store.recording(cart[1])
    t0 = min(e.ts for e in rec.events(limit=1000))
    client_proc = next(p for p in rec.processes() if p.reg_name is None)
    # a window where only the Cart is busy: the client, pinned, still gets the first lane
    window = {"since": 2000, "until": 7000, "buckets": 5}
    plain = c.get(f"/api/recordings/{cart[1]}/density", params=window).json()
    key = f"{client_proc.node_id}.{client_proc.idx}"
    pinned = c.get(f"/api/recordings/{cart[1]}/density", params={**window, "pin": key}).json()
    assert key not in [lane["proc"]["key"] for lane in plain["lanes"]]
    assert pinned["lanes"][0]["proc"]["key"] == key and pinned["lanes"][0]["total"] == \
        len(rec.events(pid=client_proc, since=t0 + 2000, until=t0 + 7000, limit=100))
    store.close()


def test_term_trees_are_bounded_and_mark_changes():
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.store.state_changes import changes
    from elixir_scope.ui.terms import MAX_CHILDREN, term_tree

    old = {Atom("items"): list(range(500)), Atom("owner"): b"ann"}
    new = {Atom("items"): list(range(500)), Atom("owner"): b"bob", Atom("n"): 1}
    tree = term_tree(new, changes(old, new))
    kids = dict(tree["c"])
    assert len(kids[":items"]["c"]) == MAX_CHILDREN and kids[":items"]["more"] == 500 - MAX_CHILDREN
    assert kids[":owner"]["mark"] == "changed" and kids[":n"]["mark"] == "added" and tree["mark"] == "inner"
    assert "mark" not in kids[":items"]
    deep: list = []
    for _ in range(100):
        deep = [deep]
    assert '"k": "list"' in __import__("json").dumps(term_tree(deep))  # depth-capped, still a tree
