#!/usr/bin/env bash
# Builds the hsmnode container image without a registry: a root file system
# holding the hsmnode binary, SoftHSM2's PKCS#11 library and the shared
# libraries both need (taken from this machine's Debian packages), imported
# with `docker import`. Usage: scripts/build-image.sh [IMAGE]
set -euo pipefail
image=${1:-kmsharness/hsmnode:dev}
cd "$(dirname "$0")/.."

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/data" "$root/tmp"
chmod 1777 "$root/tmp"
# make test has just built hsmnode into KMSHARNESS_TEST_BIN: take that one.
if [[ -x "${KMSHARNESS_TEST_BIN:-}/hsmnode" ]]; then
  cp "$KMSHARNESS_TEST_BIN/hsmnode" "$root/usr/local/bin/hsmnode"
else
  CGO_ENABLED=1 go build -o "$root/usr/local/bin/hsmnode" ./cmd/hsmnode
fi

# copy_with_deps copies a file (following links, keeping its path) and the
# shared libraries ldd lists for it.
copy_with_deps() {
  local file=$1
  mkdir -p "$root$(dirname "$file")"
  cp -L "$file" "$root$file"
  ldd "$file" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
softhsm=/usr/lib/softhsm/libsofthsm2.so
[ -e "$softhsm" ] || { echo "build-image: $softhsm missing: install softhsm2 (make deps)" >&2; exit 1; }
copy_with_deps "$softhsm"
# hsmnode's own dependencies (its path inside root is not a host path).
ldd "$root/usr/local/bin/hsmnode" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
done

# The image is labelled with a digest of its files: when the image already
# holds these very files (the usual case in a test run, whose suites each
# make sure the image is current), it is kept instead of imported again.
content=$(cd "$root" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
if [[ -n "$previous" && $(docker image inspect --format '{{index .Config.Labels "org.kmsharness.content"}}' "$image") == "$content" ]]; then
  echo "$image"
  exit 0
fi
tar -C "$root" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/hsmnode"]' \
  --change 'CMD ["--data-dir", "/data", "--listen", "0.0.0.0:2225"]' \
  --change 'EXPOSE 2225' \
  --change 'LABEL org.kmsharness.component=hsmnode' \
  --change "LABEL org.kmsharness.content=$content" \
  - "$image" >/dev/null
# The tag moved to the new image: remove the one it left, unless something
# still uses it (a running container, another tag).
current=$(docker image inspect --format '{{.Id}}' "$image")
if [[ -n "$previous" && "$previous" != "$current" ]]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
echo "$image"
