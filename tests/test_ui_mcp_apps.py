"""MCP Apps: the timeline, sequence diagram and supervision tree offered to hosts that render UI.
A real MCP client session calls the tools; a real headless Chromium plays the host: it loads
the ``ui://`` resource into a sandboxed iframe, answers the app's ``ui/initialize`` handshake
and hands it the tool result, and the test reads what the app drew."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from elixir_scope.mcp_server.apps import PICTURE_URI
from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from elixir_scope.store import TraceStore
from support.browser import chrome, shot
from support.cart_recording import CART, build_cart_recording

HOST = """<!doctype html><html><body><iframe id="app" sandbox="allow-scripts" width="900" height="600"></iframe>
<script>
window.log = [];
const frame = document.getElementById('app');
window.addEventListener('message', ev => {
  const m = ev.data; window.log.push(m.method || ('result ' + m.id));
  if (m.method === 'ui/initialize')
    frame.contentWindow.postMessage({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion,
      hostInfo: { name: 'test-host', version: '1' }, hostCapabilities: {}, hostContext: {} } }, '*');
  if (m.method === 'ui/notifications/initialized')
    frame.contentWindow.postMessage({ jsonrpc: '2.0', method: 'ui/notifications/tool-result', params: window.toolResult }, '*');
});
</script></body></html>"""


@pytest.fixture(scope="module")
def cart(tmp_path_factory):
    path = tmp_path_factory.mktemp("apps") / "traces.db"
    return path, build_cart_recording(path)


def call(path, name, args):
    async def go():
        async with Client(build_server(ServerConfig(store_path=path))) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            html = (await c.read_resource(PICTURE_URI)).contents[0]
            result = await c.call_tool(name, args)
            return tools, html, result

    return asyncio.run(go())


def draw_in_host(driver, html: str, result) -> None:
    """Chromium as the MCP host: the app in a sandboxed iframe, fed ``result``."""
    driver.get("data:text/html;charset=utf-8," + HOST.replace("#", "%23"))
    driver.execute_script("window.toolResult = arguments[0]; document.getElementById('app').srcdoc = arguments[1];",
                          {"content": [c.model_dump(mode="json") for c in result.content],
                           "structuredContent": result.structured_content}, html)
    driver.switch_to.frame(driver.find_element(By.ID, "app"))


def test_tools_are_bound_to_the_app_resource(cart):
    tools, html, result = call(cart[0], "show_timeline", {})
    for name in ("show_timeline", "show_sequence_diagram", "show_supervision_tree"):
        assert tools[name].meta["ui"]["resourceUri"] == PICTURE_URI
    assert html.mime_type == "text/html;profile=mcp-app" and "ui/initialize" in html.text
    data = result.structured_content
    store = TraceStore.open(cart[0], readonly=True)
    rec = store.recording(cart[1])
    assert data["picture"] == "timeline" and data["total"] == rec.info.event_count
    assert [g["count"] for g in data["gaps"]] == [g.count for g in rec.gaps()] == [7]
    store.close()
    _, _, bad = call(cart[0], "show_sequence_diagram", {"processes": ["No.Such.Process"]})
    assert bad.is_error and "no process 'No.Such.Process'" in bad.content[0].text


def test_a_host_draws_the_sequence_diagram_the_recording_holds(cart):
    _, html, result = call(cart[0], "show_sequence_diagram", {"recording_id": cart[1], "processes": [CART]})
    store = TraceStore.open(cart[0], readonly=True)
    flows = store.recording(cart[1]).message_flow(processes=[CART], limit=80).messages
    expected = {(f.send.id, f.receive.id if f.receive else None) for f in flows}
    store.close()
    with chrome() as d:
        draw_in_host(d, html.text, result)
        wait = WebDriverWait(d, 10, poll_frequency=0.05)
        wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "svg#seq g.msg"))
        drawn = {(int(g.get_attribute("data-send")), int(g.get_attribute("data-recv")) if g.get_attribute("data-recv") else None)
                 for g in d.find_elements(By.CSS_SELECTOR, "svg#seq g.msg")}
        assert drawn == expected and len(expected) == 7
        assert len(d.find_elements(By.CSS_SELECTOR, "svg#seq g.msg.lost")) == sum(1 for f in flows if f.receive is None) == 1
        assert "call {:add, \"apple\"}" in d.find_element(By.ID, "seq").text
        shot(d, "mcp-app-sequence")
        d.switch_to.default_content()
        assert d.execute_script("return window.log")[:2] == ["ui/initialize", "ui/notifications/initialized"]


def test_a_host_draws_the_timeline_and_the_tree(cart):
    _, html, timeline = call(cart[0], "show_timeline", {"recording_id": cart[1]})
    _, _, tree = call(cart[0], "show_supervision_tree", {"recording_id": cart[1]})
    with chrome() as d:
        draw_in_host(d, html.text, timeline)
        WebDriverWait(d, 10).until(lambda _: d.find_elements(By.CSS_SELECTOR, "svg#timeline rect.cell"))
        cells = d.find_elements(By.CSS_SELECTOR, "svg#timeline rect.cell")
        nonzero = sum(1 for lane in timeline.structured_content["lanes"] for c in lane["counts"] if c)
        assert len(cells) == nonzero and len(d.find_elements(By.CSS_SELECTOR, "svg#timeline rect.gap")) == 1
        draw_in_host(d, html.text, tree)
        WebDriverWait(d, 10).until(lambda _: d.find_elements(By.CSS_SELECTOR, "#tree li"))
        labels = [li.text.split("\n")[0] for li in d.find_elements(By.CSS_SELECTOR, "#tree > li")]
        assert labels == [r["label"] for r in tree.structured_content["roots"]]
        assert json.dumps(tree.structured_content).count("label") == len(d.find_elements(By.CSS_SELECTOR, "#tree li"))
