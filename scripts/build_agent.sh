#!/usr/bin/env bash
# Rebuild the prebuilt tracer agent shipped as package data:
#   instrument/agent/elixir_scope_agent.erl -> instrument/agent/elixir_scope_agent.beam
#
# Run it after every change to the .erl (tests/test_agent_prebuilt.py fails until you do):
#   bash scripts/build_agent.sh
#
# The beam is compiled by the oldest supported OTP release (25: a beam built by OTP N loads on
# later releases, not on older ones) with `deterministic` (the same source gives the same bytes),
# exactly as the loader compiles on a target (erl_scan + erl_parse, no preprocessor), and it
# carries the sha256 of the source it was built from as the attribute `es_source_sha256`: the
# loader compares it with the shipped source and falls back to compiling when they differ.
# Set ERL=/path/to/erl to pick another runtime (must be OTP <= 25 unless ES_ALLOW_NEWER_OTP=1).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${ES_AGENT_SRC:-$here/instrument/agent/elixir_scope_agent.erl}"   # overridable for tests
out="${ES_AGENT_OUT:-$here/instrument/agent/elixir_scope_agent.beam}"
erl="${ERL:-erl}"
command -v "$erl" >/dev/null || { echo "build_agent: no '$erl' on PATH (apt-get install -y erlang-nox)" >&2; exit 1; }
rel="$("$erl" -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')"
if [ "$rel" -gt 25 ] && [ "${ES_ALLOW_NEWER_OTP:-0}" != 1 ]; then
  echo "build_agent: $erl is OTP $rel; build with OTP 25 (the oldest supported) so every supported target loads it" >&2
  exit 1
fi
hash="$(sha256sum "$src" | cut -d' ' -f1)"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
ES_SRC="$src" ES_OUT="$tmp" ES_HASH="$hash" "$erl" -noshell -eval '
    Src = os:getenv("ES_SRC"), Out = os:getenv("ES_OUT"), Hash = list_to_binary(os:getenv("ES_HASH")),
    {ok, Bin} = file:read_file(Src),
    {ok, Toks, _} = erl_scan:string(binary_to_list(Bin)),
    {[], Rev} = lists:foldl(
        fun({dot, _} = D, {Cur, Acc}) ->
                case erl_parse:parse_form(lists:reverse([D | Cur])) of
                    {ok, F} -> {[], [F | Acc]};
                    {error, E} -> io:format(standard_error, "parse error: ~p~n", [E]), halt(2)
                end;
           (T, {Cur, Acc}) -> {[T | Cur], Acc}
        end, {[], []}, Toks),
    [{attribute, L, module, _} = ModForm | Rest] = lists:reverse(Rev),
    Forms = [ModForm, {attribute, L, es_source_sha256, Hash} | Rest],
    case compile:forms(Forms, [binary, deterministic, return_errors]) of
        {ok, _, Beam} -> ok = file:write_file(Out, Beam);
        {ok, _, Beam, _} -> ok = file:write_file(Out, Beam);
        Err -> io:format(standard_error, "compile failed: ~p~n", [Err]), halt(3)
    end,
    halt(0).'
mv "$tmp" "$out"
trap - EXIT
echo "built $out (OTP $rel, source sha256 $hash, $(stat -c %s "$out") bytes)"
