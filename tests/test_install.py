"""An install that works anywhere: the wheel, built from this checkout, installed into clean
virtual environments away from it.

- the bare wheel (no extras) runs ``elixir-scope --help``, every command's help and the live
  commands against a real node: every module they import is declared (pydantic was not,
  once), and a command that needs an extra says which;
- the wheel with ``[all]`` (after the local CPU torch wheel, which the packaged embedding
  model's own dependencies pull in) runs ``elixir-scope demo`` from a folder that is not the
  checkout (the example apps ship in the wheel), and serves ``tools/list`` to the MCP Inspector
  CLI through the installed ``elixir-scope mcp``.

Marked ``install`` (and ``slow``): it takes a few minutes. Packages are installed with
``uv pip`` (a dev dependency) when it is there - about 40 s for the whole stack where pip takes
about 9 minutes - else with pip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.mcp_servers import run_inspector
from support.nodes import REPO, start_node

pytestmark = [pytest.mark.install, pytest.mark.slow, pytest.mark.timeout(1200)]

# torch's CPU build from the local wheel: an unpinned torch would pull CUDA packages
TORCH = "torch==2.13.0"


def _run(argv, *, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{argv[:4]} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no PYTHONPATH, no virtualenv, no project variables."""
    keep = ("HOME", "LANG", "LC_ALL", "TERM", "USER", "LOGNAME", "SHELL", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if ".venv" not in p)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build_dir = tmp_path_factory.mktemp("build-src")
    # build from a copy of the sources' file list, so the checkout gets no build/ or egg-info
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, REPO], cwd=build_dir, timeout=300)
    (whl,) = out.glob("elixir_scope-*.whl")
    return whl


def _venv(path: Path) -> Path:
    _run([sys.executable, "-m", "venv", path], cwd=path.parent, timeout=120)
    return path / "bin"


def _install(bin_: Path, *requirements: str, cwd: Path) -> None:
    """pip install into the venv of ``bin_``, through uv when this interpreter has it."""
    uv = Path(sys.executable).with_name("uv")
    uv = str(uv) if uv.exists() else shutil.which("uv")
    if uv:
        links = [a for d in os.environ.get("PIP_FIND_LINKS", "").split() if d for a in ("--find-links", d)]
        argv = [uv, "pip", "install", "-q", "--python", bin_ / "python", *links, *requirements]
    else:
        argv = [bin_ / "pip", "install", "-q", *requirements]
    # the machine's package settings (pip's and uv's own variables, and the CA bundle its network
    # needs: uv does not read pip's `cert` setting) go to the installer; nothing of the project
    net = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    passed = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "UV_")) or k in net}
    if "SSL_CERT_FILE" not in passed:  # pip may know the bundle only from its config
        cert = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
        if Path(cert).is_file():
            passed["SSL_CERT_FILE"] = cert
    _run(argv, cwd=cwd, env={**_clean_env(), **passed}, timeout=1200)


def test_bare_wheel_runs_help_without_extras(wheel, tmp_path):
    bin_ = _venv(tmp_path / "bare")
    _install(bin_, str(wheel), cwd=tmp_path)
    env = _clean_env()
    out = _run([bin_ / "elixir-scope", "--help"], cwd=tmp_path, env=env)
    assert "elixir-scope" in out.stdout and "demo" in out.stdout
    for command in ("state", "logs", "ets", "overview", "query"):
        _run([bin_ / "elixir-scope", command, "--help"], cwd=tmp_path, env=env)
    # the live commands need no extra: the agent source ships in the wheel
    node = start_node("erl")
    try:
        target = ["--node", node.name, "--cookie", node.cookie]
        state = json.loads(_run([bin_ / "elixir-scope", "state", "logger", *target, "--json"], cwd=tmp_path, env=env).stdout)
        assert state["module"] == "logger_server" and state["pid"].startswith("<0.")
        _run([bin_ / "elixir-scope", "memory", *target], cwd=tmp_path, env=env)
        _run([bin_ / "elixir-scope", "ets", "ac_tab", *target], cwd=tmp_path, env=env)
    finally:
        node.stop()
    # the MCP server needs its extra, and says so instead of a traceback
    out = subprocess.run([bin_ / "elixir-scope", "mcp"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode != 0 and "Traceback" not in out.stderr and "elixir-scope[mcp]" in out.stderr


def test_full_wheel_runs_the_demo_and_serves_mcp(wheel, tmp_path):
    bin_ = _venv(tmp_path / "full")
    _install(bin_, TORCH, f"{wheel}[all]", cwd=tmp_path)
    # a home of its own: the knowledge index is built there, nothing lands in the user's
    run_env = _clean_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False",
                         ELIXIR_SCOPE_STORE=str(tmp_path / "traces.db"), HOME=str(tmp_path / "home"))
    where = _run([bin_ / "python", "-c", "import elixir_scope, pathlib; print(pathlib.Path(elixir_scope.__file__).parent)"],
                 cwd=tmp_path, env=run_env)
    assert not where.stdout.strip().startswith(str(REPO)), "the test must exercise the installed wheel"
    # the MCP start answers shipped in the wheel hold on this install (content, not file dates),
    # provided the SDK and pydantic versions are the ones they were computed with
    probe = ("import json, pathlib; from elixir_scope.mcp_server.config import ServerConfig; "
             "from elixir_scope.mcp_server.start_cache import StartCache; from elixir_scope.mcp_server.start_key import dependency_versions; "
             "c = StartCache.open(ServerConfig(), pathlib.Path('no-user-cache')); "
             "print(json.dumps([c.origin, dependency_versions()]))")
    origin, versions = json.loads(_run([bin_ / "python", "-c", probe], cwd=tmp_path, env=run_env).stdout)
    from elixir_scope.mcp_server.start_key import dependency_versions

    assert origin == ("shipped" if versions == dependency_versions() else None), (origin, versions)
    _run([bin_ / "elixir-scope", "--help"], cwd=tmp_path, env=run_env)
    demo = _run([bin_ / "elixir-scope", "demo", "--record-seconds", "2"], cwd=tmp_path, env=run_env, timeout=600)
    assert "SampleApp" in demo.stdout and "Traceback" not in demo.stderr
    # the report is rendered Markdown, its line breaks intact (not shown as escapes)
    assert "\\x0a" not in demo.stdout and "Root cause" in demo.stdout, demo.stdout[-3000:]
    # the export extra is part of [all]: the demo's recording as Parquet files
    rid = json.loads(_run([bin_ / "elixir-scope", "recordings", "--json"], cwd=tmp_path, env=run_env).stdout)[0]["id"]
    pq = json.loads(_run([bin_ / "elixir-scope", "export", str(rid), "--parquet", tmp_path / "pq", "--json"],
                         cwd=tmp_path, env=run_env).stdout)
    assert pq["rows"]["events"] > 0 and (tmp_path / "pq" / "calls.parquet").is_file()
    listed = run_inspector(str(bin_ / "elixir-scope"), "mcp", "--method", "tools/list",
                           env={**run_env, "HOME": os.environ["HOME"], "PATH": os.environ["PATH"]})
    assert listed.returncode == 0, listed.stderr
    names = {t["name"] for t in json.loads(listed.stdout)["tools"]}
    assert {"connect_node", "get_state", "read_logs", "query", "diagnose"} <= names
