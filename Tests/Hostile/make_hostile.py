#!/usr/bin/env python3
"""Writes the hostile corpus (Tests/Hostile/corpus/<category>/...) that `make test` runs through
`shadowscope scan` (HostileCorpusTests). Python 3 standard library only; deterministic (fixed seeds),
so re-running it rewrites the same bytes.

Each category is one folder, scanned in one run. `expect.tsv` names the files that must show a
counted skip, a hit cap or a named error in the summary ("flagged"); the others ("any", e.g. a prefix
that happens to end on a packet boundary) need only exit 0 or 3 without a trap.

Oddities in records that are still used (a DNS name with too many labels or a pointer loop, an SNI
that is not a host name, a ClientHello whose record never completes, a QUIC frame type not allowed in
an Initial, bytes after the last gzip member) count as "flagged" through the summary's `anomalies`.

Usage: Tests/Hostile/make_hostile.py   (writes next to this script)
"""
import bz2
import gzip
import hashlib
import hmac
import lzma
import os
import random
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
expect = []


def write(category, name, data, flagged=True):
    d = os.path.join(OUT, category)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))
    expect.append((f"{category}/{name}", "flagged" if flagged else "any"))


# ---------------------------------------------------------------- packets

def pcap(frames, linktype=1, snaplen=262144, ts0=1_700_000_000):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", ts0 + i, 0, len(f), len(f)) + f
    return out


def ether(payload, ethertype=0x0800):
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack(">H", ethertype) + payload


def ipv4(payload, proto, src=b"\x0a\x00\x00\x01", dst=b"\xc0\x00\x02\x07", total=None, ihl=5, frag=0x4000):
    total = 20 + len(payload) if total is None else total
    return struct.pack(">BBHHHBBH", 0x40 | ihl, 0, total & 0xFFFF, 0, frag, 64, proto, 0) + src + dst + payload


def tcp(payload, sport=40000, dport=443, seq=1000, flags=0x18, offset=5):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, 0, offset << 4, flags, 65535, 0, 0) + payload


def udp(payload, sport=40000, dport=443, length=None):
    length = 8 + len(payload) if length is None else length
    return struct.pack(">HHHH", sport, dport, length & 0xFFFF, 0) + payload


def tcp_frame(payload, **kw):
    ipkw = {k: kw.pop(k) for k in list(kw) if k in ("total", "ihl", "src", "dst", "frag")}
    return ether(ipv4(tcp(payload, **kw), 6, **ipkw))


def udp_frame(payload, **kw):
    ipkw = {k: kw.pop(k) for k in list(kw) if k in ("total", "ihl", "src", "dst", "frag")}
    return ether(ipv4(udp(payload, **kw), 17, **ipkw))


def client_hello(sni=b"chatgpt.com", ext_len=None, sni_len=None, hs_len=None, rec_len=None, extra=b""):
    name = struct.pack(">BH", 0, len(sni) if sni_len is None else sni_len) + sni
    sni_ext = struct.pack(">HHH", 0, len(name) + 2, len(name)) + name
    exts = sni_ext + extra
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(exts) if ext_len is None else ext_len) + exts
    hs = b"\x01" + struct.pack(">I", len(body) if hs_len is None else hs_len)[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs) if rec_len is None else rec_len) + hs


def tls_flow(hello_segments, sport=40000):
    frames = [tcp_frame(b"", sport=sport, seq=999, flags=0x02),
              ether(ipv4(tcp(b"", sport=443, dport=sport, seq=5000, flags=0x12), 6, src=b"\xc0\x00\x02\x07", dst=b"\x0a\x00\x00\x01"))]
    seq = 1000
    for seg in hello_segments:
        frames.append(tcp_frame(seg, sport=sport, seq=seq))
        seq += len(seg)
    return frames


