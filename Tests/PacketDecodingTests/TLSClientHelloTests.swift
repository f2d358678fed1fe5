import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

final class TLSClientHelloTests: XCTestCase {
    /// The client's first TCP payload of the fixture's first flow: curl's ClientHello to chatgpt.com
    /// (frame 4 of ai-traffic.pcap, as tshark shows it).
    static func realHello() throws -> [UInt8] {
        let reader = try PcapReader(path: TestPaths.fixture("ai-traffic.pcap"))
        var frame = 0
        while case .packet(_, let bytes, _) = reader.next() {
            frame += 1
            guard frame == 4 else { continue }
            guard case .ipv4(let c) = try LinkLayer.decode(bytes, linkType: .ethernet) else { break }
            return Array(try TCPSegment.decode(try IPDecoder.decodeV4(c).payload).payload)
        }
        throw XCTSkip("frame 4 not found")
    }

    func testRealCurlHelloYieldsSNI() throws {
        let hello = try Self.realHello()
        XCTAssertEqual(try TLSClientHello.parse(hello),
                       .hello(.init(serverName: "chatgpt.com", offersECH: false, invalidServerName: false)))
    }

    func testEveryStrictPrefixOfARealHelloNeedsMoreData() throws {
        let hello = try Self.realHello()
        for n in 0..<hello.count {
            XCTAssertEqual(try TLSClientHello.parse(Array(hello.prefix(n))), .needMoreData, "prefix \(n)")
        }
    }

    func testHelloFragmentedAcrossThreeRecordsIsRecovered() throws {
        let hello = try Self.realHello()
        let handshake = Array(hello.dropFirst(5))
        var refragmented: [UInt8] = []
        let cuts = [0, 7, 100, handshake.count]
        for i in 0..<3 {
            let piece = handshake[cuts[i]..<cuts[i + 1]]
            refragmented += [22, 3, 1, UInt8(piece.count >> 8), UInt8(piece.count & 0xFF)] + piece
        }
        XCTAssertEqual(try TLSClientHello.parse(refragmented),
                       .hello(.init(serverName: "chatgpt.com", offersECH: false, invalidServerName: false)))
    }

    func testNonHandshakeFirstByteIsNotTLS() throws {
        XCTAssertEqual(try TLSClientHello.parse(Array("GET / HTTP/1.1\r\n".utf8)), .notTLS)
        XCTAssertEqual(try TLSClientHello.parse([23, 3, 3, 0, 5, 1, 2, 3, 4, 5]), .notTLS)
    }

    func testSSLv2StyleRecordVersionIsNotTLS() throws {
        XCTAssertEqual(try TLSClientHello.parse([22, 2, 0, 0, 5, 1, 0, 0, 1, 0]), .notTLS)
    }

    func testServerHelloInsteadOfClientHelloIsInvalid() {
        XCTAssertThrowsError(try TLSClientHello.parse([22, 3, 3, 0, 4, 2, 0, 0, 0])) { error in
            XCTAssertEqual((error as? DecodeError)?.code, TLSClientHello.badHandshake)
        }
    }

    func testHelloLengthAtLimitIsAcceptedAndOverLimitIsRejected() throws {
        // Announced length exactly at the limit: the parser waits for the bytes.
        let atLimit = TLSClientHello.maxHelloBytes - 4
        XCTAssertEqual(try TLSClientHello.parse(header(announcing: atLimit)), .needMoreData)
        XCTAssertThrowsError(try TLSClientHello.parse(header(announcing: atLimit + 1))) { error in
            XCTAssertEqual((error as? DecodeError)?.code, TLSClientHello.tooLarge)
        }
    }

    func testRecordsAtLimitAreReadAndOneMoreIsRejected() throws {
        let body = buildHello(extensions: [sni("claude.ai")])
        // The handshake split into exactly maxRecords records parses; maxRecords + 1 does not.
        XCTAssertEqual(try TLSClientHello.parse(split(body, into: TLSClientHello.maxRecords)),
                       .hello(.init(serverName: "claude.ai", offersECH: false, invalidServerName: false)))
        XCTAssertThrowsError(try TLSClientHello.parse(split(body, into: TLSClientHello.maxRecords + 1))) { error in
            XCTAssertEqual((error as? DecodeError)?.code, TLSClientHello.tooLarge)
        }
    }

    func testECHOfferIsFlaggedAndOuterNameReported() throws {
        let body = buildHello(extensions: [sni("public.example.com"), (0xFE0D, [0, 1, 2, 3])])
        XCTAssertEqual(try TLSClientHello.parse(record(body)),
                       .hello(.init(serverName: "public.example.com", offersECH: true, invalidServerName: false)))
    }

    func testServerNameIsLowerCasedAndTrailingDotDropped() throws {
        let body = buildHello(extensions: [sni("API.OpenAI.com.")])
        XCTAssertEqual(try TLSClientHello.parse(record(body)),
                       .hello(.init(serverName: "api.openai.com", offersECH: false, invalidServerName: false)))
    }

