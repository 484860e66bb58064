#!/usr/bin/env bash
# Conformance suite: replays the Directus traces against real Directus servers on 127.0.0.1
# and checks each verdict against the expectation below. For each version it installs (once,
# into .cache/directus), starts, replays, reports and stops.
#
#   scripts/conformance.sh                 every version in the table
#   CONFORMANCE_VERSIONS="10.10.4" scripts/conformance.sh
#
# Environment: CONFORMANCE_TRIES (default 20: every trace gets that many tries, all made and
# tallied, unless its row says otherwise), CONFORMANCE_TICK_SECONDS (default 2: one model tick)
# and DIRECTUS_GRACE (default 3s, the servers' SESSION_REFRESH_GRACE_PERIOD: one tick and a half,
# so that a grace of 1 tick in the model runs out between ticks 1 and 2 on the server too),
# DIRECTUS_PORT (default 18055), DIRECTUS_CACHE (see scripts/directus.sh),
# CONFORMANCE_BIN (a refresh-check binary to use instead of building one),
# CONFORMANCE_DIRECTUS (the server script, default scripts/directus.sh), CONFORMANCE_OUT (the
# results folder, default .cache/conformance).
# Every replay reads the server's SQLite file (--database, read-only) after each group and
# compares directus_sessions with the model's store, and uses each token the model says is live
# once; the table counts both.
# Results: a Markdown table on stdout and in $CONFORMANCE_OUT/results.md; one log per replay
# there. Every row is run and the table is always printed, also when a replay fails or a
# server cannot be installed or started (its rows then say so). Exit 0 when every verdict is
# as expected, 1 when one differs (a replay that fails, exit 2, differs), 2 when a server could
# not be installed or started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TRIES="${CONFORMANCE_TRIES:-20}"
PORT="${DIRECTUS_PORT:-18055}"
export DIRECTUS_PORT="$PORT"
EMAIL="${DIRECTUS_EMAIL:-admin@example.com}"
PASSWORD="${DIRECTUS_PASSWORD:-refresh-check-admin}"
OUT="${CONFORMANCE_OUT:-$ROOT/.cache/conformance}"
CACHE="${DIRECTUS_CACHE:-$ROOT/.cache/directus}"
TICK="${CONFORMANCE_TICK_SECONDS:-2}"
export DIRECTUS_GRACE="${DIRECTUS_GRACE:-3s}"
GRACE_SECONDS="${DIRECTUS_GRACE%s}"
DIRECTUS="${CONFORMANCE_DIRECTUS:-scripts/directus.sh}"
mkdir -p "$OUT"

# version | what to replay | expected verdict | why [| tries, when not CONFORMANCE_TRIES]
# What to replay: a trace file, or MODEL.json#PROPERTY (the shortest path that violates or
# reaches PROPERTY, found by `refresh-check replay --model --property`).
TABLE=(
  # Directus 10.10.4: before the fix.
  "10.10.4|traces/directus-10.10-session.no_spurious_logout.json|reproduced|PR 22433 scenario 1: the late reader is answered 401 and its tab is logged out"
  "10.10.4|traces/directus-10.10-session.cookie_names_live_session.json|reproduced|PR 22433 scenario 2: both refreshes succeed with different tokens; one cookie is an orphan"
  "10.10.4|models/directus-10.10-session-crossmode.json#mode_binding|reproduced|a session cookie's claim redeemed as a json refresh token"
  # The one-connection store (SQLite): statements run one at a time in issue order.
  "10.10.4|traces/directus-10.10-session-sqlite.no_spurious_logout.json|reproduced|one connection: the late reader is answered 401"
  "10.10.4|traces/directus-10.10-session-sqlite.cookie_names_live_session.json|reproduced|one connection: both read before either writes; one cookie is an orphan"
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
  # The clock advances while a request is in flight (ticks of 2 s, grace 3 s): a refresh that
  # reaches the server after the grace is refused.
  "10.11.1|traces/directus-10.11.1-session-slow.no_spurious_logout.json|reproduced|a slow tab's refresh arrives 2 ticks after the winner's G1, past the grace: 401|5"
  "10.11.1|traces/directus-10.11.1-session-replay.no_spurious_logout.json|reproduced|a copied cookie redeemed first; the user's own refresh after the grace: 401|5"
  # Answer ordering: tab B's GET /users/me carries the cookie of B's refresh answer and is sent
  # only once that answer has arrived; the trace needs it to reach the store between A's G1 and
  # G3, which on SQLite's one connection (A's G3 queued microseconds after G1) did not happen.
  "10.11.1|traces/directus-10.11.1-session-followup.no_spurious_logout.json|not-reproduced|B's follow-up with the successor before its row exists: the follow-up never overtook A's G3"
  # Three tabs: the third tab loads with the successor cookie B's G0 handed out, before A's G3.
  # Same window as the follow-up; on SQLite A's G3 is queued before B's next statement.
  "10.11.1|traces/directus-10.11.1-session-3tabs.no_spurious_logout.json|not-reproduced|C loads with the successor before its row exists: C's request never overtook A's G3"
  "12.4.1|models/directus-10.11.1-session.json#cookie_names_live_session|reproduced|session mode: both get the same new session, no 401"
  "12.4.1|models/directus-10.11.1-session.json#concurrent_refreshes|reproduced|session mode: two refreshes of one cookie in flight at once; the model allows no 401"
  "12.4.1|traces/directus-10.10-session.no_spurious_logout.json|diverged|the 10.10 model forbids what the fix does: expected to diverge"
  "12.4.1|models/directus-10.11.1-session-crossmode.json#mode_binding|reproduced|a session cookie's claim redeemed as a json refresh token"
  "12.4.1|models/directus-10.11.1-session-crossmode.json#no_spurious_logout|reproduced|a session refresh and a json redemption of one token race: 401, 500 or an orphan"
  "12.4.1|models/directus-10.11.1-json.json#no_spurious_logout|reproduced|json mode keeps the race: the late reader is answered 401"
  "12.4.1|models/directus-10.11.1-json.json#cookie_names_live_session|reproduced|json mode keeps the race: both succeed, one refresh token is an orphan"
  "12.4.1|traces/directus-10.11.1-session-slow.no_spurious_logout.json|reproduced|a slow tab's refresh after the grace: 401|5"
  "12.4.1|traces/directus-10.11.1-session-replay.no_spurious_logout.json|reproduced|a copied cookie redeemed first; the user's refresh after the grace: 401|5"
  "12.4.1|traces/directus-10.11.1-session-followup.no_spurious_logout.json|not-reproduced|B's follow-up with the successor before its row exists: never overtook A's G3"
)

