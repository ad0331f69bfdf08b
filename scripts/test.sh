#!/usr/bin/env bash
# Runs every test of the repository, as CI does: formatting, go vet,
# golangci-lint, the Caddy binary built by xcaddy from xcaddy.json (this checkout), and all
# tests with the race detector against a real Prosody and that binary; then
# the end-to-end suites once more against a real ejabberd
# (XEPAUTH_XMPP_SERVER=ejabberd picks the server of internal/xmpptest).
#
#   bash scripts/test.sh
#
# It installs Prosody, ejabberd, Chromium and Node.js (Debian packages
# prosody, ejabberd, chromium, nodejs and npm: the XMPP servers of the
# end-to-end tests, the browser of the browser tests, and the runtime of
# openid-client, a relying party of the OpenID provider's tests, which npm
# installs from its lock file) when they are missing; and oauth2-proxy,
# another relying party, through the Go toolchain into bin/. Nothing is skipped: the end-to-end tests
# skip only under go test -short, which this script never passes.
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

step "Debian packages: prosody, ejabberd, chromium, nodejs, npm"
bash scripts/install-packages.sh prosody ejabberd chromium nodejs npm
echo "found $(command -v prosody), $(command -v ejabberdctl || echo /usr/sbin/ejabberdctl), $(command -v chromium || command -v chromium-browser) and node $(node --version)"

step "npm ci: openid-client, the Node.js relying party of the OpenID provider's tests"
npm ci --no-audit --no-fund --prefix internal/openid/testdata/openid-client

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

step "go vet ./..., and with the bench tag (the bench command's figures compile, though they do not run here)"
go vet ./...
go vet -tags bench ./...

step "golangci-lint (.golangci.yml: staticcheck, errcheck, revive, …), installed through the Go toolchain"
go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run --build-tags bench ./...

step "build bin/caddy with xcaddy from xcaddy.json"
go run ./internal/cmd/build -o bin/caddy

step "install bin/oauth2-proxy (v7.15.6), a relying party of the OpenID provider's tests, through the Go toolchain"
GOBIN="$PWD/bin" go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6

step "go test -race ./... (with bin/caddy), end-to-end against Prosody"
XEPAUTH_CADDY="$PWD/bin/caddy" go test -race -count=1 -timeout 30m ./...

step "the end-to-end suites again, against ejabberd"
XEPAUTH_XMPP_SERVER=ejabberd XEPAUTH_CADDY="$PWD/bin/caddy" go test -race -count=1 -timeout 30m \
	./xepauth ./internal/login ./caddymodule ./internal/xmpptest ./internal/binarytest

step "done"
echo "all checks passed"
