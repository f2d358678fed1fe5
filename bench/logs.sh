#!/usr/bin/env bash
# Log benchmark: a generated Squid native log (plain and gzipped), our scan against the decompressor
# alone, rg and mawk on the same file, in one run. Page cache warm (one untimed read first); the best
# of RUNS runs is reported. Usage: bench/logs.sh [SIZE_BYTES]   (data goes to bench-data/, never committed)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-2000000000}
RUNS=${RUNS:-3}
DATA=bench-data
BIN=.build/release/shadowscope
mkdir -p "$DATA"
LOG=$DATA/squid-v2-$SIZE.log  # v2: AI hosts Zipf-like, three favourites per user (v1 drew them uniformly)
[ -s "$LOG" ] || .build/release/shadowscope-bench gen-squid --bytes "$SIZE" --output "$LOG"
[ -s "$LOG.gz" ] || gzip -1 -c "$LOG" > "$LOG.gz"
bytes=$(stat -c %s "$LOG")
lines=$(wc -l < "$LOG")
cat "$LOG" "$LOG.gz" > /dev/null

best() {  # best wall time in seconds of RUNS runs of "$@"
  local b=999999
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N)
    b=$(echo "$e - $s" | bc -l | awk -v b="$b" '{ print ($1 < b) ? $1 : b }')
  done
  echo "$b"
}
row() {  # name seconds
  awk -v n="$1" -v s="$2" -v B="$bytes" -v L="$lines" 'BEGIN { printf "%-44s %8.2f s %9.1f MB/s %12.0f lines/s\n", n, s, B / s / 1e6, L / s }'
}
echo "input: $LOG, $bytes bytes, $lines lines; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
cores=$(nproc)
row "shadowscope scan --jobs 1 (plain)"   "$(best $BIN scan --jobs 1 --summary /dev/null "$LOG")"
row "shadowscope scan --jobs $cores (plain, cut)" "$(best $BIN scan --jobs "$cores" --summary /dev/null "$LOG")"
row "shadowscope scan --jobs 1 + alerts"  "$(best $BIN scan --jobs 1 --summary /dev/null --alerts /dev/null "$LOG")"
row "shadowscope scan --jobs 1 (gzip)"    "$(best $BIN scan --jobs 1 --summary /dev/null "$LOG.gz")"
row "igzip -dc (decompression alone)"     "$(best igzip -dc "$LOG.gz")"
row "zcat (decompression alone)"          "$(best zcat "$LOG.gz")"
row "rg -c CONNECT"                       "$(best rg -c CONNECT "$LOG")"
row "mawk: count hosts (field 7)"         "$(best mawk '{ split($7, a, "/"); h[a[1] == "http:" ? a[3] : $7]++ } END { print length(h) }' "$LOG")"
