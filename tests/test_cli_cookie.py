"""The cookie from a file (`--cookie-file`, `$ELIXIR_SCOPE_COOKIE_FILE`) on a real node;
clear errors for a bad file that never show the cookie; help that steers away from
`--cookie` on the command line."""

from __future__ import annotations

import json

import pytest

from support.nodes import start_node

from elixir_scope.cli import main
from elixir_scope.cli.main import build_parser
from elixir_scope.instrument.dist.cookie import CookieFileError, read_cookie_file
from elixir_scope.mcp_server.config import ServerConfig


@pytest.fixture(scope="module")
def node():
    n = start_node("erl")
    yield n
    n.stop()


def test_overview_with_a_cookie_file(capsys, node, tmp_path):
    f = tmp_path / "cookie"
    f.write_text(node.cookie + "\n")
    code = main(["overview", "--node", node.name, "--cookie-file", str(f), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["node"]["node"] == node.name


def test_cookie_file_from_the_environment(node, tmp_path, monkeypatch, capsys):
    f = tmp_path / "cookie"
    f.write_text(node.cookie)
    monkeypatch.delenv("ELIXIR_SCOPE_COOKIE", raising=False)
    monkeypatch.setenv("ELIXIR_SCOPE_COOKIE_FILE", str(f))
    config = ServerConfig.from_env()
    assert node.cookie not in repr(config)
    code = main(["overview", "--node", node.name, "--json"])
    assert code == 0, capsys.readouterr().err


def test_bad_cookie_files_say_what_is_wrong_without_the_secret(capsys, node, tmp_path):
    missing = tmp_path / "nope"
    code = main(["overview", "--node", node.name, "--cookie-file", str(missing)])
    err = capsys.readouterr().err
    assert code != 0 and "does not exist" in err and str(missing) in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(CookieFileError, match="empty"):
        read_cookie_file(empty)
    big = tmp_path / "big"
    big.write_text("s3cr3t-value" * 1000)
    with pytest.raises(CookieFileError, match="one short line") as info:
        read_cookie_file(big)
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(CookieFileError, match="directory"):
        read_cookie_file(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-cookie")
    code = main(["overview", "--node", node.name, "--cookie-file", str(wrong)])
    err = capsys.readouterr().err
    assert code != 0 and "cookie" in err and "not-the-cookie" not in err


def test_help_prefers_the_environment_or_a_file():
    parser = build_parser()
    text = parser.format_help()
    assert "process list" in text and "--cookie-file" in text
    sub = parser._subparsers._group_actions[0].choices["overview"].format_help()
    assert "--cookie-file" in sub and "visible to other users" in sub
    with pytest.raises(SystemExit):
        parser.parse_args(["overview", "--cookie", "a", "--cookie-file", "b"])
