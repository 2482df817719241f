#!/usr/bin/env bash
# Install the real Prometheus server and promtool (Debian package) for tests/metrics/.
#
# Idempotent: does nothing when both binaries are already on PATH. Runs as root with no TTY
# (CI); as another user it uses `sudo -n`. `apt-get update` only runs when apt does not know the
# package yet. The Debian package would start a system service on 0.0.0.0:9090; the tests run
# their own server on loopback, so the service is kept from starting during the install.
set -euo pipefail

say() { printf 'install-prometheus: %s\n' "$*"; }

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    say "already installed: $(prometheus --version 2>&1 | head -n1)"
    say "promtool: $(command -v promtool)"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        say "error: not root and no sudo; run as root: apt-get install prometheus" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive

has_candidate() {
    local candidate
    candidate="$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

if has_candidate; then
    say "apt already knows prometheus; skipping apt-get update"
else
    say "running apt-get update (apt does not know the prometheus package yet)"
    "${SUDO[@]}" apt-get update -q
fi
if ! has_candidate; then
    say "error: no installable 'prometheus' package in the configured apt sources" >&2
    exit 1
fi

# Keep invoke-rc.d from starting the packaged service (a listener on every interface) when
# the machine has no policy yet; Docker-built images usually ship this very file already.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    ADDED_POLICY=1
    say "added $POLICY for the install, so the packaged service does not start"
fi
cleanup() {
    if [ "$ADDED_POLICY" = 1 ]; then
        "${SUDO[@]}" rm -f "$POLICY"
        say "removed $POLICY again"
    fi
}
trap cleanup EXIT

say "installing: apt-get install -y --no-install-recommends prometheus"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends prometheus

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    say "error: the package installed but prometheus/promtool are not on PATH" >&2
    exit 1
fi
say "installed: $(prometheus --version 2>&1 | head -n1)"
say "promtool: $(command -v promtool)"
