"""`elixir-scope export` to OTLP (a real loopback receiver) and Parquet (read back with
DuckDB), and its one-line errors."""

from __future__ import annotations

import json
import socket

import duckdb
import pytest

from support.cart_recording import build_cart_recording
from support.otlp_receiver import OtlpReceiver
from support.cli_run import run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_export") / "traces.db"
    build_cart_recording(path)
    return str(path)


def test_export_to_otlp(capsys, store):
    with OtlpReceiver() as r:
        code, out, err = run(capsys, "export", "1", "--otlp", r.url, "--store", store,
                             "--otlp-header", "x-api-key=k1", "--service-name", "shop")
    assert code == 0 and "3 spans" in out and f"{r.url}/v1/traces" in out
    spans = r.spans()
    assert [s.name for _, s in spans] == ["SampleApp.Cart.handle_call/3"] * 3
    svc = {kv.key: kv.value.string_value for kv in spans[0][0].attributes}["service.name"]
    assert svc == "shop"
    with OtlpReceiver() as r:
        code, out, _ = run(capsys, "export", "1", "--otlp", r.url, "--store", store, "--json", "--otlp-gzip")
    report = json.loads(out)
    assert code == 0 and report["spans"] == 3 and report["requests"] == 1 and r.encodings == ["gzip"]


def test_export_to_parquet(capsys, store, tmp_path):
    out_dir = tmp_path / "rec1"
    code, out, _ = run(capsys, "export", "1", "--parquet", str(out_dir), "--store", store)
    assert code == 0 and "calls.parquet" in out
    rows = duckdb.sql(f"SELECT mfa, count(*) FROM '{out_dir}/calls.parquet' GROUP BY mfa").fetchall()
    assert rows == [("SampleApp.Cart.handle_call/3", 3)]
    code, _, err = run(capsys, "export", "1", "--parquet", str(out_dir), "--store", store)
    assert code == 2 and "already exists" in err


def test_export_errors_are_one_line_with_a_hint(capsys, store, tmp_path):
    code, _, err = run(capsys, "export", "1", "--store", store)
    assert code == 2 and "exactly one target" in err
    code, _, err = run(capsys, "export", "1", str(tmp_path / "f"), "--otlp", "http://127.0.0.1:1", "--store", store)
    assert code == 2 and "exactly one target" in err
    code, _, err = run(capsys, "export", "1", "--otlp", "localhost:4318", "--store", store)
    assert code == 1 and "not an http(s) URL" in err and "hint:" in err and "Traceback" not in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        code, _, err = run(capsys, "export", "1", "--otlp", url, "--store", store)
    assert code == 1 and "cannot reach the OTLP endpoint" in err and "hint:" in err
    code, _, err = run(capsys, "export", "1", "--otlp", "http://127.0.0.1:4318", "--otlp-header", "novalue",
                       "--store", store)
    assert code == 2 and "NAME=VALUE" in err
    code, _, err = run(capsys, "export", "99", "--parquet", str(tmp_path / "x"), "--store", store)
    assert code == 1 and "no recording 99" in err
