#!/usr/bin/env bash
# Produce the LHR fixtures of tests/budgets with real Lighthouse and Debian's chromium:
# serves site/v1 (then site/v2, a slower build of the same page) on loopback and runs
# Lighthouse three times per URL. Run by hand after `npm ci`; the tests only read the
# trimmed output (tests/budgets/trim_lhr.py).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-/tmp/perfbeacon-lhr-fixtures}
port=${PORT:-8765}
flags="--headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage"
python3 make_site.py
mkdir -p "$out"

collect() {
    local version=$1; shift
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "site/$version" >/dev/null 2>&1 &
    local server=$!
    sleep 1
    for page in "$@"; do
        for run in 1 2 3; do
            CHROME_PATH=/usr/bin/chromium node_modules/.bin/lighthouse \
                "http://127.0.0.1:$port/$page" --quiet --output=json \
                --output-path="$out/$version-${page%.html}-$run.json" \
                --chrome-flags="$flags"
        done
    done
    kill "$server"
}

collect v1 index.html heavy.html
collect v2 index.html
ls -la "$out"
