import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

/// fixtures/crafted-gquic.pcap (craft_gquic.py): the first client packet of a Google QUIC connection in
/// each version Chromium sent with an IETF-style long header. No gQUIC client runs here (Chromium dropped
/// it), so the packets are built to the formats; tshark 4.0.17 is the oracle: `tshark -r crafted-gquic.pcap
/// -T fields -e gquic.tag.sni -e tls.handshake.extensions_server_name` prints the same four names
/// (Q046 in cleartext, Q050 as a decrypted CHLO, T050 and T051 as decrypted TLS ClientHellos).
final class GoogleQUICTests: XCTestCase {
    static let names = ["q046.gemini.google.com", "q050.gemini.google.com", "t050.gemini.google.com", "t051.gemini.google.com"]

    /// The UDP payloads of the fixture's four frames.
    static func datagrams() throws -> [[UInt8]] {
        let reader = try PcapReader(path: TestPaths.fixture("crafted-gquic.pcap"))
        var out: [[UInt8]] = []
        while case .packet(_, let bytes, _) = reader.next() {
            guard case .ipv4(let c) = try LinkLayer.decode(bytes, linkType: .ethernet) else { continue }
            let ip = try IPDecoder.decodeV4(c)
            out.append(Array(try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength).payload))
        }
        return out
    }

    func testEachGoogleQUICVersionGivesItsServerName() throws {
        let (observations, report) = try scan(TestPaths.fixture("crafted-gquic.pcap"))
        XCTAssertEqual(observations.map(\.host), Self.names)
        XCTAssertEqual(observations.map(\.hostSource), Array(repeating: .quicSNI, count: 4))
        XCTAssertEqual(observations.map(\.source.position), [1, 2, 3, 4].map { .frame($0) })
        XCTAssertEqual(observations.map(\.bytesUp), [1350, 1348, 1348, 1348])  // tshark: udp.length - 8
        XCTAssertEqual(observations.map(\.clientPort), [40001, 40002, 40003, 40004])
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertTrue(report.anomalies.isEmpty, "\(report.anomalies)")
    }

    /// Every prefix of every packet: the right name once the handshake message is whole, otherwise more
    /// data wanted or a counted error; never another name, never a trap.
    func testEveryPrefixGivesTheNameOrNothing() throws {
        for (datagram, name) in zip(try Self.datagrams(), Self.names) {
            var named = 0
            for n in 0...datagram.count {
                var assembler = QUICInitialAssembler()
                switch assembler.add(datagram: Array(datagram.prefix(n))) {
                case .sni(let hello):
                    XCTAssertEqual(hello.serverName, name, "prefix \(n)")
                    named += 1
                case .needMoreData, .error: break
                case let other: XCTFail("prefix \(n) of the \(name) packet: \(other)")
                }
            }
            XCTAssertGreaterThan(named, 0, name)
        }
    }

    /// Bytes flipped at random places: decoded, refused or counted, never a trap; a protected packet
    /// whose ciphertext changed fails its AEAD check instead of giving a name.
    func testCorruptedPacketsAreRefusedNotFatal() throws {
        var rng = SplitMix64(seed: 9)
        for (i, datagram) in try Self.datagrams().enumerated() {
            for _ in 0..<300 {
                var bad = datagram
                for _ in 0..<Int(1 + rng.next() % 3) { bad[Int(rng.next() % UInt64(bad.count))] ^= UInt8(1 + rng.next() % 255) }
                var assembler = QUICInitialAssembler()
                if case .sni(let hello) = assembler.add(datagram: bad), i > 0, let name = hello.serverName {
                    XCTAssertEqual(name, Self.names[i], "a protected packet decrypts only unchanged")
                }
            }
        }
    }

    /// The CHLO reader on hostile messages: a lying tag count, offsets that go back, values past the
    /// end, a name that is not a host name, upper case, and something that is not a CHLO.
    func testCHLOReaderOnHostileMessages() throws {
        func chlo(_ entries: [(String, [UInt8])], count: Int? = nil, ends: [UInt32]? = nil) -> [UInt8] {
            var out = Array("CHLO".utf8) + [UInt8(truncatingIfNeeded: count ?? entries.count), UInt8(truncatingIfNeeded: (count ?? entries.count) >> 8), 0, 0]
            var end: UInt32 = 0
            for (i, (tag, value)) in entries.enumerated() {
                end += UInt32(value.count)
                let e = ends?[i] ?? end
                out += Array(tag.utf8) + [UInt8(e & 0xFF), UInt8(e >> 8 & 0xFF), UInt8(e >> 16 & 0xFF), UInt8(e >> 24)]
            }
            return out + entries.flatMap(\.1)
        }
        func parse(_ bytes: [UInt8]) throws -> TLSClientHello.Result { try bytes.withUnsafeBytes { try GoogleQUIC.parseCHLO($0) } }
        let good = chlo([("PAD\0", [0, 0]), ("SNI\0", Array("Claude.AI".utf8))])
        XCTAssertEqual(try parse(good), .hello(.init(serverName: "claude.ai", offersECH: false, invalidServerName: false)))
        for n in 0..<good.count { XCTAssertEqual(try parse(Array(good.prefix(n))), .needMoreData, "prefix \(n)") }
        XCTAssertEqual(try parse(chlo([("SNI\0", Array("not a host".utf8))])),
                       .hello(.init(serverName: nil, offersECH: false, invalidServerName: true)))
        XCTAssertEqual(try parse(chlo([("VER\0", Array("Q050".utf8))])),
                       .hello(.init(serverName: nil, offersECH: false, invalidServerName: false)))
        XCTAssertEqual(try parse(Array("REJ\0".utf8) + [0, 0, 0, 0]), .notTLS)
        XCTAssertThrowsError(try parse(chlo([], count: 0xFFFF)))
        XCTAssertThrowsError(try parse(chlo([("PAD\0", [0, 0]), ("SNI\0", Array("a.ai".utf8))], ends: [4, 2])))
        XCTAssertThrowsError(try parse(chlo([("SNI\0", Array("a.ai".utf8))], ends: [0xFFFF_FFFF])))
    }
}
