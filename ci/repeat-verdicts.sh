#!/usr/bin/env bash
# Runs the scenario and mutation suites N times (default 20) on the embedded platform and checks
# that every run gives exactly the same verdict for every test. Prints the run times.
# Usage: ci/repeat-verdicts.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# nextest keeps its store (JUnit) under the workspace target/ folder.
target=target
cargo nextest run -p suites --no-run
for i in $(seq 1 "$n"); do
  start=$(date +%s.%N)
  cargo nextest run -p suites --no-fail-fast >"$out/log.$i" 2>&1 || true
  end=$(date +%s.%N)
  python3 - "$target/nextest/default/junit.xml" "$out/verdicts.$i" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
rows = []
for c in root.iter("testcase"):
    state = "fail" if c.find("failure") is not None or c.find("error") is not None else ("skip" if c.find("skipped") is not None else "pass")
    rows.append(f"{c.get('classname')} {c.get('name')} {state}")
open(sys.argv[2], "w").write("\n".join(sorted(rows)) + "\n")
PY
  printf 'run %2d: %5.1fs, %s tests, %s failed\n' "$i" "$(python3 -c "print($end - $start)")" \
    "$(wc -l <"$out/verdicts.$i")" "$(grep -c ' fail$' "$out/verdicts.$i" || true)"
done
status=0
for i in $(seq 2 "$n"); do
  if ! diff -u "$out/verdicts.1" "$out/verdicts.$i"; then
    echo "run $i differs from run 1"
    status=1
  fi
done
[ "$status" = 0 ] && echo "all $n runs gave the same verdicts"
exit "$status"
