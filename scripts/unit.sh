#!/usr/bin/env bash
# Runs every Go test with the race detector, prints one line per package,
# the output of whatever failed, and a closing count of tests (subtests
# included): "go test: N passed, M failed".
set -uo pipefail
mkdir -p build
out=build/test-output.txt
go test -race -count=1 -timeout 9m -v ./... >"$out" 2>&1
status=$?
grep -E '^(ok|FAIL|\?) ' "$out" | grep -v 'no test files'
if [ "$status" -ne 0 ]; then
  echo
  echo "Failures (full output in $out):"
  grep -E '^\s*--- FAIL|_test\.go:[0-9]+: |^panic:|^FAIL|build failed|\.go:[0-9]+:[0-9]+: ' "$out" | head -200
fi
passed=$(grep -cE '^\s*--- PASS' "$out")
failed=$(grep -cE '^\s*--- FAIL' "$out")
echo "go test: $passed passed, $failed failed"
exit "$status"
