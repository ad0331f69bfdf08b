#!/usr/bin/env bash
# Runs every fuzz target of the repository, one after another, for a given
# time each, and prints how many inputs each one tried.
#
#   scripts/fuzz.sh [duration] [packages...]
#
# duration is what go test -fuzztime takes (30s, 2m, or 10000x for a count
# of inputs); 30s by default. packages default to ./... . FUZZ_PARALLEL
# sets the number of fuzzing workers (go test -parallel; GOMAXPROCS by
# default), for machines shared with other work.
#
# go test fuzzes one target per run, so each target gets a run of its own;
# targets are found with go test -list, so a new Fuzz function is picked up
# without touching this script. Inputs that make a target fail are written
# by go test to the package's testdata/fuzz/<target>/, where they become
# seeds that plain go test replays: fix the bug, keep the file. Exits
# non-zero if any target failed or a package could not be listed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${1:-30s}
shift || true
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
	packages=(./...)
fi
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZ_PARALLEL")
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# -short: listing runs each test binary, and a TestMain may do expensive
# set-up (internal/binarytest builds Caddy) that -short skips.
list_status=0
go test -short -list '^Fuzz' "${packages[@]}" >"$logs/list" 2>&1 || list_status=$?

# The listing prints a package's matching names, then "ok <package> <time>";
# a package that does not build prints "FAIL <package> [build failed]" or
# "[setup failed]" instead.
targets=()
broken=()
pending=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*)
		pending+=("$line")
		;;
	"ok "*)
		pkg=$(awk '{print $2}' <<<"$line")
		for name in "${pending[@]+"${pending[@]}"}"; do
			targets+=("$pkg $name")
		done
		pending=()
		;;
	"FAIL"*"failed]"*)
		broken+=("$(awk '{print $2}' <<<"$line")")
		pending=()
		;;
	esac
done <"$logs/list"

if [ "$list_status" -ne 0 ] && [ ${#broken[@]} -eq 0 ]; then
	cat "$logs/list" >&2
	echo "fuzz.sh: go test -list failed" >&2
	exit 1
fi
if [ ${#targets[@]} -eq 0 ] && [ ${#broken[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found in ${packages[*]}" >&2
	exit 1
fi

echo "fuzz.sh: ${#targets[@]} targets, $duration each"
results=()
failed=0
i=0
for t in "${targets[@]+"${targets[@]}"}"; do
	i=$((i + 1))
	pkg=${t% *}
	name=${t#* }
	log="$logs/$i.log"
	echo
	echo "== $pkg $name"
	status=0
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" "${parallel[@]+"${parallel[@]}"}" "$pkg" >"$log" 2>&1 || status=$?
	# The last progress line has the total.
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | awk '{print $2}' || true)
	execs=${execs:--}
	if [ "$status" -eq 0 ]; then
		result=ok
		echo "$name: $execs executions, ok"
	else
		result=FAIL
		failed=$((failed + 1))
		echo "$name: $execs executions, FAILED:"
		tail -n 40 "$log"
	fi
	results+=("$pkg.$name|$execs|$result")
done
for pkg in "${broken[@]+"${broken[@]}"}"; do
	failed=$((failed + 1))
	results+=("$pkg (does not build)|-|FAIL")
done

echo
{
	echo "target|execs|result"
	printf '%s\n' "${results[@]}"
} | awk -F'|' '
	{ name[NR] = $1; execs[NR] = $2; result[NR] = $3; if (length($1) > w) w = length($1) }
	END { for (i = 1; i <= NR; i++) printf "%-*s  %12s  %s\n", w, name[i], execs[i], result[i] }'

if [ "$failed" -ne 0 ]; then
	if [ ${#broken[@]} -ne 0 ]; then
		echo
		echo "packages that could not be listed:"
		grep -v '^Fuzz' "$logs/list" | grep -v '^ok ' | head -n 40 || true
	fi
	echo "fuzz.sh: $failed failed" >&2
	exit 1
fi
