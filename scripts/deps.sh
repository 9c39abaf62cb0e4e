#!/usr/bin/env bash
# Installs what baton needs to build, run and test on Debian 12 (as root).
# Packages already present are left alone; nothing is downloaded outside apt.
set -euo pipefail
packages=(
  build-essential cmake ccache pkg-config git ca-certificates tzdata
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libcurl4-openssl-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libpq-dev      # storage/pg_store.cpp: the PostgreSQL back end (libpq)
  postgresql-15  # tests/support/pg_cluster.cpp: initdb/pg_ctl/postgres for a throwaway test cluster
  catch2 libyaml-cpp-dev libhowardhinnant-date-dev libexpected-dev
  python3-aiosmtpd openssl
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer with ASan and UBSan
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
