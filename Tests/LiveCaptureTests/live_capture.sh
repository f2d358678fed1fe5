#!/bin/bash
# live_capture.sh - drives `shadowscope capture` on a real interface for LiveCaptureTests.
#
#   live_capture.sh traffic BINARY OUTDIR
#       Two network namespaces joined by a veth pair (offloads off, MTU 1500). In the server one,
#       fixtures/fixture_server.py serves HTTPS on 10.77.0.2:443; `shadowscope capture` and tcpdump
#       (the oracle's copy) both listen on the server's veth. From the client namespace curl and
#       openssl talk TLS to it under AI host names. Phase 1: two connections (one a 102,400-byte
#       upload), a checkpoint, then kill -9. Phase 2: the capture restarted on the same state, a
#       slow upload during which it gets SIGHUP, three more connections, then SIGTERM. Leaves in
#       OUTDIR: observations.ndjson, alerts.ndjson, state/, capture-1.err and capture.err (stderr of
#       each run), capture.status (the second run's exit status), oracle.pcap and oracle.tsv
#       (fixtures/oracle.py over tcpdump's copy: tshark's figures).
#   live_capture.sh midnight BINARY OUTDIR
#       The capture's day clock set 12 s before midnight: one connection before, one after; leaves
#       state/summaries/ with a summary per day, capture.err, capture.status.
#   live_capture.sh flood BINARY OUTDIR FLOWS
#       The same namespaces; a pcap of 1,000,000 TCP SYNs, each its own flow, is replayed with
#       tcpreplay --loop N --unique-ip (new addresses every loop) until FLOWS distinct flows have
#       crossed the veth; the capture runs with the default flow cap. Leaves capture.err (status
#       lines), capture.status, peak.rss (VmHWM of the capture, kB), tcpreplay.out.
# Root only (namespaces, capture). Installs nothing: the Makefile's test target does.
set -euo pipefail
MODE=$1 BIN=$2 OUT=$3 FLOWS=${4:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=$(cd "$HERE/../../fixtures" && pwd)
mkdir -p "$OUT"
C=ssc$$ S=sss$$ VC=vc$$ VS=vs$$
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "$C" "$S"; do for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; done
  sleep 0.2
  ip netns del "$C" 2>/dev/null; ip netns del "$S" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$C"; ip netns add "$S"
ip link add "$VC" netns "$C" type veth peer name "$VS" netns "$S"
ip -n "$C" addr add 10.77.0.1/24 dev "$VC"; ip -n "$S" addr add 10.77.0.2/24 dev "$VS"
for ns_dev in "$C:$VC" "$S:$VS"; do
  ns=${ns_dev%%:*} dev=${ns_dev#*:}
  ip -n "$ns" link set lo up; ip -n "$ns" link set "$dev" up mtu 1500
  ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
done

# Starts the capture in the server namespace; waits until libpcap is listening.
start_capture() {
  ip netns exec "$S" "$BIN" capture -i "$VS" --state "$OUT/state" "$@" 2>"$OUT/capture.err" &
  CAP=$!
  for _ in $(seq 100); do grep -q "capturing on" "$OUT/capture.err" 2>/dev/null && break; sleep 0.1; done
  grep -q "capturing on" "$OUT/capture.err" || { echo "capture did not start:"; cat "$OUT/capture.err"; exit 1; }
}
stop_capture() {
  kill -TERM "$CAP"
  set +e; wait "$CAP"; echo $? >"$OUT/capture.status"; set -e
}

case $MODE in
traffic)
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=fixture -days 2 -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
  ip netns exec "$S" python3 "$FIX/fixture_server.py" "$OUT/cert.pem" "$OUT/key.pem" 10.77.0.2 2>"$OUT/server.log" &
  PIDS+=($!)
  # --immediate-mode: without it libpcap hands tcpdump packets a block at a time (or after a second),
  # and the SIGINT below could drop the last, unfinished block: a flow's closing packets then missing
  # from the oracle's copy though they crossed the veth (the capture under test saw them).
  ip netns exec "$S" tcpdump -i "$VS" --immediate-mode -U -s 0 -w "$OUT/oracle.pcap" 2>"$OUT/tcpdump.err" &
  TCPDUMP=$!; PIDS+=($TCPDUMP)
  for _ in $(seq 100); do grep -q "listening on" "$OUT/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
  for _ in $(seq 100); do ip netns exec "$S" ss -ltn | grep -q 10.77.0.2:443 && break; sleep 0.1; done
  CAPTURE_ARGS=(--observations "$OUT/observations.ndjson" --alerts "$OUT/alerts.ndjson"
                --policy "$FIX/policy.yaml" --status-interval 1 --checkpoint-interval 1)
  head -c 102400 /dev/zero | tr '\0' 'x' >"$OUT/upload.bin"
  CURL=(ip netns exec "$C" curl -sk --max-time 10 -o /dev/null)
  # Phase 1: two connections; they close, idle out (5 s linger) and are checkpointed; then kill -9.
  start_capture "${CAPTURE_ARGS[@]}"
  "${CURL[@]}" --resolve chatgpt.com:443:10.77.0.2 https://chatgpt.com/
  "${CURL[@]}" --resolve claude.ai:443:10.77.0.2 --data-binary @"$OUT/upload.bin" https://claude.ai/api/upload
  sleep 7.5
  kill -9 "$CAP"; wait "$CAP" 2>/dev/null || true
  mv "$OUT/capture.err" "$OUT/capture-1.err"
  # Phase 2: restarted on the same state; a slow upload spans a SIGHUP (reload); then SIGTERM.
  start_capture "${CAPTURE_ARGS[@]}"
  "${CURL[@]}" --limit-rate 60k --resolve api.anthropic.com:443:10.77.0.2 --data-binary @"$OUT/upload.bin" https://api.anthropic.com/v1/messages &
  SLOW=$!
  sleep 0.7; kill -HUP "$CAP"
  "${CURL[@]}" --resolve api.openai.com:443:10.77.0.2 https://api.openai.com/v1/models
  ip netns exec "$C" timeout 10 openssl s_client -connect 10.77.0.2:443 -servername chat.deepseek.com -no_ign_eof </dev/null >/dev/null 2>&1 || true
  "${CURL[@]}" --resolve www.example.org:443:10.77.0.2 https://www.example.org/
  wait "$SLOW"
  sleep 0.5
  stop_capture
  sleep 1; kill -INT "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true
  python3 "$FIX/oracle.py" flows "$OUT/oracle.pcap" "$OUT/oracle.tsv" chatgpt.com,claude.ai,api.anthropic.com,api.openai.com,chat.deepseek.com,www.example.org >"$OUT/oracle.out"
  ;;
midnight)
  # The capture's clock (days, checkpoints; not packet times) is set to 12 s before a UTC midnight
  # (no policy: days are UTC): one connection before it, one after; SIGTERM.
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=fixture -days 2 -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
  ip netns exec "$S" python3 "$FIX/fixture_server.py" "$OUT/cert.pem" "$OUT/key.pem" 10.77.0.2 2>"$OUT/server.log" &
  PIDS+=($!)
  for _ in $(seq 100); do ip netns exec "$S" ss -ltn | grep -q 10.77.0.2:443 && break; sleep 0.1; done
  NOW=$(date +%s)
  OFFSET=$(( (NOW / 86400 + 1) * 86400 - 12 - NOW ))
  start_capture --clock-offset-seconds "$OFFSET" --status-interval 1 --checkpoint-interval 1
  CURL=(ip netns exec "$C" curl -sk --max-time 10 -o /dev/null)
  "${CURL[@]}" --resolve chatgpt.com:443:10.77.0.2 https://chatgpt.com/
  sleep 14                                    # linger 5 s, a checkpoint, then midnight
  "${CURL[@]}" --resolve claude.ai:443:10.77.0.2 https://claude.ai/
  sleep 0.5
  stop_capture
  ;;
