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

if ! command -v prosody >/dev/null 2>&1 || ! command -v prosodyctl >/dev/null 2>&1; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "demo: Prosody is not installed and apt-get was not found: install Prosody with your system's package manager, then run this again." >&2
		exit 1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		sudo=()
	elif command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "demo: Prosody is not installed, and installing it needs root: this user is not root and sudo is missing." >&2
		echo "demo: as root, run: apt-get update && apt-get install -y prosody" >&2
		exit 1
	fi
	echo "demo: installing Prosody, the XMPP server the demo runs (Debian package prosody)…" >&2
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y prosody
	# Where systemd runs, the package also starts a system-wide Prosody
	# service. The demo does not use it: it runs its own, on loopback, with
	# a temporary folder.
	echo "demo: Prosody is installed. The demo runs its own; if the package started the system service," >&2
	echo "demo: which the demo does not need, stop it with: ${sudo[*]:+${sudo[*]} }systemctl disable --now prosody" >&2
fi

echo "demo: building and starting (the first build takes a minute or two)…" >&2
exec go run ./internal/cmd/demo "$@"
