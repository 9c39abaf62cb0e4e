#!/usr/bin/env bash
# Installs what baton needs to build, run and test on Debian 12 (as root).
# Packages already present are left alone. Besides apt, only npm is used: the test-only
# Agents Playground (tests/playground) and playwright-core (tests/console), each pinned
# by its package-lock.json.
set -euo pipefail
packages=(
  build-essential cmake ccache pkg-config git ca-certificates tzdata
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libcurl4-openssl-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libpq-dev      # storage/pg_store.cpp: the PostgreSQL back end (libpq)
  postgresql-15  # tests/support/pg_cluster.cpp: initdb/pg_ctl/postgres for a throwaway test cluster
  catch2 libyaml-cpp-dev libhowardhinnant-date-dev libexpected-dev
  python3-aiosmtpd openssl
  dovecot-imapd  # tests/support/dovecot.cpp: a throwaway IMAP server for the email-reply tests
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer with ASan and UBSan
  chromium       # tests/bot/console_browser_test.cpp: the web console in headless Chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Microsoft 365 Agents Playground: tests/bot/teams_playground_test.cpp -----
# node and npm from apt when missing, then the Playground at the version pinned
# in tests/playground/package-lock.json, into tests/playground/node_modules
# (gitignored) with `npm ci`: the one download from outside apt. Without them
# the end-to-end test reports itself skipped.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
playground_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/playground"
playground_pkg="node_modules/@microsoft/m365agentsplayground"
playground_want=$(cd "$playground_dir" && node -p "require('./package-lock.json').packages['$playground_pkg'].version")
playground_have=$(cd "$playground_dir" && node -p "try { require('./$playground_pkg/package.json').version } catch { '' }")
if [[ "$playground_have" != "$playground_want" ]]; then
  echo "installing: @microsoft/m365agentsplayground@$playground_want into tests/playground"
  (cd "$playground_dir" && npm ci --ignore-scripts --no-audit --no-fund)
fi
# --- end of the Agents Playground ---------------------------------------------

# --- playwright-core: tests/bot/console_browser_test.cpp ---------------------
# Drives Debian's chromium (above; no browser download) for the web console's
# browser test, at the version pinned in tests/console/package-lock.json.
console_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/console"
console_want=$(cd "$console_dir" && node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
console_have=$(cd "$console_dir" && node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")
if [[ "$console_have" != "$console_want" ]]; then
  echo "installing: playwright-core@$console_want into tests/console"
  (cd "$console_dir" && npm ci --ignore-scripts --no-audit --no-fund)
fi
# --- end of playwright-core ------------------------------------------------------
