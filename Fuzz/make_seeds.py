#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from fixtures/, signatures/ and ../shared (bench seeds, corpus).

Writes Fuzz/seeds/<Target>/ (git-ignored). Python 3 standard library only; zstd seeds need the
`zstd` command and are skipped without it. Usage: Fuzz/make_seeds.py [REPO_ROOT]
"""
import bz2
import glob
import gzip
import hashlib
import lzma
import os
import shutil
import struct
import zlib
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.environ.get("SHADOWSCOPE_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
OUT = os.path.join(ROOT, "Fuzz", "seeds")
MAX_SEED = 64 * 1024

# FuzzPacket's first byte: index into [.ethernet, .linuxSLL, .linuxSLL2, .raw, .null].
LINK_INDEX = {1: 0, 113: 1, 276: 2, 12: 3, 14: 3, 101: 3, 228: 3, 229: 3, 0: 4}
# FuzzLogs' first byte: allLogFormats (12) then the Squid custom formats (6), see FuzzLogs/main.swift.
LOG_FORMATS = 18


def write(target, data, name=None):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    data = bytes(data)[:MAX_SEED]
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read_capture(path):
    """(linktype, [(ts, frame bytes)]) for a pcap or pcapng file; [] when unreadable."""
    data = open(path, "rb").read()
    frames = []
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
        off = 24
        while off + 16 <= len(data):
            sec, usec, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
            frames.append((sec, data[off + 16:off + 16 + incl]))
            off += 16 + incl
        return link, frames, data[:24]
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        links = []
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12:
                break
            body = data[off + 8:off + blen - 4]
            if btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, th, tl, cap, orig = struct.unpack(e + "IIIII", body[:20])
                frames.append((th, body[20:20 + cap]))
            off += blen
        return (links[0] if links else 1), frames, None
    return None, [], None


def ip_payload(link, frame):
    """(proto, src, dst, sport, dport, transport payload) or None."""
    if link == 1:
        et, off = struct.unpack(">H", frame[12:14])[0], 14
        while et in (0x8100, 0x88A8):
            et, off = struct.unpack(">H", frame[off + 2:off + 4])[0], off + 4
    elif link == 113:
        et, off = struct.unpack(">H", frame[14:16])[0], 16
    elif link == 276:
        et, off = struct.unpack(">H", frame[0:2])[0], 20
    elif link in (12, 14, 101, 228, 229):
        et, off = (0x86DD if frame[:1] and frame[0] >> 4 == 6 else 0x0800), 0
    elif link == 0:
        et, off = 0x0800, 4
    else:
        return None
    p = frame[off:]
    if et == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        total = struct.unpack(">H", p[2:4])[0]
        proto, src, dst, body = p[9], p[12:16], p[16:20], p[ihl:total]
    elif et == 0x86DD and len(p) >= 40:
        proto, src, dst, body = p[6], p[8:24], p[24:40], p[40:40 + struct.unpack(">H", p[4:6])[0]]
    else:
        return None
    if proto == 6 and len(body) >= 20:
        return 6, src, dst, struct.unpack(">H", body[0:2])[0], struct.unpack(">H", body[2:4])[0], body[(body[12] >> 4) * 4:]
    if proto == 17 and len(body) >= 8:
        return 17, src, dst, struct.unpack(">H", body[0:2])[0], struct.unpack(">H", body[2:4])[0], body[8:]
    return None


def reassembly_seed(payloads):
    """FuzzReassembly records: handshake, then the client payload in chunks of at most 255 bytes."""
    out = bytearray([0x02, 0, 0, 0, 0, 0x80 | 0x12, 0, 0, 0, 0])
    delta = 1
    for p in payloads:
        for i in range(0, len(p), 255):
            chunk = p[i:i + 255]
            out += bytes([0x18]) + struct.pack(">h", delta) + bytes([0, len(chunk)]) + chunk
            delta = len(chunk)
    out += bytes([0x11]) + struct.pack(">h", delta) + bytes([1, 0])
    return out


def varint(v):
    if v < 64:
        return bytes([v])
    if v < 16384:
        return struct.pack(">H", 0x4000 | v)
    return struct.pack(">I", 0x80000000 | v)


def captures():
    paths = sorted(glob.glob(os.path.join(ROOT, "fixtures", "*.pcap*")))
    paths += sorted(glob.glob(os.path.join(SHARED, "bench", "seeds", "*.pcap")))
    paths += sorted(glob.glob(os.path.join(SHARED, "corpus", "zeek", "Traces", "**", "*.pcap*"), recursive=True))
    return paths


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for path in captures():
        link, frames, header = read_capture(path)
        if link is None:
            continue
        raw = open(path, "rb").read()
        if len(raw) <= MAX_SEED:
            write("FuzzCapture", raw)
        elif header is not None:  # the first packets of a big pcap
            for n in (4, 12, 40):
                body = b"".join(struct.pack("<IIII", ts, 0, len(f), len(f)) + f for ts, f in frames[:n])
                if header[:4] == b"\xd4\xc3\xb2\xa1":
                    write("FuzzCapture", header + body)
        clients = {}
        for i, (_, f) in enumerate(frames):
            if i < 64 and link in LINK_INDEX:
                write("FuzzPacket", bytes([LINK_INDEX[link]]) + f)
            d = ip_payload(link, f)
            if d is None:
                continue
            proto, src, dst, sport, dport, payload = d
            if proto == 6 and payload:
                key = (src, sport, dst, dport)
                clients.setdefault(key, []).append(payload)
                if payload[:1] == b"\x16":
                    write("FuzzTLS", payload)
                    if len(payload) > 9:
                        hs = payload[5:]
                        crypto = b"\x06" + varint(0) + varint(len(hs)) + hs
                        write("FuzzQUICFrames", crypto + b"\x00" * 16)
                        half = len(hs) // 2
                        two = b"\x06" + varint(half) + varint(len(hs) - half) + hs[half:]
                        one = b"\x02\x00\x00\x00\x00" + b"\x06" + varint(0) + varint(half) + hs[:half]
                        write("FuzzQUICFrames", struct.pack(">H", len(two)) + two + struct.pack(">H", len(one)) + one)
                elif payload[:4] in (b"GET ", b"POST", b"CONN", b"PUT ", b"HEAD", b"OPTI", b"DELE"):
                    write("FuzzHTTP", payload)
                if 53 in (sport, dport):
                    write("FuzzDNS", payload)
            elif proto == 17 and payload:
                if 53 in (sport, dport) or 5353 in (sport, dport):
                    write("FuzzDNS", payload)
                    write("FuzzDNS", struct.pack(">H", len(payload)) + payload)
                elif payload[0] & 0x80:
                    key = (src, sport, dst, dport)
                    clients.setdefault(key, []).append(payload)
        # A few flows per file: the whole first client flight for reassembly, and QUIC datagrams.
        for key, payloads in list(clients.items())[:4]:
            if payloads[0][:1] == b"\x16" or payloads[0][:3] in (b"GET", b"POS", b"CON"):
                write("FuzzReassembly", reassembly_seed(payloads[:3]))
            elif payloads[0][0] & 0x80:
                write("FuzzQUIC", payloads[0])
                write("FuzzQUIC", b"".join(struct.pack(">H", len(p)) + p for p in payloads[:3]))

    logs = [os.path.join(ROOT, "fixtures", "squid-access.log")]
    logs += sorted(glob.glob(os.path.join(SHARED, "bench", "seeds", "*.log")))
    logs += sorted(glob.glob(os.path.join(SHARED, "corpus", "lnav", "*")))
    logs += sorted(glob.glob(os.path.join(SHARED, "corpus", "zeek", "Baseline", "*", "*.log")))[:40]
    for path in logs:
        if not os.path.isfile(path):
            continue
        text = open(path, "rb").read()[:8192]
        for i in range(LOG_FORMATS):
            write("FuzzLogs", bytes([i, 255]) + text)
            write("FuzzLogs", bytes([i, 7]) + text[:2048])
    sample = open(os.path.join(ROOT, "fixtures", "squid-access.log"), "rb").read()[:16384]
    write("FuzzDecompress", gzip.compress(sample))
    write("FuzzDecompress", gzip.compress(sample[:100]) + gzip.compress(sample[100:300]))
    write("FuzzDecompress", bz2.compress(sample))
    write("FuzzDecompress", lzma.compress(sample))
    write("FuzzDecompress", gzip.compress(b"\0" * 1_000_000))
    if shutil.which("zstd"):
        write("FuzzDecompress", subprocess.run(["zstd", "-c", "-q"], input=sample, capture_output=True).stdout)
    for path in sorted(glob.glob(os.path.join(ROOT, "signatures", "*.yaml"))):
        write("FuzzCatalog", open(path, "rb").read())
    write("FuzzPolicy", open(os.path.join(ROOT, "fixtures", "policy.yaml"), "rb").read())
    # FuzzSpool: byte 0 says whether and how a state file is written (SpoolFuzzHarness), the rest is
    # records-0. Records as the spool writes them: magic, length, CRC-32, an RFC 5424 line.
    def record(payload):
        return b"SSR1" + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
    lines = [b"<36>1 2026-11-25T09:00:00Z host shadowscope - alert - \xef\xbb\xbf{\"event\":{\"id\":\"%d\"}}" % i
             for i in range(4)]
    spool = b"".join(record(l) for l in lines)
    write("FuzzSpool", b"\x00" + spool)
    write("FuzzSpool", b"\x00" + spool + record(lines[0])[:20])
    write("FuzzSpool", b"\x03" + struct.pack(">H", len(record(lines[0]))) + spool)
    write("FuzzSpool", b"\x01\x05hello" + spool[:30] + b"\xff" * 8 + spool)
    for target in sorted(os.listdir(OUT)):
        print(f"{target}: {len(os.listdir(os.path.join(OUT, target)))} seeds")


if __name__ == "__main__":
    main()
