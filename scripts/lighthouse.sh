#!/usr/bin/env bash
# Lighthouse CI against perfbeacon's own dashboard (lighthouserc.js), run by hand:
# serves the demo on a throw-away SQLite database, logs in with its read token,
# then runs `lhci collect` and `lhci assert` on the overview and a route view.
# Needs: npm i -g @lhci/cli, Debian's chromium, and `pip install -e .`.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${PORT:-8766}
workdir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$workdir"' EXIT

PERFBEACON_DATABASE_URL="sqlite+aiosqlite:///$workdir/demo.db" \
    perfbeacon serve --demo --port "$port" >"$workdir/serve.out" 2>"$workdir/serve.err" &
server=$!
for _ in $(seq 1 600); do
    grep -q "read token:" "$workdir/serve.out" 2>/dev/null && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.5
done
key=$(awk '/site key:/ {print $3}' "$workdir/serve.out")
token=$(awk '/read token:/ {print $3}' "$workdir/serve.out")
base="http://127.0.0.1:$port"

jar="$workdir/cookies"
csrf=$(curl -sf -c "$jar" "$base/dashboard/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n1)
curl -sf -b "$jar" -c "$jar" -o /dev/null --data-urlencode "token=$token" --data-urlencode "csrf_token=$csrf" "$base/dashboard/login"
session=$(awk '$6 == "perfbeacon_session" {print $7}' "$jar")

export PERFBEACON_URL="$base" PERFBEACON_SITE_KEY="$key" PERFBEACON_SESSION_COOKIE="perfbeacon_session=$session"
rm -rf .lighthouseci
lhci collect
lhci assert
lhci upload
