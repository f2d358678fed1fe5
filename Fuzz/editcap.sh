#!/usr/bin/env bash
# Random byte errors over every fixture capture: `editcap -E 0.02 --seed N` (Wireshark's editcap, Debian
# wireshark-common), then `shadowscope scan` under a memory and time limit. Counts crashes (death by a
# signal, or the time limit) and exits non-zero when there is one; keeps each crashing input.
#
#   Fuzz/editcap.sh [RUNS_PER_CAPTURE (default 1000)] [BINARY (default .build/release/shadowscope)]
#
# Limits: 4 GiB of address space (ulimit -v), 20 s per scan. Exit 0 or 3 is success (3: the damaged
# capture could not be read at all, named on stderr).
set -u
cd "$(dirname "$0")/.."
RUNS=${1:-1000}
BIN=${2:-.build/release/shadowscope}
[ -x "$BIN" ] || { echo "no $BIN: run make release" >&2; exit 2; }
command -v editcap >/dev/null || { echo "editcap missing: apt-get install wireshark-common" >&2; exit 2; }
WORK=$(mktemp -d)
KEEP=Fuzz/artifacts/editcap
trap 'rm -rf "$WORK"' EXIT
runs=0 crashes=0 timeouts=0 exit0=0 exit3=0 other=0
start=$(date +%s)
for capture in fixtures/*.pcap fixtures/*.pcapng; do
  for seed in $(seq 1 "$RUNS"); do
    damaged="$WORK/damaged.${capture##*.}"
    editcap -E 0.02 --seed "$seed" "$capture" "$damaged" 2>/dev/null || continue
    ( ulimit -v 4194304; SWIFT_BACKTRACE=enable=no timeout -s KILL 20 "$BIN" scan --jobs 1 --summary /dev/null "$damaged" >/dev/null 2>"$WORK/stderr" )
    rc=$?
    runs=$((runs + 1))
    case $rc in
      0) exit0=$((exit0 + 1)) ;;
      3) exit3=$((exit3 + 1)) ;;
      137) timeouts=$((timeouts + 1)); crashes=$((crashes + 1)) ;;
      *) if [ $rc -gt 128 ]; then crashes=$((crashes + 1)); else other=$((other + 1)); fi ;;
    esac
    if [ $rc -gt 128 ] || { [ $rc != 0 ] && [ $rc != 3 ]; }; then
      mkdir -p "$KEEP"
      cp "$damaged" "$KEEP/$(basename "$capture").seed$seed"
      echo "$capture seed $seed: exit $rc: $(tail -c 300 "$WORK/stderr")" >&2
    fi
  done
done
elapsed=$(( $(date +%s) - start ))
echo "editcap -E 0.02: $runs runs over $(ls fixtures/*.pcap fixtures/*.pcapng | wc -l) captures in ${elapsed}s: exit 0: $exit0, exit 3: $exit3, other exit: $other, crashes (signal): $crashes (of which time limit: $timeouts)"
[ $crashes = 0 ] && [ $other = 0 ]
