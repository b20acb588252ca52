"""The web UI in a real headless Chromium over a real recording from a real Elixir node.

The browser clicks, drags and types as a person would; every assertion compares what is on the
screen with the store's own answers (``state_at``, ``message_flow``, ``causal_future``, the
query engine, call trees, gaps). Each test opens the page it needs (``open_recording``) and leaves
the module's store as it found it, so any one runs alone or in any order. Screenshots land in
tests/artifacts/ui/."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from elixir_scope.store import TraceStore
from elixir_scope.store.lastchange import last_change
from elixir_scope.store.query import run_query
from elixir_scope.ui import UiConfig
from elixir_scope.ui.terms import short
from support.browser import chrome, free_port, shot, ui_server
from support.cart_recording import build_cart_recording
from support.nodes import start_node
from support.ui_recording import LEDGER, SOURCE, START, SUP, TELLER, record_ui_system

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    d = tmp_path_factory.mktemp("ui")
    src = d / "ui.ex"
    src.write_text(SOURCE)
    node = start_node("elixir", elixir_files=[src], eval_code=START)
    try:
        rec = asyncio.run(record_ui_system(node, d / "traces.db"))
    finally:
        node.stop()
    cart_id = build_cart_recording(d / "traces.db")  # a second recording, with a gap
    return rec, cart_id


@pytest.fixture(scope="module")
def store(recorded):
    s = TraceStore.open(recorded[0].path, readonly=True)
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(recorded):
    config = UiConfig(store_path=recorded[0].path, port=free_port())
    with ui_server(config) as url:
        yield url, config


@pytest.fixture(scope="module")
def browser():
    with chrome() as d:
        yield d


def wait(d, cond, timeout=10):
    from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                            TimeoutException)

    try:  # panels are redrawn as answers arrive: an element read mid-redraw is read again
        return WebDriverWait(d, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                             ).until(lambda _: cond())
    except TimeoutException:
        raise AssertionError(f"the screen never showed it (see {shot(d, 'timeout')})") from None


def click(d, sel):
    """Click the element ``sel`` once it is there (lanes are redrawn when the window changes)."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt():
        try:
            d.find_element(By.CSS_SELECTOR, sel).click()
            return True
        except StaleElementReferenceException:
            return False

    wait(d, attempt)


def css(d, sel):
    return d.find_elements(By.CSS_SELECTOR, sel)


def key_of(rec, name):
    p = rec.resolve_process(name)
    return f"{p.node_id}.{p.idx}"


def t0_of(rec):
    """The recording's first moment: the UI shows times relative to it."""
    return min(e.ts for e in rec.events(limit=100_000))


def open_recording(browser, server, rid, select=()):
    """A fresh page on recording ``rid`` (the token URL, as printed), then a click on each lane in
    ``select``: every test starts from the page state it needs, whatever ran before it."""
    url, _ = server
    browser.get(f"{url}#/rec/{rid}")
    wait(browser, lambda: len(css(browser, ".tl-label")) >= 2)
    for key in select:
        click(browser, f".tl-label[data-key='{key}']")
        wait(browser, lambda: key in {e.get_attribute("data-key") for e in css(browser, ".tl-label.sel")})


def cursor(d) -> int:
    return int(d.find_element(By.ID, "tl-cursor").get_attribute("data-t"))


def test_the_page_needs_the_token_from_the_printed_url(server, browser):
    url, config = server
    browser.delete_all_cookies()  # as a browser that never opened the printed URL
    browser.get(url.split("?")[0])
    assert "401" in browser.find_element(By.TAG_NAME, "body").text
    assert "elixir-scope ui" in browser.find_element(By.TAG_NAME, "body").text
    req = urllib.request.Request(url.split("?")[0] + "api/recordings")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 401


def test_recordings_list_search_and_open(server, browser, store, recorded):
    url, _ = server
    browser.get(url)
    # the ledger and cart sessions (and the live test's capture, when it ran first)
    wait(browser, lambda: len(css(browser, "#rec-list tr.row")) == len(store.recordings()) >= 2)
    assert "token=" not in browser.current_url  # the token is dropped from the address bar
    browser.find_element(By.ID, "rec-search").send_keys("ledger")
    wait(browser, lambda: len(css(browser, "#rec-list tr.row")) == 1)
    shot(browser, "recordings")
    css(browser, "#rec-list tr.row")[0].click()
    wait(browser, lambda: "ledger session" in browser.find_element(By.ID, "rec-title").text)
    wait(browser, lambda: len(css(browser, ".tl-label")) >= 2)


