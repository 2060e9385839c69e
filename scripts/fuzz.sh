#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each (default
# 10s). A failure prints the fuzzer's output and the input it saved.
#
# Minimizing a new input is capped at FUZZMINIMIZETIME (default 5s): the
# fuzzing worker treats one call that runs longer than 10 s as hung and
# exits, which go test reports as "fuzzing process hung or terminated
# unexpectedly while minimizing" although the input passes
# (golang/go#56238, golang/go#52569).
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
minimizetime=${FUZZMINIMIZETIME:-5s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target for $fuzztime"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" "$pkg" >"$out" 2>&1; then
      cat "$out" >&2
      echo "fuzz: $pkg $target failed; a saved input is re-run with: go test -run '$target/<name>' $pkg" >&2
      exit 1
    fi
  done
done
