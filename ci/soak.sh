#!/usr/bin/env bash
# Soak: `cargo nextest run --workspace` N times in a row while a CPU-heavy job keeps the machine
# busy, to show verdicts do not depend on machine load (issue 15). Prints how many consecutive
# runs were clean and stops at the first failure (its output is kept).
#
#   ci/soak.sh [N]            N runs (default 20)
#   SOAK_LOAD=build ci/soak.sh 5
#
# SOAK_LOAD: `spin` (default: one busy loop per core), `build` (a release build of the
# workspace into a scratch target dir, over and over) or `external` (the load is already there,
# e.g. other builds on a shared machine; the load average is printed with each run). Extra arguments after N go to nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
shift || true
load="${SOAK_LOAD:-spin}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/harness-soak.XXXXXX")"
pids=()

stop_load() {
  for pid in "${pids[@]}"; do
    kill "${pid}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "${scratch}"
}
trap stop_load EXIT

# Build the test binaries first, unloaded: the soak measures test runs, not compile time.
cargo nextest run --workspace --no-run >/dev/null

case "${load}" in
  spin)
    for _ in $(seq "$(nproc)"); do
      bash -c 'while :; do :; done' &
      pids+=("$!")
    done
    ;;
  build)
    bash -c "while :; do rm -rf '${scratch}/target'; cargo build --workspace --release --quiet --target-dir '${scratch}/target' >/dev/null 2>&1 || true; done" &
    pids+=("$!")
    ;;
  external) ;;
  *)
    echo "SOAK_LOAD must be spin, build or external, not '${load}'" >&2
    exit 2
    ;;
esac
echo "soak: ${runs} runs of cargo nextest run --workspace under load '${load}' ($(nproc) cores)"

clean=0
for i in $(seq "${runs}"); do
  started=$(date +%s)
  if cargo nextest run --workspace --no-fail-fast "$@" >"${scratch}/run-${i}.log" 2>&1; then
    clean=$((clean + 1))
    echo "soak: run ${i}: clean ($(( $(date +%s) - started )) s; load average $(cut -d' ' -f1-3 /proc/loadavg))"
  else
    cp "${scratch}/run-${i}.log" "soak-failed-run-${i}.log"
    echo "soak: run ${i}: FAILED ($(( $(date +%s) - started )) s); output in soak-failed-run-${i}.log"
    grep -E '^\s+(FAIL|TIMEOUT)' "soak-failed-run-${i}.log" || true
    echo "soak: ${clean} consecutive clean runs of ${runs} under load '${load}'"
    exit 1
  fi
done
echo "soak: ${clean} consecutive clean runs of ${runs} under load '${load}'"
