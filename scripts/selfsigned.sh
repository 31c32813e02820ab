#!/bin/sh
# scripts/selfsigned.sh - make a self-signed certificate and key for STARTTLS.
#
# Usage: scripts/selfsigned.sh DIR [HOSTNAME]
# Writes DIR/smtpd-cert.pem and DIR/smtpd-key.pem (mode 0600) unless both
# exist already. For development and tests (`make run`); a real MX wants a
# certificate from a CA that its peers can verify (DANE or WebPKI).
set -eu
dir=${1:?usage: selfsigned.sh DIR [HOSTNAME]}
host=${2:-$(hostname -f 2>/dev/null || hostname)}
cert="$dir/smtpd-cert.pem"
key="$dir/smtpd-key.pem"
if [ -s "$cert" ] && [ -s "$key" ]; then
    exit 0
fi
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=$host" -addext "subjectAltName=DNS:$host" \
    -keyout "$key" -out "$cert" 2>/dev/null
echo "selfsigned: wrote $cert and $key for $host"
