#!/usr/bin/env bash
# Runs every test of the repository, as CI does: formatting, go vet, the
# Caddy binary built by xcaddy from xcaddy.json (this checkout), and all
# tests with the race detector against a real Prosody and that binary.
#
#   bash scripts/test.sh
#
# It installs Prosody (Debian package prosody) when it is missing. Nothing
# is skipped: the end-to-end tests skip only under go test -short, which
# this script never passes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step_start=0
step() {
	if [ "$step_start" -ne 0 ]; then
		echo "    ($(( SECONDS - step_start ))s)"
	fi
	step_start=$SECONDS
	echo
	echo "==> $*"
}

step "Prosody"
if command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1; then
	echo "found $(command -v prosody)"
else
	if [ "$(id -u)" -eq 0 ]; then
		sudo=()
	elif command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "error: prosody is not installed, and installing it needs root or sudo." >&2
		echo "Install the Debian package yourself (apt-get install -y prosody) and run this again." >&2
		exit 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "error: prosody is not installed and there is no apt-get to install it with." >&2
		echo "Install Prosody 0.12 or later with your system's package manager so that prosody and prosodyctl are on PATH." >&2
		exit 1
	fi
	echo "installing the Debian package prosody"
	${sudo[@]+"${sudo[@]}"} apt-get update
	${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y prosody
	command -v prosody >/dev/null 2>&1 || { echo "error: prosody is still not on PATH after installing it" >&2; exit 1; }
fi

step "gofmt"
# Every Go file git knows of or would add (tracked, or new and not ignored).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -d '' gofiles < <(git ls-files -z --cached --others --exclude-standard -- '*.go')
else
	mapfile -d '' gofiles < <(find . -name '*.go' -not -path './bin/*' -print0)
fi
unformatted=""
if [ "${#gofiles[@]}" -gt 0 ]; then
	unformatted=$(gofmt -l "${gofiles[@]}")
fi
if [ -n "$unformatted" ]; then
	echo "error: these files are not gofmt-formatted (run gofmt -w on them):" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "${#gofiles[@]} files formatted"

step "go vet ./..."
go vet ./...

step "build bin/caddy with xcaddy from xcaddy.json"
go run ./internal/cmd/build -o bin/caddy

step "go test -race ./... (with bin/caddy)"
XEPAUTH_CADDY="$PWD/bin/caddy" go test -race -count=1 -timeout 30m ./...

step "done"
echo "all checks passed"