VERSIONS="${CONFORMANCE_VERSIONS:-$(printf '%s\n' "${TABLE[@]}" | cut -d'|' -f1 | awk '!seen[$0]++' | tr '\n' ' ')}"

if [ -n "${CONFORMANCE_BIN:-}" ]; then
  BIN="$CONFORMANCE_BIN"
else
  cargo build --quiet
  BIN="$ROOT/target/debug/refresh-check"
fi

verdict_of() {
  case "$1" in
    0) echo reproduced ;;
    1) echo diverged ;;
    3) echo not-reproduced ;;
    *) echo "error($1)" ;;
  esac
}

RUNNING=""
cleanup() { if [ -n "$RUNNING" ]; then "$DIRECTUS" stop "$RUNNING" || true; fi; }
trap cleanup EXIT

RESULTS="$OUT/results.md"
{
  echo "| Directus | replayed | expected | verdict | how the tries ended | session table as the model's | live tokens accepted |"
  echo "|---|---|---|---|---|---|---|"
} > "$RESULTS"
failed=0
no_server=0
for v in $VERSIONS; do
  server=""
  if ! "$DIRECTUS" install "$v"; then
    server="cannot install directus $v"
  elif ! "$DIRECTUS" start "$v"; then
    server="cannot start directus $v"
  else
    RUNNING="$v"
  fi
  if [ -n "$server" ]; then
    echo "conformance: $server" >&2
    no_server=$((no_server + 1))
  fi
  for row in "${TABLE[@]}"; do
    IFS='|' read -r rv what expect why rtries <<< "$row"
    [ "$rv" = "$v" ] || continue
    case "$what" in
      *'#'*) src=(--model "${what%%#*}" --property "${what##*#}"); name="$(basename "${what%%#*}" .json).${what##*#}" ;;
      *) src=("$what"); name="$(basename "$what" .json)" ;;
    esac
    log="$OUT/$v.$name.log"
    if [ -n "$server" ]; then
      echo "directus $v  $name  expected $expect  not run ($server)"
      echo "| $v | \`$name\` | $expect | not run ($server) | | | |" >> "$RESULTS"
      continue
    fi
    set +e
    "$BIN" replay "${src[@]}" --target "http://127.0.0.1:$PORT" --email "$EMAIL" --password "$PASSWORD" \
      --tries "${rtries:-$TRIES}" --all-tries --tick-seconds "$TICK" --server-grace "$GRACE_SECONDS" \
      --database "$CACHE/$v/data.db" > "$log" 2>&1
    code=$?
    set -e
    got="$(verdict_of "$code")"
    # A replay that ended in an error has no tally: the last line of its log says why.
    tally="$( (sed -n '/^[0-9]* tr[yi]e\{0,1\}s\{0,1\}:$/,/^$/p' "$log" | grep '×' || true) | sed 's/^ *//' | paste -sd';' | sed 's/;/; /g')"
    if [ -z "$tally" ]; then tally="$(tail -n 1 "$log" | tr '|' '/')"; fi
    db="$(sed -n 's/^database: \([0-9]*\) observation(s) of directus_sessions, \([0-9]*\) as the model.s store$/\2 of \1/p' "$log")"
    live="$(sed -n 's/^live tokens: \([0-9]*\) used once, \([0-9]*\) accepted by the server$/\2 of \1/p' "$log")"
    mark="ok"
    if [ "$got" != "$expect" ]; then mark="DIFFERS"; failed=$((failed + 1)); fi
    echo "directus $v  $name  expected $expect  got $got  $mark  ($log)"
    echo "| $v | \`$name\` | $expect | $got ($mark) | $tally | $db | $live |" >> "$RESULTS"
  done
  if [ -n "$RUNNING" ]; then
    "$DIRECTUS" stop "$v" || true
    RUNNING=""
  fi
done
echo
cat "$RESULTS"
if [ "$no_server" -gt 0 ]; then
  echo "conformance: $no_server server(s) could not be installed or started; their rows were not run" >&2
  exit 2
fi
if [ "$failed" -gt 0 ]; then
  echo "conformance: $failed verdict(s) differ from the expectation" >&2
  exit 1
fi
echo "conformance: every verdict as expected"
