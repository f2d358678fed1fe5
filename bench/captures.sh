#!/usr/bin/env bash
# Capture benchmark: a generated pcap that replays the real seed flows (../shared/bench/seeds; by flow
# count 60% DNS, 37% TLS, 1.5% HTTP, 1.5% QUIC, many flows interleaved), our scan on one core and on two
# (--jobs parallelises across files: the capture split in two with editcap) against ndpiReader, tshark
# extracting SNIs and the libpcap read floor (tcpdump), in one run. Page cache warm (one untimed read
# first); the best wall time of RUNS runs is reported, with the largest peak RSS (`/usr/bin/time -v`).
# Last, memory per live flow: peak RSS with 250,000 and with 1,000,000 TLS flows held open at once.
# Usage: bench/captures.sh [SIZE_BYTES] [FLOWS]   (data goes to bench-data/, never committed)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1000000000}
FLOWS=${2:-1000000}
RUNS=${RUNS:-3}
DATA=bench-data
BIN=.build/release/shadowscope
mkdir -p "$DATA"
CAP=$DATA/capture-$SIZE-$FLOWS.pcap
[ -s "$CAP" ] || .build/release/shadowscope-bench gen-pcap --bytes "$SIZE" --flows "$FLOWS" --output "$CAP" > "$CAP.txt"
packets=$(capinfos -M -c "$CAP" | awk '/Number of packets/ { print $NF }')
HALF=${CAP%.pcap}-half
ls "$HALF"_*.pcap > /dev/null 2>&1 || editcap -c $(( (packets + 1) / 2 )) "$CAP" "$HALF.pcap"
halves=("$HALF"_*.pcap)
bytes=$(stat -c %s "$CAP")
cat "$CAP" "${halves[@]}" > /dev/null
TIMING=$(mktemp)
trap 'rm -f "$TIMING"' EXIT

best() {  # "seconds peak_rss_kB": best wall time and largest peak RSS of RUNS runs of "$@"
  local b=999999 m=0
  for _ in $(seq "$RUNS"); do
    local s e r
    s=$(date +%s.%N); /usr/bin/time -v -o "$TIMING" "$@" > /dev/null 2>&1; e=$(date +%s.%N)
    r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TIMING")
    b=$(echo "$e - $s" | bc -l | awk -v b="$b" '{ print ($1 < b) ? $1 : b }')
    m=$(( r > m ? r : m ))
  done
  echo "$b $m"
}
ours=
row() {  # name "seconds rss_kB"; the first row is ours on one core; "x ours": speed relative to it
  set -- "$1" $2
  [ -n "$ours" ] || ours=$2
  awk -v n="$1" -v s="$2" -v r="$3" -v o="$ours" -v B="$bytes" -v P="$packets" \
    'BEGIN { printf "%-44s %7.2f s %8.1f MB/s %6.2f M packets/s %7.0f MB peak RSS %6.2fx ours\n", n, s, B / s / 1e6, P / s / 1e6, r / 1024, o / s }'
}
echo "input: $CAP, $bytes bytes, $packets packets; $(tail -1 "$CAP.txt" | sed 's/^gen-pcap: [^:]*: [^,]*, [^,]*, //')"
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); best of $RUNS, page cache warm"
row "shadowscope scan --jobs 1"                   "$(best $BIN scan --jobs 1 --summary /dev/null "$CAP")"
row "shadowscope scan --jobs 2 (2 halves)"        "$(best $BIN scan --jobs 2 --summary /dev/null "${halves[@]}")"
row "ndpiReader -q -i (nDPI)"                     "$(best ndpiReader -q -i "$CAP")"
row "tshark: SNIs of ClientHellos"                "$(best tshark -r "$CAP" -Y 'tls.handshake.type==1' -T fields -e tls.handshake.extensions_server_name)"
# `-w -`, not `-w /dev/null`: run as root, tcpdump hands the file it writes to its own user, and
# /dev/null owned by tcpdump with mode 0600 broke apt (its _apt sandbox could no longer write there).
row "tcpdump -r -w - (libpcap floor)"             "$(best tcpdump -r "$CAP" -w -)"
$BIN scan --jobs 1 --summary "$CAP.summary.json" "$CAP" > /dev/null
echo "check: generated $(tail -1 "$CAP.txt" | sed "s/^gen-pcap: [^:]*: [^,]*, [^,]*, //;s/;.*//"); our scan: $(grep -o '"observations": [0-9]*' "$CAP.summary.json" | tr -d '"'), caps hit $(tr -d ' \n' < "$CAP.summary.json" | grep -o '"caps_hit":{[^}]*}' | sed 's/"caps_hit"://')"

# Memory per live flow: two captures of TLS connections that all stay open (SYN, a real ClientHello,
# the server's first packet; no FIN, all within 2 s, so none idles out), 250,000 and 1,000,000 of them,
# scanned with a catalog that names none of their hosts, so the summary stays empty and only the flow
# table grows: the difference in peak RSS over the difference in flows.
NOCAT=$(mktemp -d)
trap 'rm -f "$TIMING"; rm -rf "$NOCAT"' EXIT
cat > "$NOCAT/none.yaml" <<'YAML'
vendor: None
vendor_id: none
website: https://none.example
services:
  - id: none-chat
    name: None Chat
    tier: consumer
    category: chat-assistant
    source: https://none.example/
    hosts:
      - pattern: chat.none.example
        source: https://none.example/
YAML
rss=()
for n in 250000 1000000; do
  OPEN=$DATA/open-tls-$n.pcap
  [ -s "$OPEN" ] || .build/release/shadowscope-bench gen-pcap --bytes 1 --flows $n --rate 2000000 --only tls --flow-bytes 1 --output "$OPEN" > "$OPEN.txt"
  cat "$OPEN" > /dev/null
  /usr/bin/time -v -o "$TIMING" $BIN scan --jobs 1 --signatures "$NOCAT" --summary /dev/null "$OPEN" > /dev/null 2>&1
  rss+=("$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TIMING")")
done
awk -v a="${rss[0]}" -v b="${rss[1]}" 'BEGIN { printf "memory per live flow: peak RSS %.0f MB with 250,000 open TLS flows, %.0f MB with 1,000,000: %.0f bytes per flow\n", a / 1024, b / 1024, (b - a) * 1024 / 750000 }'
