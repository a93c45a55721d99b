#!/usr/bin/env bash
# Runs a command with a temporary directory of its own, then fails if the
# command left anything in it: the tests must clean up after themselves
# (harness directories, node tokens, state databases, browser profiles).
# Without TMPDIR it is made on /dev/shm when that is a tmpfs with room:
# SoftHSM2 rewrites its object files on every change, and on a RAM-backed
# file system HSM nodes start and work several times faster than on a
# journaled disk.
set -uo pipefail
base="${TMPDIR:-}"
if [[ -z "$base" ]]; then
  base=/tmp
  if [[ -w /dev/shm && $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]] &&
    (($(df -Pk /dev/shm | awk 'NR==2 {print $4}') >= 4 * 1024 * 1024)); then
    base=/dev/shm
  fi
fi
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
