#!/usr/bin/env bash
# Runs a command with a temporary directory of its own, then fails if the
# command left anything in it: the tests must clean up after themselves
# (harness directories, node tokens, state databases, browser profiles).
set -uo pipefail
base="${TMPDIR:-/tmp}"
tmp=$(mktemp -d "$base/kmsharness-tests.XXXXXX")
TMPDIR="$tmp" "$@"
status=$?
left=$(find "$tmp" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
if [[ -n "$left" ]]; then
  echo "the tests left these in their temporary directory:" >&2
  printf '  %s\n' $left >&2
  status=1
fi
rm -rf "$tmp"
exit $status