def test_timeline_scrub_shows_the_state_at_the_cursor(server, browser, store, recorded):
    rec = store.recording(recorded[0].recording_id)
    t0 = t0_of(rec)
    open_recording(browser, server, rec.id)
    labels = {e.get_attribute("data-key"): e for e in css(browser, ".tl-label")}
    ledger = key_of(rec, LEDGER)
    n_ledger = len(rec.events(pid=LEDGER, limit=10_000))
    assert f"{n_ledger} events" in labels[ledger].get_attribute("title")
    click(browser, f".tl-label[data-key='{ledger}']")  # focus + select the Ledger
    plot = browser.find_element(By.ID, "tl-plot")
    w = plot.size["width"]
    row = -plot.size["height"] // 2 + 9  # the Ledger's lane (the busiest, on top)
    # drag the cursor along the Ledger's lane from the left third to the middle, then to the end
    ActionChains(browser).move_to_element_with_offset(plot, -w // 3, row).click_and_hold() \
        .move_by_offset(w // 6, 0).move_by_offset(w // 6, 0).perform()
    mid = cursor(browser)
    ActionChains(browser).move_by_offset(w // 2 - 2, 0).release().perform()
    end = cursor(browser)
    assert 0 < mid < end

    def shown_state():
        el = css(browser, "#state-text")
        return el[0].get_attribute("textContent") if el else None

    expected = rec.state_at(LEDGER, t0 + end)
    wait(browser, lambda: shown_state() == short(expected.state, 2000))
    # the node's own answer (:sys.get_state after the last round) is what the screen shows
    node_state = recorded[0].observed[-1][1]
    from elixir_scope.instrument.etf import Atom

    leaf = [e.text for e in css(browser, "#state-tree .leaf") if e.text.startswith(":balance")]
    assert leaf == [f":balance: {node_state[Atom('balance')]}"]
    # the last change and the message that caused it
    change = last_change(rec, LEDGER, t0 + end)
    assert browser.find_element(By.ID, "cause-message").text == short(change.message, 400)
    assert len(css(browser, "#changes li")) == len(change.changes)
    assert css(browser, "#state-tree .leaf.changed")  # the changed value is highlighted
    # the supervision tree as it was at the end: the supervisor with its three workers
    snap = rec.system_snapshot_at(t0 + end)
    sup = next(tn for tn in snap.tree if tn.process.reg_name == SUP)
    sup_li = browser.find_element(By.CSS_SELECTOR, f"#sup-tree span[data-key='{key_of(rec, SUP)}']") \
        .find_element(By.XPATH, "./..")
    kids = sup_li.find_elements(By.CSS_SELECTOR, ":scope > ul > li")
    assert len(kids) == len(sup.children) == 3
    shot(browser, "timeline-state")
    # scrub back to the middle: the state there is state_at(middle)
    ActionChains(browser).move_to_element_with_offset(plot, 0, row).click().perform()
    back = cursor(browser)
    wait(browser, lambda: shown_state() == short(rec.state_at(LEDGER, t0 + back).state, 2000)
         if rec.state_at(LEDGER, t0 + back) else css(browser, "#no-state"))
    # step to the Ledger's next event
    browser.find_element(By.ID, "next-event").click()
    nxt = rec.events(pid=LEDGER, since=t0 + back + 1, limit=1)[0]
    wait(browser, lambda: cursor(browser) == nxt.ts - t0)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)  # the keyboard steps too
    after = rec.events(pid=LEDGER, since=nxt.ts + 1, limit=1)[0]
    wait(browser, lambda: cursor(browser) == after.ts - t0)
    # zoom in halves the window
    tl = browser.find_element(By.ID, "timeline")
    before = int(tl.get_attribute("data-until")) - int(tl.get_attribute("data-since"))
    browser.find_element(By.ID, "zoom-in").click()
    wait(browser, lambda: int(tl.get_attribute("data-until")) - int(tl.get_attribute("data-since")) <= before // 2 + 2)
    browser.find_element(By.ID, "zoom-fit").click()
    wait(browser, lambda: int(tl.get_attribute("data-until")) - int(tl.get_attribute("data-since")) == before)


def test_sequence_diagram_arrows_are_the_recorded_messages(server, browser, store, recorded):
    rec = store.recording(recorded[0].recording_id)
    t0 = t0_of(rec)
    open_recording(browser, server, rec.id, select=(key_of(rec, LEDGER), key_of(rec, TELLER)))
    browser.find_element(By.ID, "tab-messages").click()
    flows = rec.message_flow(processes=[LEDGER, TELLER], limit=1000).messages
    expected = {(f.send.id, f.receive.id if f.receive else None) for f in flows}

    def arrows():
        return {(int(g.get_attribute("data-send")), int(g.get_attribute("data-recv")) if g.get_attribute("data-recv") else None)
                for g in css(browser, "svg#seq g.msg")}

    wait(browser, lambda: arrows() == expected)
    assert len(expected) == 18
    # GenServer replies go to the caller's alias (OTP 24+): the Teller's replies are matched
    teller_proc = rec.resolve_process(TELLER)
    replies = [f for f in flows if f.sender and f.sender.reg_name == LEDGER and short(f.message).startswith("{[:alias")
               and f.receive is not None]
    assert replies and all(f.receive.pid == teller_proc.idx and f.method == "alias_bytes" for f in replies)
    assert len(replies) == 5  # deposit, deposit, withdraw, balance, deposit
    # click the arrow of the :audit message, then ask for its causal future
    audit = next(f for f in flows if short(f.message) == ":audit")
    browser.find_element(By.CSS_SELECTOR, f"svg#seq g.msg[data-send='{audit.send.id}']").click()
    wait(browser, lambda: browser.find_element(By.ID, "event-text").text.startswith("send :audit"))
    assert cursor(browser) == audit.send.ts - t0
    # the arrow's other end is its receive event
    browser.find_element(By.CSS_SELECTOR, f"svg#seq circle.end-recv[data-id='{audit.receive.id}']").click()
    wait(browser, lambda: browser.find_element(By.ID, "event-box").text.startswith(f"Event #{audit.receive.id}: receive"))
    assert cursor(browser) == audit.receive.ts - t0
    browser.find_element(By.CSS_SELECTOR, f"svg#seq g.msg[data-send='{audit.send.id}']").click()
    wait(browser, lambda: browser.find_element(By.ID, "event-box").text.startswith(f"Event #{audit.send.id}: send"))
    browser.find_element(By.ID, "causal-future").click()
    future = rec.causal_future(audit.send, 1000).events
    lanes = {e.get_attribute("data-key") for e in css(browser, ".tl-label")}
    on_lanes = [e for e in future if f"{e.node_id}.{e.pid}" in lanes]
    wait(browser, lambda: len(css(browser, ".tl-mark.future")) == len(on_lanes) > 0)
    future_ids = {e.id for e in future}
    wait(browser, lambda: {int(g.get_attribute("data-send")) for g in css(browser, "svg#seq g.msg.future")}
         == {f.send.id for f in flows if f.send.id in future_ids})
    shot(browser, "messages")


def test_query_results_link_into_the_timeline(server, browser, store, recorded):
    rec = store.recording(recorded[0].recording_id)
    t0 = t0_of(rec)
    open_recording(browser, server, rec.id)
    browser.find_element(By.ID, "tab-query").click()
    box = browser.find_element(By.ID, "query-input")
    box.send_keys("calls whre", Keys.ENTER)
    wait(browser, lambda: "did you mean 'where'" in (css(browser, "#query-error") or [None])[0].text
         if css(browser, "#query-error") else False)
    box.clear()
    text = "calls EsUi.Ledger.handle_call/3"
    box.send_keys(text, Keys.ENTER)
    result = run_query(rec, text, limit=200)
    wait(browser, lambda: len(css(browser, "#query-table tr.row")) == len(result.rows) == 5)
    row = css(browser, "#query-table tr.row")[2]
    row.click()
    target = result.rows[2].event
    wait(browser, lambda: cursor(browser) == target.ts - t0)
    wait(browser, lambda: browser.find_element(By.ID, "event-box").text.startswith(f"Event #{target.id}"))
    browser.find_element(By.ID, "query-mark").click()
    wait(browser, lambda: len(css(browser, ".tl-mark.hit")) == 5)
    shot(browser, "query")


def test_calls_view_shows_every_call_of_the_process(server, browser, store, recorded):
    rec = store.recording(recorded[0].recording_id)
    open_recording(browser, server, rec.id, select=(key_of(rec, LEDGER),))  # focus the Ledger
    browser.find_element(By.ID, "tab-calls").click()
    calls = [c for r in rec.timeline(LEDGER).roots for c in r.walk()]
    wait(browser, lambda: len(css(browser, "#icicle > div")) == len(calls) == 7)
    assert len(css(browser, "#slowest li")) == 7
    shot(browser, "calls")


def test_diagnosis_report_links_its_evidence_into_the_timeline(server, browser, store, recorded):
    import json

    rec = store.recording(recorded[0].recording_id)
    t0 = t0_of(rec)
    audit = next(f for f in rec.message_flow(processes=[LEDGER], limit=1000).messages
                 if short(f.message) == ":audit")
    handled = rec.events(kind="call", pid=LEDGER, since=audit.receive.ts, limit=1)[0]
    open_recording(browser, server, rec.id)
    # a report in the shape `elixir-scope diagnose --json` writes (docs/diagnosis.md)
    report = {"schema": "elixir-scope/report/1", "symptom": "balance audited twice",
              "recording_id": rec.id, "verdict": "root_cause_found",
              "root_cause": {"detector": "demo", "title": "audit flag set by a plain message",
                             "summary": "the Teller sends :audit", "severity": "medium", "confidence": 0.8,
                             "culprit": {"module": "EsUi.Teller", "function": "handle_call/3"},
                             "evidence": [{"event_id": audit.send.id, "kind": "send", "summary": "sent :audit"},
                                          {"event_id": handled.id, "kind": "call", "summary": "handled it"}]},
              "findings": [], "gaps": []}
    browser.find_element(By.ID, "tab-diagnosis").click()
    browser.find_element(By.ID, "report-json").send_keys(json.dumps(report))
    browser.find_element(By.ID, "report-load").click()
    wait(browser, lambda: browser.find_element(By.ID, "report-verdict").text == "root cause found")
    links = css(browser, "#report a.ev")
    assert [int(a.get_attribute("data-id")) for a in links] == [audit.send.id, handled.id]
    shot(browser, "diagnosis")
    links[1].click()
    wait(browser, lambda: cursor(browser) == handled.ts - t0)
    wait(browser, lambda: browser.find_element(By.ID, "event-box").text.startswith(f"Event #{handled.id}"))
    browser.find_element(By.ID, "tab-diagnosis").click()
    box = browser.find_element(By.ID, "report-json")
    # no root cause reached the bar: the suspect is shown as where to look first, not as a verdict
    suspect = dict(report["root_cause"], confidence=0.41, weak="one weak fact")
    box.clear()
    box.send_keys(json.dumps(dict(report, verdict="problems_found", root_cause=None, suspect=suspect,
                                  findings=[suspect])))
    browser.find_element(By.ID, "report-load").click()
    wait(browser, lambda: browser.find_element(By.ID, "report-verdict").text == "problems found")
    head = css(browser, "#report .finding.suspect h3")
    assert len(head) == 1 and head[0].text.startswith("Where to look first (low confidence): audit flag")
    assert "Suspect: EsUi.Teller.handle_call" in browser.find_element(By.CSS_SELECTOR, "#report .finding.suspect").text
    assert "Not a verdict: one weak fact." in browser.find_element(By.CSS_SELECTOR, "#report .finding.suspect").text
    assert len(css(browser, "#report .finding")) == 1  # the suspect is not listed twice
    # a culprit that is a module alone reads as the module, never `EsUi.Teller.null`
    alone = dict(suspect, culprit={"module": "EsUi.Teller", "function": None})
    box.clear()
    box.send_keys(json.dumps(dict(report, verdict="problems_found", root_cause=None, suspect=alone, findings=[alone])))
    browser.find_element(By.ID, "report-load").click()
    wait(browser, lambda: "Suspect: EsUi.Teller (no function identified)"
         in browser.find_element(By.CSS_SELECTOR, "#report .finding.suspect").text)
    box.clear()
    box.send_keys('{"symptom": "x"}')
    browser.find_element(By.ID, "report-load").click()
    wait(browser, lambda: "no \"verdict\"" in browser.find_element(By.ID, "report-error").text)


def test_gaps_are_drawn_where_events_were_dropped(server, browser, store, recorded):
    url, _ = server
    cart = store.recording(recorded[1])
    gaps = cart.gaps()
    browser.get(f"{url}#/rec/{recorded[1]}")
    wait(browser, lambda: len(css(browser, ".tl-gap")) == len(gaps) == 1)
    g = css(browser, ".tl-gap")[0]
    assert g.get_attribute("data-count") == "7" and "dropped" in g.get_attribute("title")
    assert "1 gap(s)" in browser.find_element(By.ID, "tl-info").text
    shot(browser, "gaps")


def test_export_then_import_through_the_page(server, browser, recorded, tmp_path):
    import sqlite3

    url, config = server
    req = urllib.request.Request(url.split("?")[0] + f"api/recordings/{recorded[0].recording_id}/export",
                                 headers={"Authorization": f"Bearer {config.token}"})
    file = tmp_path / "ledger.esrec"
    file.write_bytes(urllib.request.urlopen(req).read())
    # the import goes into a copy of the store behind a second server: the module's store
    # keeps its two recordings for the other tests, whatever order they run in
    copy = tmp_path / "copy.db"
    with sqlite3.connect(recorded[0].path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # the WAL's pages included
    with TraceStore.open(copy, readonly=True) as before:
        n = len(before.recordings())
    with ui_server(UiConfig(store_path=copy, port=free_port())) as url2:
        browser.get(url2 + "#/")
        wait(browser, lambda: len(css(browser, "#rec-list tr.row")) == n)
        browser.find_element(By.ID, "import-file").send_keys(str(file))
        wait(browser, lambda: len(css(browser, "#rec-list tr.row")) == n + 1)
        assert "imported as recording" in browser.find_element(By.ID, "status").text
    with TraceStore.open(copy, readonly=True) as after:
        assert len(after.recordings()) == n + 1


def test_live_node_table_tree_charts_and_a_capture_that_fills(server, browser, store, sample_app_module):
    from elixir_scope.instrument.dist import Node
    from elixir_scope.instrument.etf import Atom

    url, _ = server
    node = sample_app_module
    browser.get(url + "#/live")
    browser.find_element(By.ID, "live-node").send_keys(node.name)
    browser.find_element(By.ID, "live-cookie").send_keys(node.cookie)
    browser.find_element(By.ID, "live-connect").click()
    wait(browser, lambda: node.name in browser.find_element(By.ID, "live-facts").text, timeout=20)
    # the table, filtered as typed: the Inventory with its real pid

    async def pid_of(name):
        async with Node() as me:
            conn = await me.connect(node.name, cookie=node.cookie)
            return str(await conn.rpc("erlang", "whereis", [Atom(name)]))

    inventory_pid = asyncio.run(pid_of("Elixir.SampleApp.Inventory"))
    browser.find_element(By.ID, "live-filter").send_keys("SampleApp.Inventory")
    wait(browser, lambda: [r.get_attribute("data-pid") for r in css(browser, "#live-procs tr[data-pid]")] == [inventory_pid])
    browser.find_element(By.ID, "live-filter").clear()
    browser.find_element(By.ID, "live-filter").send_keys(" ")
    wait(browser, lambda: len(css(browser, "#live-procs tr[data-pid]")) > 20)
    # sort by reductions: the column reads in descending order
    click(browser, "th[data-sort='reductions']")

    def reductions():
        return [int(r.find_elements(By.TAG_NAME, "td")[6].get_attribute("textContent").replace(",", ""))
                for r in css(browser, "#live-procs tr[data-pid]")]

    wait(browser, lambda: "▼" in browser.find_element(By.CSS_SELECTOR, "th[data-sort='reductions']").text)
    wait(browser, lambda: (lambda xs: xs == sorted(xs, reverse=True) and len(xs) > 20)(reductions()))
    # the supervision trees as the node reports them
    wait(browser, lambda: "SampleApp.Supervisor" in browser.find_element(By.ID, "live-tree").text)
    # the charts grow a sample every 2 s
    wait(browser, lambda: len(css(browser, "#live-mem polyline")[0].get_attribute("points").split()) >= 2, timeout=15)
    # a name the node does not know is refused before anything reaches it
    browser.find_element(By.ID, "cap-state").send_keys("Nope.NotAModule")
    browser.find_element(By.ID, "cap-start").click()
    wait(browser, lambda: "no module named Elixir.Nope.NotAModule" in browser.find_element(By.ID, "error").text)
    browser.find_element(By.ID, "error").click()  # dismissed
    wait(browser, lambda: not browser.find_element(By.ID, "error").is_displayed())
    # a capture with limits, filled by traffic, watched on the page
    browser.find_element(By.ID, "cap-state").clear()
    browser.find_element(By.ID, "cap-state").send_keys("SampleApp.Inventory")
    browser.find_element(By.ID, "cap-msgs").send_keys("SampleApp.Inventory")
    box = browser.find_element(By.ID, "cap-max-events")
    box.clear()
    box.send_keys("300")
    browser.find_element(By.ID, "cap-start").click()
    wait(browser, lambda: "running" in browser.find_element(By.ID, "cap-status").text)

    async def traffic():
        async with Node() as me:
            conn = await me.connect(node.name, cookie=node.cookie)
            for i in range(10):
                await conn.rpc("Elixir.SampleApp.Inventory", "stock", [b"sku-%d" % i])

    asyncio.run(traffic())
    wait(browser, lambda: int(browser.find_element(By.ID, "cap-events").text) >= 40)
    browser.execute_script("window.scrollTo(0, 0); document.getElementById('live-table').parentNode.scrollLeft = 0")
    shot(browser, "live")
    browser.find_element(By.ID, "cap-stop").click()
    wait(browser, lambda: browser.find_element(By.ID, "cap-status").get_attribute("data-running") == "false")
    rid = int(browser.find_element(By.ID, "cap-open").text.lstrip("#"))
    shown = int(browser.find_element(By.ID, "cap-events").text)
    assert store.recording(rid).info.event_count == shown >= 40


def test_app_names_name_processes_in_lanes_and_in_the_live_table(browser, tmp_path):
    """Processes with no registered name, held in an Elixir Registry: the recorded lanes and the
    live table name them by their Registry names, as every other view of ElixirScope does."""
    from elixir_scope.instrument.dist import Node
    from elixir_scope.instrument.etf import Atom
    from elixir_scope.instrument.capture import CapturePlan
    from elixir_scope.instrument.session import capture
    from support.nodes import REPO

    node = start_node("elixir", elixir_files=[REPO / "tests" / "fixtures" / "via_app" / "via_app.ex"],
                      eval_code=":ok = ViaApp.start()")
    try:
        path = tmp_path / "traces.db"

        async def record():
            s = TraceStore.open(path)
            try:
                async with Node() as me:
                    conn = await me.connect(node.name, cookie=node.cookie)
                    session = await capture(conn, s, "sessions", CapturePlan(state_modules=("Elixir.ViaApp.Session",)))
                    for _ in range(5):
                        for key in (b"user-42", (Atom("user"), 7)):
                            await conn.rpc("gen_server", "call", [(Atom("via"), Atom("Elixir.Registry"),
                                                                   (Atom("Elixir.ViaApp.Registry"), key)), Atom("ping")])
                    return (await session.stop()).recording_id
            finally:
                s.close()

        rid = asyncio.run(record())
        with ui_server(UiConfig(store_path=path, port=free_port())) as url:
            browser.get(f"{url}#/rec/{rid}")
            wait(browser, lambda: len(css(browser, ".tl-label")) >= 2, timeout=20)
            lanes = [e.get_attribute("textContent") for e in css(browser, ".tl-label")]
            assert any('via {ViaApp.Registry, "user-42"} <' in t for t in lanes), lanes
            assert any("via {ViaApp.Registry, {:user, 7}} <" in t for t in lanes), lanes
            shot(browser, "app-names-lanes")
            # the live table: the same names, and the filter finds a process by its key
            browser.get(url + "#/live")
            browser.find_element(By.ID, "live-node").send_keys(node.name)
            browser.find_element(By.ID, "live-cookie").send_keys(node.cookie)
            browser.find_element(By.ID, "live-connect").click()
            wait(browser, lambda: node.name in browser.find_element(By.ID, "live-facts").text, timeout=20)
            browser.find_element(By.ID, "live-filter").send_keys("user-42")

            def names():
                return [r.find_elements(By.TAG_NAME, "td")[1].get_attribute("textContent")
                        for r in css(browser, "#live-procs tr[data-pid]")]

            wait(browser, lambda: names() == ['[via {ViaApp.Registry, "user-42"}]'], timeout=15)
    finally:
        node.stop()
