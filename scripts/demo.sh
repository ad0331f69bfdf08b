#!/usr/bin/env bash
# Starts the xepauth demo: a throwaway Prosody with the account
# alice@localhost, a small application, and Caddy with the xmpp_auth gate in
# front of it, all on 127.0.0.1. This terminal plays alice's XMPP client.
#
# On a fresh Debian or Ubuntu machine with Go, this is all there is to do:
# the one thing the demo needs from the system, Prosody, is installed first.
#
# Usage: ./scripts/demo.sh [-listen 127.0.0.1:8080] [-auto approve|deny]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "demo: Go is not installed (or not on PATH); see https://go.dev/doc/install" >&2
	exit 1
fi

bash scripts/install-packages.sh prosody

echo "demo: building and starting (the first build takes a minute or two)…" >&2
exec go run ./internal/cmd/demo "$@"