    func testServerNameWithBinaryBytesIsFlaggedNotReported() throws {
        let body = buildHello(extensions: [sni("evil\u{0}.com")])
        XCTAssertEqual(try TLSClientHello.parse(record(body)),
                       .hello(.init(serverName: nil, offersECH: false, invalidServerName: true)))
    }

    func testExtensionLengthBeyondHelloIsInvalid() {
        var body = buildHello(extensions: [sni("claude.ai")])
        body[body.count - 16] = 0xFF  // inflate the server_name extension's length (type 2, length 2, data 14)
        XCTAssertThrowsError(try TLSClientHello.parse(record(body))) { error in
            XCTAssertEqual((error as? DecodeError)?.code, TLSClientHello.badExtension)
        }
    }

    func testTwoServerNameExtensionsAreInvalid() {
        let body = buildHello(extensions: [sni("a.example"), sni("b.example")])
        XCTAssertThrowsError(try TLSClientHello.parse(record(body))) { error in
            XCTAssertEqual((error as? DecodeError)?.code, TLSClientHello.badExtension)
        }
    }

    func testRandomBytesAfterRecordHeaderNeverTrap() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<5_000 {
            let n = Int(rng.next() % 300)
            var bytes: [UInt8] = [22, 3, 1, UInt8(n >> 8), UInt8(n & 0xFF), 1]
            for _ in 0..<n { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            _ = try? TLSClientHello.parse(bytes)
        }
    }

    // MARK: builders for limit cases (real hellos are used above for behaviour)

    private func header(announcing length: Int) -> [UInt8] {
        [22, 3, 1, 0x40, 0x00, 1, UInt8(length >> 16), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
    }

    private func sni(_ name: String) -> (UInt16, [UInt8]) {
        let n = Array(name.utf8)
        let entry: [UInt8] = [0, UInt8(n.count >> 8), UInt8(n.count & 0xFF)] + n
        return (0, [UInt8(entry.count >> 8), UInt8(entry.count & 0xFF)] + entry)
    }

    /// A minimal TLS 1.2-style ClientHello handshake message with the given extensions.
    private func buildHello(extensions: [(UInt16, [UInt8])]) -> [UInt8] {
        var exts: [UInt8] = []
        for (type, data) in extensions {
            exts += [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
        }
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 0xAB, count: 32) + [0] + [0, 2, 0x13, 0x01] + [1, 0]
        body += [UInt8(exts.count >> 8), UInt8(exts.count & 0xFF)] + exts
        return [1, UInt8(body.count >> 16), UInt8((body.count >> 8) & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    private func record(_ handshake: [UInt8]) -> [UInt8] {
        [22, 3, 1, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xFF)] + handshake
    }

    private func split(_ handshake: [UInt8], into pieces: Int) -> [UInt8] {
        var out: [UInt8] = []
        let size = (handshake.count + pieces - 1) / pieces
        var start = 0
        for i in 0..<pieces {
            let end = i == pieces - 1 ? handshake.count : min(handshake.count, start + size)
            out += record(Array(handshake[start..<end]))
            start = end
        }
        return out
    }

    /// quic-go's interop client sends `server4:443` as SNI: the port goes, the host stays.
    func testPortAfterTheServerNameIsDroppedOnlyWhenItIsOneToFiveDigits() {
        func strip(_ s: String) -> String {
            Array(s.utf8).withUnsafeBytes { String(decoding: TLSClientHello.withoutPort($0), as: UTF8.self) }
        }
        XCTAssertEqual(strip("server4:443"), "server4")
        XCTAssertEqual(strip("api.openai.com:65535"), "api.openai.com")
        XCTAssertEqual(strip("a:655350"), "a:655350")  // six digits: not a port, left to be rejected
        XCTAssertEqual(strip("a:"), "a:")
        XCTAssertEqual(strip(":443"), ":443")
        XCTAssertEqual(strip("a:44x"), "a:44x")
        XCTAssertEqual(strip("chatgpt.com"), "chatgpt.com")
    }
}

final class SequenceSpanTests: XCTestCase {
    func testRetransmissionCountsOnce() {
        var s = SequenceSpan()
        s.syn(1000)
        s.payload(1001, length: 100)
        s.payload(1001, length: 100)
        s.payload(1101, length: 50)
        XCTAssertEqual(s.bytes, 150)
    }

    func testSequenceWrapAroundIsUnwrapped() {
        var s = SequenceSpan()
        s.syn(UInt32.max - 10)
        s.payload(UInt32.max - 9, length: 5)
        s.payload(UInt32.max - 4, length: 100)
        XCTAssertEqual(s.bytes, 105)
    }

    func testMidStreamStartCountsFromLowestSeen() {
        var s = SequenceSpan()
        s.payload(5000, length: 100)
        s.payload(4900, length: 100)  // arrived out of order
        XCTAssertEqual(s.bytes, 200)
    }

    func testFlowsOverFourGiBKeepCounting() {
        var s = SequenceSpan()
        s.syn(0)
        var seq: UInt32 = 1
        let segment = 65_536
        for _ in 0..<(5 * (1 << 30) / segment) {
            s.payload(seq, length: segment)
            seq = seq &+ UInt32(segment)
        }
        XCTAssertEqual(s.bytes, 5 * (1 << 30))
    }
}
