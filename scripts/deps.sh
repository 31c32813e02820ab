#!/usr/bin/env bash
# scripts/deps.sh - install the Debian 12 packages Sluice builds, runs and tests with.
# Installs only what is missing (apt-get update runs only then). Run as root.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries
  libzmq3-dev libmsgpack-dev libyaml-dev libevent-dev libssl-dev libsqlite3-dev libunbound-dev
  libmicrohttpd-dev
  libgmime-3.0-dev libclamav-dev libyara-dev libarchive-dev libmagic-dev
  libspf2-dev libopendkim-dev libopendmarc-dev libpsl-dev publicsuffix libpcre2-dev libidn2-dev
  # peers and reference engines for tests and benchmarks
  yara clamav clamav-daemon zip postfix python3-aiosmtpd
  # tests: unit, end-to-end (Debian's python3 with zmq and msgpack), SMTP peers
  libcmocka-dev python3 python3-zmq python3-msgpack python3-dnslib python3-dkim python3-nacl python3-yaml
  dns-root-data swaks openssl
  # swaks's STARTTLS (a Recommends of swaks, so --no-install-recommends leaves it out)
  libnet-ssleay-perl libio-socket-ssl-perl
  procps iproute2
)
# one package a line; '#' comments: deps.extra (added by components as they
# need more), and with --bench also deps.bench (peers the benchmarks compare with)
EXTRA_FILES=("$(dirname "$0")/deps.extra")
[ "${1:-}" = "--bench" ] && EXTRA_FILES+=("$(dirname "$0")/deps.bench")
for f in "${EXTRA_FILES[@]}"; do
  [ -f "$f" ] || continue
  while read -r p; do p=${p%%#*}; p=${p//[[:space:]]/}; [ -n "$p" ] && PKGS+=("$p"); done < "$f"
done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "deps: run as root (apt-get)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
