#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each (default
# 10s). A failure prints the fuzzer's output and the input it saved.
#
# Minimizing a new input is capped at FUZZMINIMIZETIME (default 5s): the
# fuzzing worker treats one call that runs longer than 10 s as hung and
# exits, which go test reports as "fuzzing process hung or terminated
# unexpectedly while minimizing" although the input passes
# (golang/go#56238, golang/go#52569).
#
# When -fuzztime runs out while the coordinator is minimizing a new
# interesting input, go test fails with "context deadline exceeded" and
# writes no failing input: the fuzzer's own deadline, not a finding. Such
# a run is repeated once; a real failure always names its input.
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
minimizetime=${FUZZMINIMIZETIME:-5s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target for $fuzztime"
    ok=1
    for attempt in 1 2; do
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" "$pkg" >"$out" 2>&1; then
        ok=1
        break
      fi
      ok=0
      if [[ $attempt == 1 ]] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
        echo "fuzz: $target: the fuzzer's deadline passed while it minimized an input (no failing input); once more" >&2
        continue
      fi
      break
    done
    if [[ $ok == 0 ]]; then
      cat "$out" >&2
      echo "fuzz: $pkg $target failed; a saved input is re-run with: go test -run '$target/<name>' $pkg" >&2
      exit 1
    fi
  done
done
