#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan, then
# runs each for a bounded time. Exits non-zero if any target crashed, hung,
# leaked or broke one of its properties; prints one line per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 60 events_v2 config
#
# SECONDS per target (default $BATON_FUZZ_SECONDS, else 20); TARGETs default to
# every tests/fuzz/*_fuzz.cpp. Environment: BATON_FUZZ_BUILD_DIR (default
# build-fuzz), BATON_FUZZ_PARALLEL (targets run at once, default 2).
# Nothing is written into the source tree: inputs found are kept in
# <build>/fuzz-work/<target>/corpus (delete it to start over), crash inputs in
# <build>/fuzz-work/<target>/. To replay one: <build>/tests/fuzz/<target>_fuzz <file>
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-${BATON_FUZZ_SECONDS:-20}}
(($# > 0)) && shift
build=${BATON_FUZZ_BUILD_DIR:-$root/build-fuzz}
parallel=${BATON_FUZZ_PARALLEL:-2}
started=$SECONDS
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: SECONDS must be a positive integer, not '$seconds'" >&2; exit 2; }

if (($# > 0)); then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/*_fuzz.cpp; do
    name=${f##*/}
    targets+=("${name%_fuzz.cpp}")
  done
fi

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (scripts/deps.sh installs it)" >&2; exit 2; }
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  cat "$probe/err" >&2
  echo "fuzz: clang++ cannot link libFuzzer (Debian: libclang-rt-14-dev, see scripts/deps.sh)" >&2
  exit 2
fi

# -O1 without NDEBUG: asserts stay on; _GLIBCXX_ASSERTIONS checks std:: bounds too.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS"
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DBATON_FUZZ=ON -DBATON_BUILD_TESTS=OFF -DBATON_BUILD_BENCH=OFF >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 2; }
build_targets=()
for t in "${targets[@]}"; do build_targets+=("${t}_fuzz"); done
cmake --build "$build" -j2 --target "${build_targets[@]}"
built=$((SECONDS - started))

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
command -v llvm-symbolizer >/dev/null && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer)}

run_one() {
  local name=$1 work=$build/fuzz-work/$1
  mkdir -p "$work/corpus"
  rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work/log"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$work/")
  [[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
  local rc=0
  # The outer limit only guards against libFuzzer itself failing to stop.
  timeout -k 10 $((seconds * 2 + 60)) "$build/tests/fuzz/${name}_fuzz" "${args[@]}" \
    "$work/corpus" "tests/fuzz/corpus/$name" >"$work/log" 2>&1 || rc=$?
  echo "$rc" >"$work/rc"
}

# A fixed-size pool of background jobs, in target order.
running=0
for t in "${targets[@]}"; do
  [[ -x $build/tests/fuzz/${t}_fuzz ]] || { echo "fuzz: no target $t" >&2; exit 2; }
  run_one "$t" &
  running=$((running + 1))
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

passed=0
failed=0
for t in "${targets[@]}"; do
  work=$build/fuzz-work/$t
  rc=$(cat "$work/rc" 2>/dev/null || echo 99)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" 2>/dev/null | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" 2>/dev/null | tail -1 | cut -d' ' -f2 || true)
  seeds=$(find "tests/fuzz/corpus/$t" -type f 2>/dev/null | wc -l || true)
  found=$(find "$work/corpus" -type f 2>/dev/null | wc -l || true)
  if [[ $rc == 0 ]]; then
    passed=$((passed + 1))
    printf 'fuzz %-15s ok      %9s runs  cov %5s  seeds %3s  corpus %5s  (%ss)\n' \
      "$t" "${runs:-?}" "${cov:-?}" "$seeds" "$found" "$seconds"
  else
    failed=$((failed + 1))
    artifact=$(ls -t "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -1 || true)
    printf 'fuzz %-15s FAILED  exit %s  %s\n' "$t" "$rc" "${artifact:-(no input saved)}"
    # The report: a broken property, or the sanitizer's first lines and stack top.
    grep -m2 -E '==fuzz==|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY' "$work/log" |
      sed 's/^/    /' || true
    # The stack top below the sanitizer's, libFuzzer's and the property check's own frames.
    noise=' in (__sanitizer|__asan|__ubsan|__interceptor|fuzzer::|raise|abort|__pthread_kill|__libc_start|main '
    noise+='|_start|baton::fuzz::(violated|require))| \(/lib/x86_64-linux-gnu/libc\.so'
    grep -E '^ *#[0-9]+ 0x' "$work/log" | grep -v -E "$noise" | head -5 |
      sed -E 's/^ *(#[0-9]+) 0x[0-9a-f]+ in /    \1 /; s/ \(BuildId: [0-9a-f]+\)//' || true
    if [[ -n $artifact ]]; then
      printf '    input (%s bytes): ' "$(wc -c <"$artifact")"
      head -c 300 "$artifact" | cat -v | tr '\n' '|'
      printf '\n    hex: '
      head -c 120 "$artifact" | od -An -tx1 | tr -d ' \n'
      echo
      echo "    replay: $build/tests/fuzz/${t}_fuzz $artifact"
    fi
  fi
done
echo "fuzz: build ${built}s, total $((SECONDS - started))s, ${seconds}s per target, $parallel at a time"
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
