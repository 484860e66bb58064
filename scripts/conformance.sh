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

# version | what to replay | expected verdict | why
# What to replay: a trace file, or MODEL.json#PROPERTY (the shortest path that violates or
# reaches PROPERTY, found by `refresh-check replay --model --property`).
TABLE=(
  # Directus 10.10.4: before the fix.
  "10.10.4|traces/directus-10.10-session.no_spurious_logout.json|reproduced|PR 22433 scenario 1: the late reader is answered 401 and its tab is logged out"
  "10.10.4|traces/directus-10.10-session.cookie_names_live_session.json|reproduced|PR 22433 scenario 2: both refreshes succeed with different tokens; one cookie is an orphan"
  "10.10.4|models/directus-10.10-session-crossmode.json#mode_binding|reproduced|a session cookie's claim redeemed as a json refresh token"
  # Directus 10.11.1 (first fixed) and 12.4.1 (newest): the grace window of PR 22503.
  "10.11.1|models/directus-10.11.1-session.json#cookie_names_live_session|reproduced|session mode: two concurrent refreshes both get the same new session, the only outcome the 10.11.1 model allows: no 401"
  "10.11.1|models/directus-10.11.1-session.json#concurrent_refreshes|reproduced|session mode: two refreshes of one cookie in flight at once; the model allows no 401"
  "10.11.1|traces/directus-10.10-session.no_spurious_logout.json|diverged|the 10.10 model forbids what the fix does (both get the same new session): expected to diverge, and no try logs a tab out"
  "10.11.1|models/directus-10.11.1-session-crossmode.json#mode_binding|reproduced|a session cookie's claim redeemed as a json refresh token"
  # Found by this suite, since fixed in the model: a json refresh of a token inside its grace
  # window renames the row onto its next_token (`newRefreshToken = record.session_next_token ??
  # nanoid(64)`, every mode), which collides with the successor's row: 500, SQLITE_CONSTRAINT
  # UNIQUE. The tally shows how often each outcome occurred; none may diverge.
  "10.11.1|models/directus-10.11.1-session-crossmode.json#no_spurious_logout|reproduced|a session refresh and a json redemption of one token race: 401, 500 or an orphan"
  "10.11.1|models/directus-10.11.1-json.json#no_spurious_logout|reproduced|json mode keeps the race: the late reader is answered 401"
  "10.11.1|models/directus-10.11.1-json.json#cookie_names_live_session|reproduced|json mode keeps the race: both succeed, one refresh token is an orphan"
  "12.4.1|models/directus-10.11.1-session.json#cookie_names_live_session|reproduced|session mode: both get the same new session, no 401"
  "12.4.1|models/directus-10.11.1-session.json#concurrent_refreshes|reproduced|session mode: two refreshes of one cookie in flight at once; the model allows no 401"
  "12.4.1|traces/directus-10.10-session.no_spurious_logout.json|diverged|the 10.10 model forbids what the fix does: expected to diverge"
  "12.4.1|models/directus-10.11.1-session-crossmode.json#mode_binding|reproduced|a session cookie's claim redeemed as a json refresh token"
  "12.4.1|models/directus-10.11.1-session-crossmode.json#no_spurious_logout|reproduced|a session refresh and a json redemption of one token race: 401, 500 or an orphan"
  "12.4.1|models/directus-10.11.1-json.json#no_spurious_logout|reproduced|json mode keeps the race: the late reader is answered 401"
  "12.4.1|models/directus-10.11.1-json.json#cookie_names_live_session|reproduced|json mode keeps the race: both succeed, one refresh token is an orphan"
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
  echo "| Directus | replayed | expected | verdict | how the tries ended |"
  echo "|---|---|---|---|---|"
} > "$RESULTS"
failed=0
for v in $VERSIONS; do
  scripts/directus.sh install "$v" || { echo "conformance: cannot install directus $v" >&2; exit 2; }
  scripts/directus.sh start "$v" || { echo "conformance: cannot start directus $v" >&2; exit 2; }
  RUNNING="$v"
  for row in "${TABLE[@]}"; do
    IFS='|' read -r rv what expect why <<< "$row"
    [ "$rv" = "$v" ] || continue
    case "$what" in
      *'#'*) src=(--model "${what%%#*}" --property "${what##*#}"); name="$(basename "${what%%#*}" .json).${what##*#}" ;;
      *) src=("$what"); name="$(basename "$what" .json)" ;;
    esac
    log="$OUT/$v.$name.log"
    set +e
    "$BIN" replay "${src[@]}" --target "http://127.0.0.1:$PORT" --email "$EMAIL" --password "$PASSWORD" \
      --tries "$TRIES" --all-tries > "$log" 2>&1
    code=$?
    set -e
    got="$(verdict_of "$code")"
    tally="$(sed -n '/^[0-9]* tr[yi]e\{0,1\}s\{0,1\}:$/,/^$/p' "$log" | grep '×' | sed 's/^ *//' | paste -sd';' | sed 's/;/; /g')"
    mark="ok"
    if [ "$got" != "$expect" ]; then mark="DIFFERS"; failed=$((failed + 1)); fi
    echo "directus $v  $name  expected $expect  got $got  $mark  ($log)"
    echo "| $v | \`$name\` | $expect | $got ($mark) | $tally |" >> "$RESULTS"
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
