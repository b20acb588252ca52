#!/usr/bin/env bash
# Installs everything (scripts/setup.sh) and runs the main job: start the bundled sample
# Elixir app as a distributed node, attach to it with no code change, and show what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
exec .venv/bin/elixir-scope demo "$@"
