#!/usr/bin/env bash
# Conformance suite: replays the Directus traces against real Directus servers on 127.0.0.1
# and checks each verdict against the expectation below. For each version it installs (once,
# into .cache/directus), starts, replays, reports and stops.
#
#   scripts/conformance.sh                 every version in the table
#   CONFORMANCE_VERSIONS="10.10.4" scripts/conformance.sh
#
# Environment: CONFORMANCE_TRIES (default 20: every trace gets that many tries, all made and
# tallied), DIRECTUS_PORT (default 18055), DIRECTUS_CACHE (see scripts/directus.sh).
# Results: a Markdown table on stdout and in .cache/conformance/results.md; one log per replay
# in .cache/conformance/. Exit 0 when every verdict is as expected, 1 otherwise, 2 when a
# server could not be installed or started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TRIES="${CONFORMANCE_TRIES:-20}"
PORT="${DIRECTUS_PORT:-18055}"
export DIRECTUS_PORT="$PORT"
EMAIL="${DIRECTUS_EMAIL:-admin@example.com}"
PASSWORD="${DIRECTUS_PASSWORD:-refresh-check-admin}"
OUT="$ROOT/.cache/conformance"
mkdir -p "$OUT"

# version | trace | expected verdict | tick seconds | why
TABLE=(
  "10.10.4|traces/directus-10.10-session.no_spurious_logout.json|reproduced|1|PR 22433 scenario 1: the late reader is answered 401 and its tab is logged out"
  "10.10.4|traces/directus-10.10-session.cookie_names_live_session.json|reproduced|1|PR 22433 scenario 2: both refreshes succeed with different tokens; one cookie is an orphan"
  # The 10.10 model does not describe 10.11.1+: with the grace window both tabs get the same new
  # session, which the rotating model forbids. Expected to diverge in every try (and the tally
  # shows that no try logs a tab out).
  "10.11.1|traces/directus-10.10-session.no_spurious_logout.json|diverged|1|the fix: concurrent refreshes both get the same new session, no 401"
  "10.11.1|traces/directus-10.10-session.cookie_names_live_session.json|diverged|1|the fix: no orphan, both cookies name the same session"
)

VERSIONS="${CONFORMANCE_VERSIONS:-$(printf '%s\n' "${TABLE[@]}" | cut -d'|' -f1 | awk '!seen[$0]++' | tr '\n' ' ')}"

cargo build --quiet
BIN="$ROOT/target/debug/refresh-check"

verdict_of() {
  case "$1" in
    0) echo reproduced ;;
    1) echo diverged ;;
    3) echo not-reproduced ;;
    *) echo "error($1)" ;;
  esac
}

RUNNING=""
cleanup() { if [ -n "$RUNNING" ]; then scripts/directus.sh stop "$RUNNING" || true; fi; }
trap cleanup EXIT

RESULTS="$OUT/results.md"
{
  echo "| Directus | trace | expected | verdict | tries: outcome |"
  echo "|---|---|---|---|---|"
} > "$RESULTS"
failed=0
for v in $VERSIONS; do
  scripts/directus.sh install "$v" || { echo "conformance: cannot install directus $v" >&2; exit 2; }
  scripts/directus.sh start "$v" || { echo "conformance: cannot start directus $v" >&2; exit 2; }
  RUNNING="$v"
  for row in "${TABLE[@]}"; do
    IFS='|' read -r rv trace expect tick why <<< "$row"
    [ "$rv" = "$v" ] || continue
    log="$OUT/$v.$(basename "$trace" .json).log"
    set +e
    "$BIN" replay "$trace" --target "http://127.0.0.1:$PORT" --email "$EMAIL" --password "$PASSWORD" \
      --tries "$TRIES" --all-tries --tick-seconds "$tick" > "$log" 2>&1
    code=$?
    set -e
    got="$(verdict_of "$code")"
    tally="$(sed -n '/^[0-9]* tr[yi]e\{0,1\}s\{0,1\}:$/,/^$/p' "$log" | grep '×' | sed 's/^ *//' | paste -sd';' | sed 's/;/; /g')"
    mark="ok"
    if [ "$got" != "$expect" ]; then mark="DIFFERS"; failed=$((failed + 1)); fi
    echo "directus $v  $(basename "$trace")  expected $expect  got $got  $mark  ($log)"
    echo "| $v | \`$(basename "$trace")\` | $expect | $got ($mark) | $tally |" >> "$RESULTS"
  done
  scripts/directus.sh stop "$v"
  RUNNING=""
done
echo
cat "$RESULTS"
if [ "$failed" -gt 0 ]; then
  echo "conformance: $failed verdict(s) differ from the expectation" >&2
  exit 1
fi
echo "conformance: every verdict as expected"
