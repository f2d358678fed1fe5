import ArgumentParser
import Foundation
import Glibc
import PacketDecoding

/// Writes a large classic pcap for the capture benchmark by replaying the real seed flows
/// (`../shared/bench/seeds`: curl, Chromium, aioquic, dnsmasq, BIND) many times over, interleaved:
/// each copy gets its own client address (10.0.0.0/8) and port, a server from a few thousand in
/// 198.18.0.0/15 (RFC 2544 benchmarking space), and a start time from a Poisson arrival process;
/// packets keep the seed's order and spacing (stretched). IPv4 header, TCP and UDP checksums are
/// recomputed for every packet; payloads, sequence numbers and TCP options are the seed's.
///
/// Mix by flow count: 60% DNS, 37% TLS (curl and Chromium flows pooled), 1.5% plain HTTP, 1.5% QUIC.
/// Writing stops once both `--bytes` and `--flows` are reached; flows still in progress then run to
/// their end. Whole seed flows average tens of KB (a TLS GET is ~25 KB, an upload ~290 KB), so when
/// the targets ask for fewer bytes per flow, every TCP and QUIC flow is cut after its first packets
/// (never before the client's second payload packet or the server's first, so the TLS or QUIC
/// ClientHello and the HTTP request head are always whole): a capture that sees the start of many
/// long connections. Cut flows have no FIN, so a scanner keeps them until its idle timeout.
struct PcapGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gen-pcap", abstract: "Generate a capture from the seed flows.")

    @Option(help: "Least size in bytes.") var bytes: Int = 1_000_000_000
    @Option(help: "Least number of flows (a DNS query and its response are one flow).") var flows: Int = 1_000_000
    @Option(help: "Output file (classic pcap, Ethernet).") var output: String
    @Option(help: "Seed captures directory.") var seeds: String = "../shared/bench/seeds"
    @Option(help: "New flows per second of capture time.") var rate: Double = 1000
    @Option(help: "Seed packet spacing is multiplied by this (loopback round trips are ~50 µs: 5 ms).") var stretch: Double = 100
    @Option(help: "Distinct client addresses.") var clients: Int = 50_000
    @Option(help: "Distinct server addresses (DNS goes to 8 resolvers).") var servers: Int = 4000
    @Option(help: "Bytes kept per TCP/QUIC flow: 0 = chosen so --flows flows make about --bytes bytes, -1 = whole flows.")
    var flowBytes: Int = 0
    @Option(help: "SplitMix64 seed.") var seed: UInt64 = 2026
    @Option(help: "Only flows of this kind (dns, tls, http, quic) instead of the mix, e.g. tls with --flow-bytes 1 for a table of flows that all stay open.")
    var only: Kind? = nil

    enum Kind: Int, CaseIterable, ExpressibleByArgument {
        case dns, tls, http, quic
        init?(argument: String) { guard let k = Self.allCases.first(where: { "\($0)" == argument }) else { return nil }; self = k }
    }
    /// Share of flows per kind, in per mille, in `Kind` order.
    static let mix = [600, 370, 15, 15]
    static let files: [(String, Kind)] = [
        ("dns-dnsmasq.pcap", .dns), ("dns-bind.pcap", .dns), ("tls-curl.pcap", .tls), ("tls-chromium.pcap", .tls),
        ("http-curl.pcap", .http), ("quic-chromium.pcap", .quic), ("quic-aioquic.pcap", .quic),
    ]

    struct SeedPacket {
        var offset: Int64      // µs after the flow's first packet
        var fromClient: Bool
        var frame: [UInt8]     // Ethernet frame, whole (caplen == len)
    }
    struct SeedFlow {
        var kind: Kind
        var packets: [SeedPacket]
        /// A cut flow keeps at least these first packets (the client's name-bearing head).
        var minPackets: Int
        /// File bytes (record header + frame) of the first k packets, k = 0...count.
        var cumulative: [Int]
        func keep(budget: Int) -> Int {
            if budget < 0 { return packets.count }
            var k = minPackets
            while k < packets.count && cumulative[k] < budget { k += 1 }
            return k
        }
    }

    func loadSeeds() throws -> [[SeedFlow]] {
        var byKind = [[SeedFlow]](repeating: [], count: Kind.allCases.count)
        var skipped = 0
        for (name, kind) in Self.files {
            let reader: PcapReader
            do { reader = try PcapReader(path: seeds + "/" + name) } catch { throw ValidationError(error.description) }
            guard reader.dlt == 1 else { throw ValidationError("\(name): link type \(reader.linkTypeName), want Ethernet") }
            struct Key: Hashable { var proto: UInt8; var a: [UInt8]; var b: [UInt8] }
            var order: [Key] = []
            var table: [Key: (client: [UInt8], start: Int64, packets: [SeedPacket])] = [:]
            loop: while true {
                switch reader.next() {
                case .end, .timeout: break loop  // a file never times out
                case .error(let m): throw ValidationError("\(name): \(m)")
                case .packet(let ts, let captured, let length):
                    let f = [UInt8](captured)
                    // Ethernet + IPv4 (the seeds are 127.0.0.1 on lo) + TCP or UDP, not truncated.
                    guard length == f.count, f.count >= 34, f[12] == 0x08, f[13] == 0x00, f[14] >> 4 == 4 else { skipped += 1; continue }
                    let ihl = Int(f[14] & 0x0F) * 4
                    let proto = f[23]
                    guard proto == 6 || proto == 17, f.count >= 14 + ihl + 8 else { skipped += 1; continue }
                    let l4 = 14 + ihl
                    let src = Array(f[26..<30] + f[l4..<(l4 + 2)]), dst = Array(f[30..<34] + f[(l4 + 2)..<(l4 + 4)])
                    let serverPort = kind == .dns ? 53 : kind == .http ? 80 : 443
                    let sport = Int(f[l4]) << 8 | Int(f[l4 + 1]), dport = Int(f[l4 + 2]) << 8 | Int(f[l4 + 3])
                    guard (proto == 6) == (kind == .tls || kind == .http), sport == serverPort || dport == serverPort else { skipped += 1; continue }
                    let key = src.lexicographicallyPrecedes(dst) ? Key(proto: proto, a: src, b: dst) : Key(proto: proto, a: dst, b: src)
                    let us = ts.microseconds
                    if table[key] == nil {
                        // The first packet's sender is the client (every seed TCP stream starts with its SYN).
                        table[key] = (src, us, [])
                        order.append(key)
                    }
                    table[key]!.packets.append(SeedPacket(offset: us - table[key]!.start, fromClient: src == table[key]!.client, frame: f))
                }
            }
            for key in order {
                let packets = table[key]!.packets
                // A cut flow keeps the client's first two payload packets (a ClientHello or QUIC Initial
                // flight may span two) or, if earlier, everything through the server's first payload packet.
                var minPackets = packets.count, clientPayloads = 0
                for (i, p) in packets.enumerated() where payloadLength(p.frame) > 0 {
                    if p.fromClient { clientPayloads += 1 }
                    if !p.fromClient || clientPayloads == 2 { minPackets = i + 1; break }
                }
                var cumulative = [0]
                for p in packets { cumulative.append(cumulative.last! + 16 + p.frame.count) }
                byKind[kind.rawValue].append(SeedFlow(kind: kind, packets: packets, minPackets: minPackets, cumulative: cumulative))
            }
        }
        for k in Kind.allCases where byKind[k.rawValue].isEmpty { throw ValidationError("no \(k) flows in \(seeds)") }
        if skipped > 0 { print("gen-pcap: \(skipped) seed packets skipped (not IPv4 TCP/UDP of the file's kind)") }
        return byKind
    }

    /// Expected file bytes per flow when TCP and QUIC flows keep `budget` bytes.
    static func meanBytes(_ byKind: [[SeedFlow]], budget: Int, mix: [Int]) -> Double {
        var total = 0.0
        for k in Kind.allCases {
            let seedFlows = byKind[k.rawValue]
            let mean = Double(seedFlows.reduce(0) { $0 + $1.cumulative[k == .dns ? $1.packets.count : $1.keep(budget: budget)] }) / Double(seedFlows.count)
            total += Double(mix[k.rawValue]) / 1000 * mean
        }
        return total
    }

    struct Live {
        var seedFlow: SeedFlow
        var keep: Int
        var start: Int64
        var client: UInt32
        var clientPort: UInt16
        var server: UInt32
    }
    struct Event: Comparable {
        var t: Int64
        var slot: Int32
        var index: Int32
        static func < (l: Event, r: Event) -> Bool { (l.t, l.slot, l.index) < (r.t, r.slot, r.index) }
    }

    func run() throws {
        guard bytes > 0 || flows > 0, rate > 0, clients > 0, clients < 1 << 24, servers > 0, servers < 1 << 17 else {
            throw ValidationError("--bytes/--flows, --rate, --clients (< 2^24), --servers (< 2^17) must be positive")
        }
        let byKind = try loadSeeds()
        let mix = only.map { k in Kind.allCases.map { $0 == k ? 1000 : 0 } } ?? Self.mix
        // The per-flow byte budget: the smallest that gives --bytes over --flows flows on average.
        var budget = flowBytes
        if budget == 0 {
            let want = Double(bytes) / Double(max(flows, 1))
            let most = byKind.flatMap { $0 }.map { $0.cumulative.last! }.max()!
            if Self.meanBytes(byKind, budget: -1, mix: mix) <= want {
                budget = -1
            } else {
                var lo = 0, hi = most
                while lo < hi { let mid = (lo + hi) / 2; if Self.meanBytes(byKind, budget: mid, mix: mix) < want { lo = mid + 1 } else { hi = mid } }
                budget = lo
            }
        }
        print("gen-pcap: seed flows dns \(byKind[0].count), tls \(byKind[1].count), http \(byKind[2].count), quic \(byKind[3].count); "
              + (budget < 0 ? "whole flows" : "TCP/QUIC flows cut after \(budget) bytes")
              + String(format: " (expected %.0f bytes per flow)", Self.meanBytes(byKind, budget: budget, mix: mix)))

        guard let out = fopen(output, "w") else { throw ValidationError("cannot write \(output)") }
        var buffer = [UInt8]()
        buffer.reserveCapacity(1 << 22 + 70_000)
        // Global header: magic (microseconds), version 2.4, thiszone 0, sigfigs 0, snaplen 262144, Ethernet.
        for v in [UInt32(0xA1B2_C3D4)] { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
        for v in [UInt16(2), 4] { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
        for v in [UInt32(0), 0, 262_144, 1] { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }

        var rng = SplitMix64(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        // Client addresses: 10.0.0.0/8 through a bijection of the index. Client ports: Linux's ephemeral
        // range (32768-60999, clear of 53 and 5353, which scanners take for DNS), from a per-client base,
        // unique per flow.
        let clientAddress = (0..<clients).map { UInt32(0x0A00_0000) | (UInt32($0 + 1) &* 0x9E3779 & 0xFF_FFFF) }
        var clientNextPort = (0..<clients).map { _ in UInt16(32_768 + rng.next() % 28_232) }
        var clientFlows = [Int](repeating: 0, count: clients)
        let serverAddress = (0..<servers).map { UInt32(0xC612_0000) | (UInt32($0 + 1) &* 40_503 & 0x1_FFFF) }  // 198.18.0.0/15
        let resolvers = (1...8).map { UInt32(0xC613_FF00) | UInt32($0) }  // 198.19.255.1-8

        var live: [Live?] = []
        var free: [Int32] = []
        var heap: [Event] = []
        func push(_ e: Event) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 { let p = (i - 1) / 2; if heap[i] < heap[p] { heap.swapAt(i, p); i = p } else { break } }
        }
        func pop() -> Event {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && heap[l] < heap[m] { m = l }
                    if r < heap.count && heap[r] < heap[m] { m = r }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
            return top
        }

        let t0: Int64 = 1_795_606_324 * 1_000_000
        var nextStart = t0
        var started = 0, written = buffer.count, packets = 0, cut = 0, maxConcurrent = 0
        var startedByKind = [0, 0, 0, 0]
        var lastTime = t0
        while true {
            let wantMore = started < flows || written < bytes
            if wantMore && (heap.isEmpty || nextStart <= heap[0].t) {
                let u = Int(rng.next() % 1000)
                var acc = 0, kind = Kind.dns
                for k in Kind.allCases { acc += mix[k.rawValue]; if u < acc { kind = k; break } }
                let pool = byKind[kind.rawValue]
                let sf = pool[Int(rng.next() % UInt64(pool.count))]
                var c = Int(rng.next() % UInt64(clients))
                while clientFlows[c] >= 28_232 { c = (c + 1) % clients }  // every port of this client used
                clientFlows[c] += 1
                let port = clientNextPort[c]
                clientNextPort[c] = port >= 60_999 ? 32_768 : port + 1
                let server = kind == .dns ? resolvers[Int(rng.next() % 8)] : serverAddress[Int(Double(servers) * uniform() * uniform())]
                let keep = kind == .dns ? sf.packets.count : sf.keep(budget: budget)
                if keep < sf.packets.count { cut += 1 }
                let flow = Live(seedFlow: sf, keep: keep, start: nextStart, client: clientAddress[c], clientPort: port, server: server)
                let slot: Int32
                if let s = free.popLast() { slot = s; live[Int(s)] = flow } else { slot = Int32(live.count); live.append(flow) }
                push(Event(t: nextStart, slot: slot, index: 0))
                started += 1
                startedByKind[kind.rawValue] += 1
                maxConcurrent = max(maxConcurrent, heap.count)
                nextStart += Int64(-log(1 - uniform()) / rate * 1e6)  // Poisson arrivals
                continue
            }
            if heap.isEmpty { break }
            let e = pop()
            let f = live[Int(e.slot)]!
            let p = f.seedFlow.packets[Int(e.index)]
            lastTime = e.t
            // Record header: seconds, microseconds, captured length, original length.
            let n = p.frame.count
            for v in [UInt32(e.t / 1_000_000), UInt32(e.t % 1_000_000), UInt32(n), UInt32(n)] { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
            let at = buffer.count
            buffer += p.frame
            buffer.withUnsafeMutableBytes { raw in
                rewrite(UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + n)]), fromClient: p.fromClient,
                        client: f.client, clientPort: f.clientPort, server: f.server)
            }
            packets += 1
            let next = Int(e.index) + 1
            if next < f.keep {
                let t = f.start + Int64(Double(f.seedFlow.packets[next].offset) * stretch)
                push(Event(t: max(t, e.t), slot: e.slot, index: Int32(next)))
            } else {
                live[Int(e.slot)] = nil
                free.append(e.slot)
            }
            if buffer.count >= 1 << 22 {
                guard fwrite(buffer, 1, buffer.count, out) == buffer.count else { throw ValidationError("write failed: \(output)") }
                written += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        guard fwrite(buffer, 1, buffer.count, out) == buffer.count, fclose(out) == 0 else { throw ValidationError("write failed: \(output)") }
        written += buffer.count
        print("gen-pcap: \(output): \(written) bytes, \(packets) packets, \(started) flows (dns \(startedByKind[0]), tls \(startedByKind[1]), "
              + "http \(startedByKind[2]), quic \(startedByKind[3])), \(cut) cut; \(clientFlows.filter { $0 > 0 }.count) clients; "
              + String(format: "%.0f s of capture time; at most %d flows in progress at once", Double(lastTime - t0) / 1e6, maxConcurrent))
    }

    /// The frame's TCP or UDP payload length (IPv4).
    func payloadLength(_ f: [UInt8]) -> Int {
        let ihl = Int(f[14] & 0x0F) * 4
        let total = Int(f[16]) << 8 | Int(f[17])
        let l4 = 14 + ihl
        if f[23] == 6 { return total - ihl - Int(f[l4 + 12] >> 4) * 4 }
        return total - ihl - 8
    }
}

/// New addresses and client port into one Ethernet/IPv4/TCP-or-UDP frame; IPv4 header and TCP/UDP
/// checksums recomputed.
func rewrite(_ f: UnsafeMutableRawBufferPointer, fromClient: Bool, client: UInt32, clientPort: UInt16, server: UInt32) {
    let ihl = Int(f[14] & 0x0F) * 4
    let l4 = 14 + ihl
    let proto = f[23]
    f.storeBytes(of: (fromClient ? client : server).bigEndian, toByteOffset: 26, as: UInt32.self)
    f.storeBytes(of: (fromClient ? server : client).bigEndian, toByteOffset: 30, as: UInt32.self)
    f.storeBytes(of: clientPort.bigEndian, toByteOffset: fromClient ? l4 : l4 + 2, as: UInt16.self)
    f.storeBytes(of: 0, toByteOffset: 24, as: UInt16.self)
    f.storeBytes(of: ~fold(sum(UnsafeRawBufferPointer(rebasing: f[14..<l4]))), toByteOffset: 24, as: UInt16.self)
    let total = Int(f[16]) << 8 | Int(f[17])
    let l4Length = min(total - ihl, f.count - l4)
    let checksumAt = proto == 6 ? l4 + 16 : l4 + 6
    f.storeBytes(of: 0, toByteOffset: checksumAt, as: UInt16.self)
    // Pseudo-header: source, destination, zero, protocol, length; summed in memory order like the rest.
    var pseudo = sum(UnsafeRawBufferPointer(rebasing: f[26..<34]))
    withUnsafeBytes(of: (UInt16(proto).bigEndian, UInt16(l4Length).bigEndian)) { pseudo += sum($0) }
    var c = ~fold(pseudo + sum(UnsafeRawBufferPointer(rebasing: f[l4..<(l4 + l4Length)])))
    if proto == 17 && c == 0 { c = 0xFFFF }
    f.storeBytes(of: c, toByteOffset: checksumAt, as: UInt16.self)
}

/// Ones' complement sum of 16-bit words in memory order (RFC 1071: byte order does not matter if the
/// result is stored back the same way), not yet folded.
@inline(__always) func sum(_ b: UnsafeRawBufferPointer) -> UInt64 {
    var s: UInt64 = 0
    var i = 0
    while i + 4 <= b.count { s += UInt64(b.loadUnaligned(fromByteOffset: i, as: UInt32.self)); i += 4 }
    if i + 2 <= b.count { s += UInt64(b.loadUnaligned(fromByteOffset: i, as: UInt16.self)); i += 2 }
    if i < b.count { s += UInt64(b[i]) }  // odd last byte: the high-order byte in memory order on little-endian
    return s
}

@inline(__always) func fold(_ x: UInt64) -> UInt16 {
    var s = x
    while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
    return UInt16(s)
}
