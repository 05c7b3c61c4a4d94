#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and fails if any crashes.
#
#   tests/fuzz.sh SECONDS [TARGET...]   # by hand: each target for SECONDS
#   CI=true tests/fuzz.sh               # in CI: each target for 60 s
#
# Needs the nightly toolchain (libFuzzer's sanitizer flags are nightly-only);
# installs cargo-fuzz if it is missing. New inputs go to a scratch corpus, so
# the committed seeds in fuzz/corpus/<target>/ stay as they are; a crashing
# input is kept in fuzz/artifacts/<target>/ and named in the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ge 1 ]; then
  seconds=$1
  shift
elif [ "${CI:-}" = "true" ]; then
  seconds=60
else
  echo "usage: tests/fuzz.sh SECONDS [TARGET...]  (CI=true: 60 s each)" >&2
  exit 2
fi
case $seconds in
  '' | *[!0-9]*) echo "tests/fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "tests/fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "tests/fuzz.sh: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || { echo "tests/fuzz.sh: no fuzz targets found" >&2; exit 1; }

(cd fuzz && cargo +nightly fuzz build)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if (cd fuzz && cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -dict=fuzz.dict \
        -print_final_stats=1) >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -n 2 || true
  else
    failed+=("$target")
    tail -n 40 "$log"
    echo "!! $target failed; crashing input under fuzz/artifacts/$target/" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests/fuzz.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "tests/fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no crash"
