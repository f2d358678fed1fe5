import Foundation
import Glibc
@testable import LogFormats
@testable import PacketDecoding
import ShadowScopeCore
import Signatures
import TestSupport

/// The fuzz harnesses of Fuzz/Sources/<Target>/main.swift, callable from the normal (debug) build, so
/// every input kept in Tests/Regressions/<Target>/ is replayed by `make test`. Keep each in step with
/// its fuzz target.
enum FuzzReplay {
    static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "FuzzCapture": capture, "FuzzPacket": packet, "FuzzReassembly": reassembly, "FuzzTLS": tls,
        "FuzzQUIC": quic, "FuzzQUICFrames": quicFrames, "FuzzDNS": dns, "FuzzHTTP": http,
        "FuzzLogs": logs, "FuzzDecompress": decompress, "FuzzCatalog": catalog, "FuzzPolicy": policy,
    ]

    static var regressionsFolder: URL { TestPaths.repoRoot.appendingPathComponent("Tests/Regressions") }

    /// Replays one saved input through the harness named by its folder.
    static func replay(_ target: String, _ name: String) throws {
        let url = regressionsFolder.appendingPathComponent(target).appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        guard let run = targets[target] else { throw CocoaError(.fileNoSuchFile) }
        data.withUnsafeBytes { run($0) }
    }

    static func capture(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0,
              let stream = fmemopen(UnsafeMutableRawPointer(mutating: base), bytes.count, "rb") else { return }
        guard let reader = try? PcapReader(stream: stream, name: "fuzz") else { return }
        var report = InputReport(file: "fuzz", format: "pcap")
        CaptureScanner().scan(reader, file: "fuzz", report: &report) { _ in }
    }

    static let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .null]

    static func packet(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let frame = UnsafeRawBufferPointer(rebasing: bytes[1...])
        do {
            let ip: IPPacket
            switch try LinkLayer.decode(frame, linkType: linkTypes[Int(first) % linkTypes.count]) {
            case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
            case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
            case .other, .otherPPP: return
            }
            if ip.proto == 6 { _ = try TCPSegment.decode(ip.payload) }
            if ip.proto == 17 { _ = try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength) }
        } catch {}
    }

    static func reassembly(_ input: UnsafeRawBufferPointer) {
        var c = ByteCursor(input)
        var table = FlowTable(file: "fuzz", limits: FlowTable.Limits(maxFlows: 2, tcpIdleTimeoutSeconds: 60,
                                                                     closedLingerSeconds: 2, udpIdleTimeoutSeconds: 30))
        var report = InputReport(file: "fuzz", format: "pcap")
        var seq: [UInt32] = [1000, 5000, 90000, 70000]
        var seconds: Int64 = 1_700_000_000
        var frame = 0
        while let flags = c.readU8(), let delta = c.readU16(), let dt = c.readU8(), let length = c.readU8() {
            let payload = Array(c.readBytes(Int(length)) ?? c.rest)
            let reverse = flags & 0x80 != 0
            let conn = Int(flags >> 6 & 1)
            let dir = conn * 2 + (reverse ? 1 : 0)
            seq[dir] = seq[dir] &+ UInt32(bitPattern: Int32(Int16(bitPattern: delta)))
            seconds += Int64(dt)
            frame += 1
            let client: [UInt8] = [10, 0, 0, UInt8(1 + conn)], server: [UInt8] = [192, 0, 2, 7]
            let (src, dst) = reverse ? (server, client) : (client, server)
            let (sport, dport): (UInt16, UInt16) = reverse ? (443, UInt16(40000 + conn)) : (UInt16(40000 + conn), 443)
            let total = 40 + payload.count
            let s = seq[dir]
            var p: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0]
            p += src + dst
            p += [UInt8(sport >> 8), UInt8(sport & 0xFF), UInt8(dport >> 8), UInt8(dport & 0xFF)]
            p += [UInt8(s >> 24), UInt8(s >> 16 & 0xFF), UInt8(s >> 8 & 0xFF), UInt8(s & 0xFF), 0, 0, 0, 0]
            p += [0x50, flags & 0x3F, 0xFF, 0xFF, 0, 0, 0, 0]
            p += payload
            p.withUnsafeBytes { bytes in
                do {
                    let ip = try IPDecoder.decodeV4(ByteCursor(bytes))
                    let tcp = try TCPSegment.decode(ip.payload)
                    table.add(ip, tcp, ts: Timestamp(seconds: seconds), frame: frame, report: &report) { _ in }
                } catch {
                    report.skip(at: "fuzz:\(frame)", reason: "\(error)")
                }
            }
        }
        table.finishAll(report: &report) { _ in }
    }

    static func tls(_ bytes: UnsafeRawBufferPointer) {
        _ = try? TLSClientHello.parse(bytes)
        _ = try? TLSClientHello.parseHandshake(bytes)
    }

    static func quic(_ input: UnsafeRawBufferPointer) {
        var whole = QUICInitialAssembler()
        _ = whole.add(datagram: input)
        var assembler = QUICInitialAssembler()
        var c = ByteCursor(input)
        while let length = c.readU16() {
            let datagram = c.readBytes(Int(length)) ?? c.rest
            _ = assembler.add(datagram: datagram)
            if datagram.count < Int(length) { break }
        }
        var h = ByteCursor(input)
        while let next = try? QUICHeader.next(&h) { _ = next.bytes.count }
    }

    /// The plaintext side only (the fuzz target also seals each part into a protected Initial).
    static func quicFrames(_ input: UnsafeRawBufferPointer) {
        var parts: [UnsafeRawBufferPointer] = []
        var c = ByteCursor(input)
        while let length = c.readU16(), parts.count < 8 {
            let part = c.readBytes(Int(length)) ?? c.rest
            parts.append(part)
            if part.count < Int(length) { break }
        }
        if parts.isEmpty { parts = [input] }
        var stream = QUICCryptoStream()
        for part in parts {
            if let parsed = try? QUICFrames.parse(part) {
                for frame in parsed.crypto { try? stream.add(offset: frame.offset, data: frame.data) }
                _ = try? TLSClientHello.parseHandshake(Array(stream.contiguousPrefix))
            }
        }
    }

    static func dns(_ bytes: UnsafeRawBufferPointer) {
        if let m = try? DNSMessage.parse(bytes) {
            _ = m.answerTexts
            _ = m.addressAnswers
            _ = m.info
        }
        _ = DNSMessage.parseTCPStream(bytes)
    }

    static func http(_ bytes: UnsafeRawBufferPointer) {
        _ = try? HTTPRequestHead.parse(bytes)
    }

    struct MemorySource: ByteSource {
        var bytes: [UInt8]
        var offset = 0
        var chunk: Int
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
            let n = min(chunk, buffer.count, bytes.count - offset)
            guard n > 0, let dst = buffer.baseAddress else { return 0 }
            bytes.withUnsafeBytes { src in dst.copyMemory(from: src.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
    }

    static let logFormats: [any LogFormat] = {
        var all = allLogFormats
        for name in ["squid", "common", "combined", "referrer", "useragent"] {
            if let f = try? SquidCustom(logformat: name) { all.append(f) }
        }
        if let f = try? SquidCustom(logformat: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt %>st %{Host}>h") { all.append(f) }
        return all
    }()

    static func logs(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 2 else { return }
        let format = logFormats[Int(bytes[0]) % logFormats.count]
        let text = UnsafeRawBufferPointer(rebasing: bytes[2...])
        _ = detectLogFormat(sample: text)
        var source = MemorySource(bytes: Array(text), chunk: Int(bytes[1]) + 1)
        var report = InputReport(file: "fuzz", format: format.name)
        LogScanner(format: format).scan(source: &source, file: "fuzz", report: &report) { _ in }
    }

    static func decompress(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let kinds: [Compression] = [.gzip, .zstd, .bzip2, .xz]
        let kind = Compression(magic: bytes) ?? kinds[Int(first) % kinds.count]
        var source = kind.source(over: MemorySource(bytes: Array(bytes), chunk: 4096))
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { out.deallocate() }
        var total = 0
        while total < 256 << 20 {
            guard let n = try? source.read(into: out), n > 0 else { break }
            total += n
        }
    }

    static func catalog(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let catalog = try? CatalogLoader.load(files: [(path: "signatures/fuzz.yaml", text: text)]) {
            _ = HostMatcher(catalog: catalog)
        }
    }

    static func policy(_ bytes: UnsafeRawBufferPointer) {
        let yaml = """
        vendor: Fuzz
        vendor_id: fuzz
        website: https://fuzz.example
        services:
          - id: fuzz-chat
            name: Fuzz Chat
            tier: consumer
            tier_in_name: false
            category: chat
            source: https://fuzz.example/
            processing_regions: []
            hosts:
              - pattern: chat.fuzz.example
                source: https://fuzz.example/
        """
        let catalog = (try? CatalogLoader.load(files: [(path: "signatures/fuzz.yaml", text: yaml)])) ?? Catalog(vendors: [])
        _ = try? PolicyLoader.load(text: String(decoding: bytes, as: UTF8.self), file: "policy.yaml", catalog: catalog)
    }
}