flood)
  python3 - "$OUT/syn.pcap" <<'PY'
import struct, sys
# 1,000,000 TCP SYNs from 10.(64+i/65536).(i/256%256).(i%256):40000 to 10.77.0.2:443, Ethernet.
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
eth = bytes.fromhex("020000000002" "020000000001" "0800")
tcp_tail = struct.pack("!IIBBHHH", 1, 0, 0x50, 0x02, 65535, 0, 0)
for i in range(1_000_000):
    src = bytes((10, 64 + (i >> 16), (i >> 8) & 255, i & 255))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, src, bytes((10, 77, 0, 2))))
    s = sum(struct.unpack("!10H", ip)); s = (s & 0xFFFF) + (s >> 16); s = (s & 0xFFFF) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~s & 0xFFFF)
    frame = eth + bytes(ip) + struct.pack("!HH", 40000, 443) + tcp_tail
    out.write(struct.pack("<IIII", i // 1_000_000, i % 1_000_000, len(frame), len(frame)) + frame)
PY
  start_capture --status-interval 2 --checkpoint-interval 5
  LOOPS=$(( (FLOWS + 999999) / 1000000 ))
  ip netns exec "$C" tcpreplay -i "$VC" --topspeed --loop "$LOOPS" --unique-ip "$OUT/syn.pcap" >"$OUT/tcpreplay.out" 2>&1
  sleep 3
  grep VmHWM "/proc/$CAP/status" | awk '{print $2}' >"$OUT/peak.rss"
  stop_capture
  rm -f "$OUT/syn.pcap"
  ;;
*) echo "usage: live_capture.sh traffic|midnight|flood BINARY OUTDIR [FLOWS]" >&2; exit 2 ;;
esac
