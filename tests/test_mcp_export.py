"""The export_recording tool's Parquet and OTLP targets through the SDK's client: Parquet
confined to the exports folder, OTLP to a real loopback receiver, off-machine endpoints
refused unless the operator allows them."""

from __future__ import annotations

import duckdb
import pytest
from mcp import Client

from elixir_scope.mcp_server.config import ServerConfig
from elixir_scope.mcp_server.server import build_server
from support.cart_recording import build_cart_recording
from support.otlp_receiver import OtlpReceiver


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("mcp_export") / "traces.db"
    build_cart_recording(path)
    return path


async def call(client, name, args):
    r = await client.call_tool(name, args)
    return r.is_error, (r.content[0].text if r.is_error else r.structured_content)


async def test_parquet_goes_to_the_exports_folder(store_path):
    async with Client(build_server(ServerConfig(store_path=store_path))) as client:
        bad, got = await call(client, "export_recording", {"recording": 1, "to": "parquet", "file_name": "rec1"})
        assert not bad and got["path"] == str(store_path.parent / "exports" / "rec1") and got["rows"]["calls"] == 3
        assert duckdb.sql(f"SELECT count(*) FROM '{got['path']}/events.parquet'").fetchall()[0][0] == got["rows"]["events"]
        bad, text = await call(client, "export_recording", {"recording": 1, "to": "parquet", "file_name": "../up"})
        assert bad and "invalid file name" in text
        bad, text = await call(client, "export_recording", {"recording": 1, "to": "parquet", "file_name": "rec1"})
        assert bad and "already exists" in text


async def test_otlp_to_loopback_and_only_there(store_path):
    async with Client(build_server(ServerConfig(store_path=store_path))) as client:
        with OtlpReceiver() as r:
            bad, got = await call(client, "export_recording", {"recording": 1, "to": "otlp", "otlp_endpoint": r.url})
        assert not bad and got["spans"] == 3 == len(r.spans()) and got["path"] == r.url + "/v1/traces"
        bad, text = await call(client, "export_recording", {"recording": 1, "to": "otlp",
                                                             "otlp_endpoint": "http://collector.example:4318"})
        assert bad and "not on this machine" in text and "ELIXIR_SCOPE_OTLP_ENDPOINTS" in text
        bad, text = await call(client, "export_recording", {"recording": 1, "to": "otlp"})
        assert bad and "needs otlp_endpoint" in text
        bad, text = await call(client, "export_recording", {"recording": 1, "to": "otlp", "otlp_endpoint": "file:///etc"})
        assert bad and "not an http(s) URL" in text


def test_operator_allows_an_endpoint_by_environment():
    from elixir_scope.mcp_server.tools.recordings import otlp_allowed

    config = ServerConfig.from_env({"ELIXIR_SCOPE_OTLP_ENDPOINTS": "http://collector.example:4318, "})
    assert config.otlp_endpoints == ("http://collector.example:4318",)
    assert otlp_allowed("http://collector.example:4318/v1/traces", config)
    assert not otlp_allowed("http://other.example:4318/v1/traces", config)
    assert otlp_allowed("http://[::1]:4318/v1/traces", ServerConfig())
