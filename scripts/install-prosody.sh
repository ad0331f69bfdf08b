#!/usr/bin/env bash
# Installs Prosody (Debian package prosody) when prosody or prosodyctl is
# missing: the one thing from the system that the demo and the tests need.
# Uses sudo when not root. Prints why and exits 1 when it cannot.
set -euo pipefail

if command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "Prosody is not installed and apt-get was not found: install Prosody 0.12 or later with your system's package manager, so that prosody and prosodyctl are on PATH, then run this again." >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "Prosody is not installed, and installing it needs root: this user is not root and sudo is missing." >&2
	echo "As root, run: apt-get update && apt-get install -y prosody" >&2
	exit 1
fi
echo "Installing Prosody, the XMPP server the demo and the tests run (Debian package prosody)…" >&2
${sudo[@]+"${sudo[@]}"} apt-get update
${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y prosody
command -v prosody >/dev/null 2>&1 || { echo "prosody is still not on PATH after installing it" >&2; exit 1; }
# Where systemd runs, the package also starts a system-wide Prosody. Neither
# the demo nor the tests use it: they run their own, on loopback, in a
# temporary folder.
echo "Prosody is installed. If the package started the system service, which is not needed here, stop it with: ${sudo[*]:+${sudo[*]} }systemctl disable --now prosody" >&2