def dns_name(labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\x00"


def dns(qname=b"\x07chatgpt\x03com\x00", answers=b"", qd=1, an=0, flags=0x8180, extra=b""):
    return struct.pack(">HHHHHH", 0x1234, flags, qd, an, 0, 0) + qname + b"\x00\x01\x00\x01" + answers + extra


def dns_frame(msg, response=True):
    if response:
        return ether(ipv4(udp(msg, sport=53, dport=33333), 17, src=b"\xc0\x00\x02\x35", dst=b"\x0a\x00\x00\x01"))
    return ether(ipv4(udp(msg, sport=33333, dport=53), 17))


# ------------------------------------------- AES-128-GCM and HKDF for QUIC Initials (RFC 9001)

def _xt(a):
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _sbox():
    inv = [0] * 256
    for a in range(1, 256):
        for b in range(1, 256):
            x, y, p = a, b, 0
            while y:
                if y & 1:
                    p ^= x
                x, y = _xt(x), y >> 1
            if p == 1:
                inv[a] = b
                break
    box = []
    for a in range(256):
        b = inv[a]
        s = b
        for i in range(1, 5):
            s ^= ((b << i) | (b >> (8 - i))) & 0xFF
        box.append(s ^ 0x63)
    return box


SBOX = _sbox()


def aes128(key, block):
    rk = list(key)
    rcon = 1
    for i in range(4, 44):
        t = rk[(i - 1) * 4:i * 4]
        if i % 4 == 0:
            t = [SBOX[t[1]] ^ rcon, SBOX[t[2]], SBOX[t[3]], SBOX[t[0]]]
            rcon = _xt(rcon)
        rk += [rk[(i - 4) * 4 + j] ^ t[j] for j in range(4)]
    s = [block[i] ^ rk[i] for i in range(16)]
    for r in range(1, 11):
        s = [SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]  # ShiftRows (column-major state)
        if r < 10:
            m = []
            for c in range(4):
                a = s[c * 4:c * 4 + 4]
                m += [_xt(a[0]) ^ _xt(a[1]) ^ a[1] ^ a[2] ^ a[3], a[0] ^ _xt(a[1]) ^ _xt(a[2]) ^ a[2] ^ a[3],
                      a[0] ^ a[1] ^ _xt(a[2]) ^ _xt(a[3]) ^ a[3], _xt(a[0]) ^ a[0] ^ a[1] ^ a[2] ^ _xt(a[3])]
            s = m
        s = [s[i] ^ rk[r * 16 + i] for i in range(16)]
    return bytes(s)


def _gmul(x, y):
    r = 0
    for i in range(127, -1, -1):
        if (y >> i) & 1:
            r ^= x
        x = (x >> 1) ^ (0xE1 << 120) if x & 1 else x >> 1
    return r


def gcm_seal(key, iv, plain, aad):
    h = int.from_bytes(aes128(key, b"\0" * 16), "big")
    j0 = iv + b"\0\0\0\1"
    out = bytearray()
    for i in range(0, len(plain), 16):
        ks = aes128(key, iv + struct.pack(">I", 2 + i // 16))
        out += bytes(a ^ b for a, b in zip(plain[i:i + 16], ks))

    def ghash_blocks(data):
        data = data + b"\0" * (-len(data) % 16)
        return [int.from_bytes(data[i:i + 16], "big") for i in range(0, len(data), 16)]
    y = 0
    for blk in ghash_blocks(aad) + ghash_blocks(bytes(out)) + [(len(aad) * 8) << 64 | len(out) * 8]:
        y = _gmul(y ^ blk, h)
    tag = bytes(a ^ b for a, b in zip(aes128(key, j0), y.to_bytes(16, "big")))
    return bytes(out), tag


def hkdf_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\0"
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + t, i + 1
    return out[:length]


V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
Q050_SALT = bytes.fromhex("504574efd066fe2f9d945cfcdbd3a7f0d3b56b45")  # Google QUIC Q050 (Chromium)


def quic_client_keys(dcid, salt=V1_SALT):
    initial = hmac.new(salt, dcid, hashlib.sha256).digest()
    client = hkdf_label(initial, b"client in", 32)
    return hkdf_label(client, b"quic key", 16), hkdf_label(client, b"quic iv", 12), hkdf_label(client, b"quic hp", 16)


def qvarint(v, size=None):
    size = size or (1 if v < 64 else 2 if v < 16384 else 4 if v < 2**30 else 8)
    prefix = {1: 0, 2: 0x40, 4: 0x80, 8: 0xC0}[size]
    b = bytearray(v.to_bytes(size, "big"))
    b[0] |= prefix
    return bytes(b)


DCID = bytes.fromhex("8394c8f03e515708")


def quic_initial(payload, pn=0, dcid=DCID, token=b"", token_len=None, length_size=2, version=b"\x00\x00\x00\x01", salt=V1_SALT):
    key, iv, hp = quic_client_keys(dcid, salt)
    payload = payload + b"\0" * max(0, 4 - len(payload))
    header = b"\xc3" + version + bytes([len(dcid)]) + dcid + b"\x00"
    header += qvarint(len(token) if token_len is None else token_len) + token
    header += qvarint(4 + len(payload) + 16, length_size)
    pn_off = len(header)
    header += struct.pack(">I", pn)
    nonce = bytes(a ^ b for a, b in zip(iv, b"\0" * 4 + struct.pack(">Q", pn)))
    ct, tag = gcm_seal(key, nonce, payload, header)
    packet = bytearray(header + ct + tag)
    mask = aes128(hp, bytes(packet[pn_off + 4:pn_off + 20]))
    packet[0] ^= mask[0] & 0x0F
    for i in range(4):
        packet[pn_off + i] ^= mask[1 + i]
    return bytes(packet)


def crypto_frame(offset, data, offset_size=None, length_size=None):
    return b"\x06" + qvarint(offset, offset_size) + qvarint(len(data), length_size) + data


def check_crypto():
    # RFC 9001 Appendix A.1 and A.2: keys, and the header-protection mask of the sample.
    key, iv, hp = quic_client_keys(DCID)
    assert key.hex() == "1f369613dd76d5467730efcbe3b1a22d", key.hex()
    assert iv.hex() == "fa044b2f42a3fd3b46fb255c"
    assert hp.hex() == "9f50449e04a0e810283a1e9933adedd2"
    assert aes128(hp, bytes.fromhex("d1b1c98dd7689fb8ec11d242b123dc9b"))[:5].hex() == "437b9aec36"
    # NIST GCM test case 3 (AES-128).
    k = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    ct, tag = gcm_seal(k, bytes.fromhex("cafebabefacedbaddecaf888"), bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"), b"")
    assert tag.hex() == "4d5c2af327cd64a62cf35abd2ba6fab4", tag.hex()


# ---------------------------------------------------------------- categories

def prefixes():
    """Every prefix of a small TLS capture (to 160 bytes, then every 7th), of a squid log, of a gzip log."""
    frames = tls_flow([client_hello(b"claude.ai")]) + [tcp_frame(b"", seq=1000 + len(client_hello(b"claude.ai")), flags=0x11)]
    cap = pcap(frames)
    cuts = sorted(set(list(range(0, 161)) + list(range(161, len(cap), 7))))
    for n in cuts:
        write("prefix-pcap", f"tls-claude.pcap.{n:05d}", cap[:n], flagged=False)
    log = open(os.path.join(HERE, "..", "..", "fixtures", "squid-access.log"), "rb").read()
    lines = b"".join(log.splitlines(keepends=True)[:3])
    for n in range(1, len(lines), 3):
        write("prefix-log", f"squid.log.{n:05d}", lines[:n], flagged=False)
    gz = gzip.compress(lines, mtime=0)
    for n in range(1, len(gz)):
        # a gzip prefix is truncated compressed input: reported as input unreadable from there on
        write("prefix-gzip", f"squid.log.gz.{n:05d}", gz[:n], flagged=n >= 10)


def length_fields():
    hello = client_hello()
    # IPv4 total length at 0, below the header, at the frame and past it; IHL 0, 4 and 15.
    for total in (0, 19, 20, 40, 40 + len(hello), 41 + len(hello), 65535):
        write("length-ip", f"ipv4-total-{total}.pcap", pcap(tls_flow([]) + [tcp_frame(hello, total=total)]),
              flagged=total in (0, 19))
    for ihl in (0, 4, 15):
        write("length-ip", f"ipv4-ihl-{ihl}.pcap", pcap([tcp_frame(hello, ihl=ihl)]))
    for off in (0, 4, 15):
        write("length-ip", f"tcp-offset-{off}.pcap", pcap([tcp_frame(hello, offset=off)]), flagged=off < 5)
    for length in (0, 7, 8, 9, 65535):
        write("length-ip", f"udp-length-{length}.pcap", pcap([udp_frame(b"\xc3" + b"\0" * 40, length=length)]),
              flagged=length != 8 and length != 9)
    write("length-ip", "ipv6-payload-past-frame.pcap",
          pcap([ether(struct.pack(">IHBB", 0x60000000, 65000, 6, 64) + b"\0" * 32 + tcp(hello), 0x86DD)]), flagged=False)
    write("length-ip", "ipv6-ext-loop.pcap",
          pcap([ether(struct.pack(">IHBB", 0x60000000, 200, 0, 64) + b"\0" * 32 + (b"\x00\x00" + b"\0" * 6) * 25, 0x86DD)]))
    write("length-ip", "vlan-tags-5.pcap", pcap([ether(b"\x00\x01\x81\x00" * 5 + b"\x00\x01\x08\x00" + ipv4(tcp(hello), 6), 0x8100)]))
    # TLS lengths: record 0 / at the 16 KiB limit / past it; handshake, extensions and SNI beyond their parents.
    for name, h in [("record-0", client_hello(rec_len=0)), ("record-16384", client_hello(rec_len=16384)),
                    ("record-16385", client_hello(rec_len=16385)), ("record-65535", client_hello(rec_len=65535)),
                    ("handshake-0", client_hello(hs_len=0)), ("handshake-ffffff", client_hello(hs_len=0xFFFFFF)),
                    ("extensions-past-end", client_hello(ext_len=4000)), ("extensions-0", client_hello(ext_len=0)),
                    ("sni-0", client_hello(sni=b"", sni_len=0)), ("sni-past-end", client_hello(sni_len=300)),
                    ("sni-nul", client_hello(sni=b"chat\0gpt.com")), ("sni-invalid-utf8", client_hello(sni=b"\xff\xfe.\xc0\xaf.com")),
                    ("sni-256-bytes", client_hello(sni=b"a" * 256)),
                    ("many-extensions", client_hello(extra=b"\xff\x01\x00\x00" * 2000))]:
        write("length-tls", f"tls-{name}.pcap", pcap(tls_flow([h])), flagged=name not in ("extensions-0", "many-extensions"))
    # pcap record headers: caplen 0, over the snap length, past the file; snaplen 0.
    frame = tcp_frame(hello)
    base = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for name, caplen in [("caplen-0", 0), ("caplen-262145", 262145), ("caplen-ffffffff", 0xFFFFFFFF), ("caplen-past-file", len(frame) + 100)]:
        write("length-pcap", f"pcap-{name}.pcap", base + struct.pack("<IIII", 1, 0, caplen, len(frame)) + frame,
              flagged=name != "caplen-0")
    write("length-pcap", "pcap-snaplen-0.pcap", struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0, 1) + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame, flagged=False)
    write("length-pcap", "pcap-linktype-unknown.pcap", pcap([frame], linktype=147))
    write("length-pcap", "pcap-header-only-short.pcap", base[:20])
    write("length-pcap", "pcap-usec-1e9.pcap", base + struct.pack("<IIII", 0xFFFFFFFF, 999999999, len(frame), len(frame)) + frame, flagged=False)


def pcapng_blocks():
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 262144) + struct.pack("<I", 20)
    frame = tcp_frame(client_hello())

    def epb(f, caplen=None, blen=None):
        pad = b"\0" * (-len(f) % 4)
        length = 32 + len(f) + len(pad) if blen is None else blen
        return struct.pack("<IIIIIII", 6, length, 0, 0, 1, len(f) if caplen is None else caplen, len(f)) + f + pad + struct.pack("<I", length)
    for blen in (0, 4, 8, 11):
        write("pcapng", f"block-length-{blen}.pcapng", shb + idb + struct.pack("<II", 6, blen) + b"\0" * 8)
    for blen in (0, 8, 11, 12, 27):
        write("pcapng", f"shb-length-{blen}.pcapng", struct.pack("<IIIHHq", 0x0A0D0D0A, blen, 0x1A2B3C4D, 1, 0, -1))
    write("pcapng", "idb-length-8.pcapng", shb + struct.pack("<II", 1, 8))
    write("pcapng", "epb-before-idb.pcapng", shb + epb(frame))
    write("pcapng", "epb-caplen-past-block.pcapng", shb + idb + epb(frame, caplen=len(frame) + 500))
    write("pcapng", "epb-block-length-huge.pcapng", shb + idb + epb(frame, blen=0x7FFFFFF0))
    write("pcapng", "epb-unaligned-length.pcapng", shb + idb + epb(frame, blen=33 + len(frame)))
    write("pcapng", "epb-interface-7.pcapng", shb + idb + struct.pack("<IIIIIII", 6, 32 + 4, 7, 0, 0, 4, 4) + b"abcd" + struct.pack("<I", 36))
    write("pcapng", "shb-only.pcapng", shb, flagged=False)
    write("pcapng", "idb-linktype-unknown.pcapng", shb + struct.pack("<IIHHI", 1, 20, 147, 0, 0) + struct.pack("<I", 20) + epb(frame))
    write("pcapng", "truncated-trailer.pcapng", (shb + idb + epb(frame))[:-2])
    for seed in range(12):
        rng = random.Random(seed)
        data = bytearray(shb + idb + epb(frame) + epb(frame))
        for _ in range(4):
            data[rng.randrange(28, len(data))] = rng.randrange(256)
        write("pcapng", f"random-bytes-{seed:02d}.pcapng", data, flagged=False)


def dns_names():
    labels256 = [b"a"] * 256
    cases = {
        "labels-256": dns_name(labels256),
        "labels-127": dns_name([b"a"] * 127),
        "labels-128": dns_name([b"a"] * 128),
        "name-255-bytes": dns_name([b"a" * 63] * 3 + [b"a" * 61]),
        "name-256-bytes": dns_name([b"a" * 63] * 3 + [b"a" * 62]),
        "label-64": b"\x40" + b"a" * 64 + b"\x00",
        "label-type-01": b"\x41abc\x00",
        "label-type-10": b"\x81abc\x00",
        "pointer-to-self": b"\xc0\x0c",
        "pointer-forward-past-end": b"\xc0\xff",
        "pointer-into-header": b"\xc0\x02",
        "name-unterminated": b"\x07chatgpt\x03com",
        "nul-in-label": b"\x07chat\x00pt\x03com\x00",
        "invalid-utf8-label": b"\x04\xff\xfe\xc0\xaf\x03com\x00",
    }
    for name, qname in cases.items():
        write("dns", f"dns-query-{name}.pcap", pcap([dns_frame(dns(qname=qname, flags=0x0100), response=False)]),
              flagged=name not in ("labels-127", "name-255-bytes"))  # the longest legal names
    # Compression loops in answers: A -> B -> A, a long chain of pointers, a pointer to itself.
    q = b"\x07chatgpt\x03com\x00"
    loop = b"\xc0\x2a\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04"  # owner points to offset 42...
    msg = dns(qname=q, an=2, answers=loop + b"\xc0\x1d\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04")
    write("dns", "dns-answer-pointer-loop.pcap", pcap([dns_frame(msg)]))
    chain = bytearray(dns(qname=q, an=1))
    start = len(chain)
    for i in range(200):  # each pointer points to the one before it
        chain += struct.pack(">H", 0xC000 | (start + 2 * (i - 1) if i else 12))
    chain += b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04"
    write("dns", "dns-pointer-chain-200.pcap", pcap([dns_frame(bytes(chain))]))
    for name, (qd, an) in {"counts-ffff": (0xFFFF, 0xFFFF), "qd-0-an-5": (0, 5), "an-past-data": (1, 9)}.items():
        write("dns", f"dns-{name}.pcap", pcap([dns_frame(dns(qname=q, qd=qd, an=an))]))
    rd = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c"
    for rdlen in (0, 3, 4, 5, 0xFFFF):
        write("dns", f"dns-a-rdlength-{rdlen}.pcap", pcap([dns_frame(dns(qname=q, an=1, answers=rd + struct.pack(">H", rdlen) + b"\x01\x02\x03\x04"))]),
              flagged=rdlen != 4)
    write("dns", "dns-header-only-11.pcap", pcap([dns_frame(b"\x12\x34\x81\x80" + b"\0" * 7)]))
    write("dns", "dns-empty.pcap", pcap([dns_frame(b"")]))
    # TCP DNS stream with lengths 0, 1 and 65535.
    for n in (0, 1, 65535):
        stream = struct.pack(">H", n) + dns(qname=q, flags=0x0100)
        write("dns", f"dns-tcp-length-{n}.pcap", pcap([tcp_frame(stream, dport=53)]))


def quic():
    check_crypto()
    hello = client_hello(b"gemini.google.com")[5:]  # the handshake message, as QUIC carries it
    ok = quic_initial(crypto_frame(0, hello) + b"\0" * 900)
    write("quic", "quic-valid-initial.pcap", pcap([udp_frame(ok)]), flagged=False)
    # Varints of 8 bytes in the header: token length and packet length.
    for name, pkt in [("token-length-8-byte-huge", b"\xc3\x00\x00\x00\x01\x08" + DCID + b"\x00" + qvarint(2**62 - 1, 8) + b"\0" * 40),
                      ("token-length-8-byte-small", quic_initial(crypto_frame(0, hello), token=b"t", token_len=None)[:6]
                       + DCID + b"\x00" + qvarint(1, 8) + b"t" + b"\0" * 60),
                      ("packet-length-8-byte-huge", b"\xc3\x00\x00\x00\x01\x08" + DCID + b"\x00\x00" + qvarint(2**62 - 1, 8) + b"\0" * 40),
                      ("packet-length-8-byte", quic_initial(crypto_frame(0, hello) + b"\0" * 600, length_size=8)),
                      ("dcid-length-21", b"\xc3\x00\x00\x00\x01\x15" + b"\x01" * 21 + b"\x00\x00\x40\x20" + b"\0" * 40),
                      ("dcid-length-255", b"\xc3\x00\x00\x00\x01\xff" + b"\x01" * 40),
                      ("long-header-5-bytes", b"\xc3\x00\x00\x00\x01"),
                      ("version-negotiation-odd", b"\x80\x00\x00\x00\x00\x08" + DCID + b"\x00\x01\x02\x03"),
                      ("retry-short", b"\xf0\x00\x00\x00\x01\x08" + DCID + b"\x00\x01")]:
        write("quic", f"quic-{name}.pcap", pcap([udp_frame(pkt)]), flagged=name not in ("packet-length-8-byte",))
    # CRYPTO frames with huge offsets and lengths, 8-byte varints, after real decryption.
    for name, payload in [("crypto-offset-2^62-1", crypto_frame(2**62 - 1, hello[:50], offset_size=8)),
                          ("crypto-offset-16384", crypto_frame(16384, hello[:50])),
                          ("crypto-offset-16383-len-2", crypto_frame(16383, b"ab")),
                          ("crypto-offset-1e9", crypto_frame(10**9, hello[:50])),
                          ("crypto-length-past-packet", b"\x06\x00" + qvarint(5000, 2) + hello[:50]),
                          ("crypto-length-8-byte-huge", b"\x06\x00" + qvarint(2**62 - 1, 8) + hello[:50]),
                          ("crypto-offset-8-byte-zero", crypto_frame(0, hello, offset_size=8, length_size=8)),
                          ("ack-range-count-huge", b"\x02\x00\x00" + qvarint(2**62 - 1, 8) + b"\x00"),
                          ("stream-frame-in-initial", b"\x08\x00\x05hello"),
                          ("only-padding", b"\0" * 1100),
                          ("hello-length-past-crypto", crypto_frame(0, b"\x01\xff\xff\xff" + hello[4:60]))]:
        write("quic", f"quic-{name}.pcap", pcap([udp_frame(quic_initial(payload + b"\0" * 100))]),
              flagged=name != "crypto-offset-8-byte-zero")
    # Google QUIC: Q046 in cleartext (nibble CID lengths, packet number, 12-byte hash, STREAM frames on
    # stream 1 carrying a CHLO) and Q050 (protected with its salt, gQUIC CRYPTO frame 0x08, a CHLO).
    def chlo(entries, count=None):
        head, values, end = b"CHLO" + struct.pack("<HH", len(entries) if count is None else count, 0), b"", 0
        for tag, value, at in entries:
            end += len(value)
            head += tag + struct.pack("<I", end if at is None else at)
            values += value
        return head + values
    good = chlo([(b"SNI\0", b"gemini.google.com", None)])
    q046 = b"\xc3Q046\x50" + DCID + struct.pack(">I", 1) + bytes(12)
    for name, pkt in [("q046-header-5-bytes", b"\xc3Q046"),
                      ("q046-cid-nibbles-ff", b"\xc3Q046\xff" + DCID + bytes(20)),
                      ("q046-stream-length-past-packet", q046 + b"\xa0\x01" + struct.pack(">H", 5000) + good),
                      ("q046-stream-id-8-bytes-offset-8-bytes", q046 + b"\xbf" + b"\xff" * 16 + struct.pack(">H", len(good)) + good),
                      ("q046-chlo-tag-count-65535", q046 + b"\xa0\x01" + struct.pack(">H", 8) + chlo([], count=65535)),
                      ("q046-chlo-offsets-backwards", q046 + b"\xa0\x01" + struct.pack(">H", 30)
                       + chlo([(b"PAD\0", b"ab", 4), (b"SNI\0", b"a.ai", 2)])),
                      ("q046-chlo-value-offset-4g", q046 + b"\xa0\x01" + struct.pack(">H", 20) + chlo([(b"SNI\0", b"a.ai", 2**32 - 1)])),
                      ("q050-crypto-length-past-packet", quic_initial(b"\x08\x00" + qvarint(5000, 2) + good + b"\0" * 100,
                                                                     version=b"Q050", salt=Q050_SALT)),
                      ("q050-chlo-tag-count-65535", quic_initial(b"\x08\x00" + qvarint(8) + chlo([], count=65535) + b"\0" * 100,
                                                                version=b"Q050", salt=Q050_SALT))]:
        write("quic", f"gquic-{name}.pcap", pcap([udp_frame(pkt)]))
    write("quic", "gquic-q050-valid.pcap", pcap([udp_frame(quic_initial(b"\x08\x00" + qvarint(len(good)) + good + b"\0" * 900,
                                                                         version=b"Q050", salt=Q050_SALT))]), flagged=False)
    # 20 Initials of one flow, each a 1-byte CRYPTO frame: past the per-flow limit.
    write("quic", "quic-too-many-initials.pcap", pcap([udp_frame(quic_initial(crypto_frame(i, hello[i:i + 1]) + b"\0" * 30, pn=i)) for i in range(20)]))


def compressed():
    log = open(os.path.join(HERE, "..", "..", "fixtures", "squid-access.log"), "rb").read()
    lines = b"".join(log.splitlines(keepends=True)[:20])
    gz = gzip.compress(lines, mtime=0)
    for n in (10, 18, 30, len(gz) // 2, len(gz) - 8, len(gz) - 1):
        write("compressed", f"truncated-gzip-{n}.log.gz", gz[:n])
    write("compressed", "concatenated-gzip.log.gz", gzip.compress(lines[:500], mtime=0) + gzip.compress(lines[500:], mtime=0), flagged=False)
    write("compressed", "gzip-then-garbage.log.gz", gz + b"garbage\x00\xff" * 4)
    write("compressed", "gzip-then-half-member.log.gz", gz + gz[:len(gz) // 2])
    write("compressed", "gzip-empty-member.log.gz", gzip.compress(b"", mtime=0))
    write("compressed", "gzip-bad-crc.log.gz", gz[:-8] + b"\0\0\0\0" + gz[-4:])
    write("compressed", "gzip-bad-isize.log.gz", gz[:-4] + b"\xff\xff\xff\x7f")
    write("compressed", "gzip-flags-all.log.gz", b"\x1f\x8b\x08\xff" + b"\0" * 20)
    bz = bz2.compress(lines)
    write("compressed", "truncated-bzip2.log.bz2", bz[:len(bz) // 2])
    xz = lzma.compress(lines)
    write("compressed", "truncated-xz.log.xz", xz[:len(xz) // 2])
    write("compressed", "xz-magic-only.log.xz", xz[:6])
    write("compressed", "zstd-magic-only.log.zst", b"\x28\xb5\x2f\xfd")
    write("compressed", "zstd-bad-frame.log.zst", b"\x28\xb5\x2f\xfd" + b"\xff" * 40)
    write("compressed", "gzip-pcap-truncated.pcap.gz", gzip.compress(pcap(tls_flow([client_hello()])), mtime=0)[:-20])
    # A decompression bomb: a few real lines, then 300 MB of zeros; bzip2 squeezes that to a few hundred
    # bytes. The scanner must stop at the expansion limit and say so.
    c = bz2.BZ2Compressor(9)
    out = c.compress(lines)
    zeros = b"\0" * (1 << 20)
    for _ in range(300):
        out += c.compress(zeros)
    out += c.flush()
    write("compressed", "bomb-300MB-of-zeros.log.bz2", out)


def logs():
    log = open(os.path.join(HERE, "..", "..", "fixtures", "squid-access.log"), "rb").read()
    first = log.splitlines()[0]
    cases = {
        "nul-in-line": first[:30] + b"\0" + first[30:],
        "nul-only": b"\0" * 100,
        "invalid-utf8-host": first.replace(b"chatgpt.com", b"chat\xff\xfe\xc0\xafgpt.com"),
        "overlong-utf8": first.replace(b"alice", b"\xc0\x80\xe0\x80\x80"),
        "surrogate-utf8": first.replace(b"alice", b"\xed\xa0\x80"),
        "lone-cr": first + b"\r" + first,
        "crlf": first + b"\r\n" + first + b"\r\n",
        "line-65537": first + b"\n" + b"x" * 65537 + b"\n" + first,
        "fields-missing": first[:40],
        "huge-size": first.replace(b"22639", b"99999999999999999999999999"),
        "negative-size": first.replace(b"22639", b"-5"),
        "timestamp-huge": first.replace(first.split(b" ")[0], b"99999999999999999999.999"),
        "timestamp-negative": first.replace(first.split(b" ")[0], b"-1795608606.105"),
        "connect-no-port": first.replace(b"chatgpt.com:443", b"chatgpt.com:"),
        "connect-port-huge": first.replace(b"chatgpt.com:443", b"chatgpt.com:99999999"),
        "url-bracket": first.replace(b"chatgpt.com:443", b"[::1"),
    }
    for name, line in cases.items():
        write("logs", f"squid-{name}.log", first + b"\n" + line + b"\n", flagged=name not in ("crlf", "lone-cr", "surrogate-utf8", "overlong-utf8"))
    zeek = (b"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\n"
            b"1700000000.0\tC1\t10.0.0.1\t5353\t10.0.0.2\t53\tchatgpt.com\n")
    write("logs", "zeek-fields-then-short-row.log", zeek + b"1700000000.0\tC2\n")
    write("logs", "zeek-no-fields-row.log", zeek.replace(b"#fields", b"#notfields"), flagged=False)
    write("logs", "zeek-nul.log", zeek + b"1700000000.0\tC2\t\0\n")
    for name, line in {"json-deep": b"{" + b'"a":{' * 5000 + b"}" * 5001, "json-bad-escape": b'{"host":"\\uZZZZ","ts":1}',
                       "json-unterminated": b'{"event_type":"tls","tls":{"sni":"chatgpt.com', "json-invalid-utf8": b'{"event_type":"tls","tls":{"sni":"\xff\xfe"}}',
                       "json-huge-number": b'{"event_type":"tls","timestamp":"2024-01-01T00:00:00.000000+0000","src_ip":"10.0.0.1","src_port":1e999,"dest_ip":"1.2.3.4","dest_port":443,"proto":"TCP","tls":{"sni":"chatgpt.com"}}'}.items():
        write("logs", f"{name}.json", b'{"event_type":"dns","timestamp":"2024-01-01T00:00:00.000000+0000","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","dns":{"type":"query","rrname":"chatgpt.com"}}\n' + line + b"\n")
    w3c = b"#Software: Microsoft Internet Information Services 10.0\n#Fields: date time cs-method cs-uri-stem cs(Host) c-ip\n"
    write("logs", "w3c-fields-then-short.log", w3c + b"2024-01-01 00:00:00 GET\n")
    write("logs", "w3c-fields-repeated-empty.log", w3c + b"#Fields:\n2024-01-01 00:00:00 GET / chatgpt.com 10.0.0.1\n")
    write("logs", "w3c-date-invalid.log", w3c + b"2024-13-45 99:99:99 GET / chatgpt.com 10.0.0.1\n")
    for seed in range(40):
        rng = random.Random(seed)
        data = bytearray(b"".join(log.splitlines(keepends=True)[:5]))
        for _ in range(8):
            data[rng.randrange(len(data))] = rng.choice([0, 0x0A, 0x20, 0xFF, 0xC3, rng.randrange(256)])
        write("logs", f"squid-random-bytes-{seed:02d}.log", data, flagged=False)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    prefixes()
    length_fields()
    pcapng_blocks()
    dns_names()
    quic()
    compressed()
    logs()
    with open(os.path.join(OUT, "expect.tsv"), "w") as f:
        f.write("file\texpect\n")
        for name, e in sorted(expect):
            f.write(f"{name}\t{e}\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns)
    print(f"{len(expect)} files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
