#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are missing:
# what the demo and the tests need from the system (prosody, chromium).
#
#   bash scripts/install-packages.sh prosody chromium
#
# A package counts as there when dpkg has it installed, or when a command of
# its name is on PATH (installed some other way). The missing ones are
# installed with apt-get (after apt-get update), through sudo when not root.
# Prints why and exits 1 when it cannot.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 <Debian package>... (for example: $0 prosody chromium)" >&2
	exit 2
fi

have() {
	local status
	if command -v dpkg-query >/dev/null 2>&1; then
		status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
		if [ "$status" = "install ok installed" ]; then
			return 0
		fi
	fi
	command -v "$1" >/dev/null 2>&1
}

missing=()
for pkg in "$@"; do
	if ! [[ "$pkg" =~ ^[a-z0-9][a-z0-9+.-]+$ ]]; then
		echo "install-packages: \"$pkg\" is not a Debian package name" >&2
		exit 2
	fi
	if ! have "$pkg"; then
		missing+=("$pkg")
	fi
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-packages: missing ${missing[*]}, and apt-get was not found: install them with your system's package manager, so that their commands (${missing[*]}) are on PATH, then run this again." >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "install-packages: missing ${missing[*]}; installing needs root, and this user is not root and sudo is missing." >&2
	echo "As root, run: apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "Installing ${missing[*]} (Debian packages), needed by the demo and the tests…" >&2
if ! ${sudo[@]+"${sudo[@]}"} apt-get update; then
	echo "install-packages: apt-get update failed (see above); check the network and /etc/apt/sources.list, then run this again." >&2
	exit 1
fi
if ! ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; then
	echo "install-packages: apt-get install ${missing[*]} failed (see above)." >&2
	exit 1
fi
for pkg in "${missing[@]}"; do
	if ! have "$pkg"; then
		echo "install-packages: $pkg is still missing after apt-get install" >&2
		exit 1
	fi
done

for pkg in "${missing[@]}"; do
	if [ "$pkg" = prosody ]; then
		# Where systemd runs, the package also starts a system-wide Prosody.
		# Neither the demo nor the tests use it: they run their own, on
		# loopback, in a temporary folder.
		echo "Prosody is installed. If the package started the system service, which is not needed here, stop it with: ${sudo[*]:+${sudo[*]} }systemctl disable --now prosody" >&2
	fi
done
