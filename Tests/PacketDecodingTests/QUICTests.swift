import Crypto
import Foundation
import ShadowScopeCore
import TestSupport
import XCTest
import _CryptoExtras

@testable import PacketDecoding

/// QUIC Initial → SNI: header walking, Initial decryption, CRYPTO reassembly, each on plain bytes, then
/// the per-flow assembler on RFC vectors and on the aioquic and Chromium seed captures.
final class QUICTests: XCTestCase {
    // MARK: RFC 9001 / RFC 9369 vectors

    func testRFC9001ClientAndServerInitialKeysFromDCID() {
        let client = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        XCTAssertEqual(client.key, quicHex("1f369613dd76d5467730efcbe3b1a22d"))
        XCTAssertEqual(client.iv, quicHex("fa044b2f42a3fd3b46fb255c"))
        XCTAssertEqual(client.hp, quicHex("9f50449e04a0e810283a1e9933adedd2"))
        let server = QUICInitialKeys.server(destinationConnectionID: RFCVectors.dcid, version: .v1)
        XCTAssertEqual(server.key, quicHex("cf3a5331653c364c88f0f379b6067e37"))
        XCTAssertEqual(server.iv, quicHex("0ac1493ca1905853b0bba03e"))
        XCTAssertEqual(server.hp, quicHex("c206b8d9b9f0f37644430b490eeaa314"))
    }

    func testRFC9001ProtectedClientInitialDecryptsToTheGivenCryptoFrame() throws {
        let (header, opened) = try openFirst(RFCVectors.v1ClientInitial,
                                             keys: .client(destinationConnectionID: RFCVectors.dcid, version: .v1))
        XCTAssertEqual(header.version, .v1)
        XCTAssertEqual(header.type, .initial)
        XCTAssertEqual(header.destinationConnectionID, RFCVectors.dcid)
        XCTAssertEqual(header.sourceConnectionID, [])
        XCTAssertEqual(header.packetNumberOffset, 18)
        XCTAssertEqual(header.packetLength, 1200)
        XCTAssertEqual(opened.packetNumber, 2)
        XCTAssertEqual(opened.header, RFCVectors.v1ClientHeader)
        XCTAssertEqual(opened.payload, RFCVectors.v1ClientCryptoFrame + [UInt8](repeating: 0, count: 1162 - 245))
        let frames = try parseFrames(opened.payload)
        XCTAssertEqual(frames.crypto.count, 1)
        XCTAssertEqual(frames.crypto.first?.offset, 0)
        XCTAssertEqual(frames.crypto.first?.data, Array(RFCVectors.v1ClientCryptoFrame.dropFirst(4)))
        XCTAssertEqual(frames.paddingBytes, 917)
        XCTAssertNil(frames.anomaly)
    }

    func testRFC9001ClientInitialYieldsExampleCom() {
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v1ClientInitial), .sni(hello("example.com")))
        XCTAssertEqual(assembler.clientDestinationConnectionID, RFCVectors.dcid)
        XCTAssertEqual(assembler.version, .v1)
        XCTAssertEqual(assembler.counters.initialPackets, 1)
    }

    func testRFC9001ServerInitialOpensWithServerKeysToAnACKAndACryptoFrame() throws {
        let (header, opened) = try openFirst(RFCVectors.v1ServerInitial,
                                             keys: .server(destinationConnectionID: RFCVectors.dcid, version: .v1))
        XCTAssertEqual(header.destinationConnectionID, [])
        XCTAssertEqual(header.sourceConnectionID, quicHex("f067a5502a4262b5"))
        XCTAssertEqual(opened.packetNumber, 1)
        XCTAssertEqual(opened.header, quicHex("c1000000010008f067a5502a4262b50040750001"))
        XCTAssertEqual(opened.payload, RFCVectors.v1ServerPayload)
        let frames = try parseFrames(opened.payload)
        XCTAssertEqual(frames.acks, 1)
        XCTAssertEqual(frames.crypto.map(\.offset), [0])
        XCTAssertEqual(frames.crypto.first?.data.count, 0x5A)
    }

    func testRFC9369Version2KeysAndClientInitialYieldExampleCom() throws {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v2)
        XCTAssertEqual(keys.key, quicHex("8b1a0bc121284290a29e0971b5cd045d"))
        XCTAssertEqual(keys.iv, quicHex("91f73e2351d8fa91660e909f"))
        XCTAssertEqual(keys.hp, quicHex("45b95e15235d6f45a6b19cbcb0294ba9"))
        let (header, opened) = try openFirst(RFCVectors.v2ClientInitial, keys: keys)
        XCTAssertEqual(header.version, .v2)
        XCTAssertEqual(header.type, .initial)  // type bits 0b01 in v2
        XCTAssertEqual(opened.packetNumber, 2)
        XCTAssertEqual(opened.header, RFCVectors.v2ClientHeader)
        XCTAssertEqual(opened.payload, RFCVectors.v1ClientCryptoFrame + [UInt8](repeating: 0, count: 1162 - 245))
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v2ClientInitial), .sni(hello("example.com")))
        XCTAssertEqual(assembler.version, .v2)
    }

    func testVersion1KeysDoNotOpenAVersion2Packet() {
        let wrong = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        XCTAssertThrowsError(try openFirst(RFCVectors.v2ClientInitial, keys: wrong)) { error in
            XCTAssertEqual((error as? DecodeError)?.code, QUICInitialDecryption.aeadFailed)
        }
    }

    func testPacketNumberDecodingFollowsRFC9000AppendixA3() {
        XCTAssertEqual(QUICInitialDecryption.decodePacketNumber(truncated: 0x9B32, lengthInBytes: 2, largest: 0xA82F_30EA), 0xA82F_9B32)
        XCTAssertEqual(QUICInitialDecryption.decodePacketNumber(truncated: 2, lengthInBytes: 4, largest: nil), 2)
        XCTAssertEqual(QUICInitialDecryption.decodePacketNumber(truncated: 0, lengthInBytes: 1, largest: 0xFF), 0x100)
    }

    // MARK: Retry, Version Negotiation, other versions, not QUIC

    func testRFC9001RetryIsRecognisedAndNotDecrypted() throws {
        var c = ByteCursorBox(RFCVectors.v1Retry)
        let packet = try c.parse()
        XCTAssertEqual(packet, .retry(version: .v1, destinationConnectionID: [], sourceConnectionID: quicHex("f067a5502a4262b5")))
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v1Retry), .retry)
        XCTAssertEqual(assembler.counters.retries, 1)
        // A Retry is not terminal: the client's Initial that follows still yields the SNI.
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v1ClientInitial), .sni(hello("example.com")))
    }

    func testVersionNegotiationIsRecognisedWithTheOfferedVersions() throws {
        let vn: [UInt8] = [0x80 | 0x3A, 0, 0, 0, 0, 4, 1, 2, 3, 4, 8] + RFCVectors.dcid
            + [0, 0, 0, 1] + [0x6B, 0x33, 0x43, 0xCF] + [0x1A, 0x2A, 0x3A, 0x4A]
        var c = ByteCursorBox(vn)
        XCTAssertEqual(try c.parse(), .versionNegotiation(destinationConnectionID: [1, 2, 3, 4], sourceConnectionID: RFCVectors.dcid,
                                                          versions: [1, 0x6B33_43CF, 0x1A2A_3A4A]))
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: vn), .versionNegotiation([1, 0x6B33_43CF, 0x1A2A_3A4A]))
        // A version list that is not a multiple of 4 bytes is invalid.
        var bad = ByteCursorBox(Array(vn.dropLast()))
        XCTAssertThrowsError(try bad.parse()) { XCTAssertEqual(($0 as? DecodeError)?.code, QUICHeader.badHeader) }
    }

    /// Google QUIC versions other than Q046, Q050, T050 and T051 (GoogleQUICTests) and greased ones.
    func testOtherGoogleQUICAndGreasedVersionsAreReportedAsUnsupported() {
        for version in ["Q043", "Q049", "T048"] {
            var assembler = QUICInitialAssembler()
            let v = Array(version.utf8)
            let datagram: [UInt8] = [0xC3] + v + [8] + RFCVectors.dcid + [0] + [UInt8](repeating: 0x55, count: 1180)
            let raw = UInt32(v[0]) << 24 | UInt32(v[1]) << 16 | UInt32(v[2]) << 8 | UInt32(v[3])
            XCTAssertEqual(assembler.add(datagram: datagram), .unsupportedVersion(raw), version)
            XCTAssertEqual(assembler.add(datagram: RFCVectors.v1ClientInitial), .unsupportedVersion(raw), "terminal")
        }
        var greased = QUICInitialAssembler()
        XCTAssertEqual(greased.add(datagram: [0xC0, 0x1A, 0x2A, 0x3A, 0x4A, 0, 0, 0]), .unsupportedVersion(0x1A2A_3A4A))
        // The versions we read, with junk where the packet should be: a counted error or nothing, no name.
        for version in ["Q050", "T051"] {
            var assembler = QUICInitialAssembler()
            let datagram: [UInt8] = [0xC3] + Array(version.utf8) + [8] + RFCVectors.dcid + [0] + [UInt8](repeating: 0x55, count: 1180)
            guard case .error(let e) = assembler.add(datagram: datagram) else { return XCTFail(version) }
            XCTAssertEqual(e.code, QUICHeader.truncated, version)  // 0x55 0x55 as the token length: 5,461 bytes
        }
        var q046 = QUICInitialAssembler()
        let junk: [UInt8] = [0xC3] + Array("Q046".utf8) + [0x50] + RFCVectors.dcid + [UInt8](repeating: 0x55, count: 1180)
        XCTAssertEqual(q046.add(datagram: junk), .needMoreData, "frame type 0x55 is no STREAM frame: nothing to read")
    }

    func testDNSQueryAndShortHeaderFirstDatagramsAreNotQUIC() {
        // A DNS query for chatgpt.com (ID 0x1234, RD).
        let dns: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("chatgpt".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        var a = QUICInitialAssembler()
        XCTAssertEqual(a.add(datagram: dns), .notQUIC)
        XCTAssertEqual(a.add(datagram: RFCVectors.v1ClientInitial), .notQUIC, "terminal")
        var b = QUICInitialAssembler()
        XCTAssertEqual(b.add(datagram: [0x40] + [UInt8](repeating: 7, count: 40)), .notQUIC)
        // A long header with a version nobody uses (a random DNS ID with the high bit set) is not QUIC.
        var c = QUICInitialAssembler()
        XCTAssertEqual(c.add(datagram: [0xC5, 0x34, 0x01, 0x00, 0x00, 1, 0, 0, 0]), .notQUIC)
        var d = QUICInitialAssembler()
        XCTAssertEqual(d.add(datagram: []), .needMoreData)
    }

    // MARK: Real captures

    func testAioquicCaptureYieldsEverySNIAtTheFrameTsharkNames() throws {
        try assertCaptureMatchesSNICheck("quic-aioquic.pcap")
    }

    /// Chromium 156 sends a post-quantum ClientHello that spans two Initial packets (two datagrams).
    func testChromiumClientHelloAcrossTwoInitialsYieldsSNIAtTheSecondFrame() throws {
        try assertCaptureMatchesSNICheck("quic-chromium.pcap")
    }

    func testEveryPrefixOfARealInitialDatagramNeedsMoreDataOrFailsNeverTraps() throws {
        let aioquic = try datagrams("quic-aioquic.pcap")
        let chromium = try datagrams("quic-chromium.pcap")
        // aioquic: a 520-byte Initial holding the whole ClientHello, then 680 random padding bytes.
        let first = try XCTUnwrap(aioquic.first { $0.frame == 1 })
        XCTAssertEqual(first.payload.count, 1200)
        for n in 0...first.payload.count {
            var assembler = QUICInitialAssembler()
            let result = assembler.add(datagram: Array(first.payload.prefix(n)))
            if n < 520 {
                assertNeedsMoreOrFails(result, "aioquic prefix \(n)")
            } else {
                XCTAssertEqual(serverName(result), "chatgpt.com", "aioquic prefix \(n)")
            }
        }
        // Chromium: the whole first Initial, then each prefix of the second.
        let one = try XCTUnwrap(chromium.first { $0.frame == 1 }), two = try XCTUnwrap(chromium.first { $0.frame == 2 })
        for n in 0..<two.payload.count {
            var assembler = QUICInitialAssembler()
            XCTAssertEqual(assembler.add(datagram: one.payload), .needMoreData)
            assertNeedsMoreOrFails(assembler.add(datagram: Array(two.payload.prefix(n))), "chromium prefix \(n)")
            // The whole datagram still completes the hello afterwards: a cut one is not terminal.
            XCTAssertEqual(serverName(assembler.add(datagram: two.payload)), "chatgpt.com", "after prefix \(n)")
        }
    }

    func testFlippedBytesInTheProtectedPayloadFailTheAEADAndAreNotTerminal() throws {
        let packet = RFCVectors.v1ClientInitial
        for position in [18, 22, 100, 600, 1183, 1199] {  // packet number, sample, body, last byte of the tag
            var corrupted = packet
            corrupted[position] ^= 0x01
            var assembler = QUICInitialAssembler()
            XCTAssertEqual(assembler.add(datagram: corrupted), .error(DecodeError(QUICInitialDecryption.aeadFailed, at: 0)), "byte \(position)")
            XCTAssertEqual(assembler.counters.failedPackets, 1)
            XCTAssertFalse(assembler.isFinished)
            XCTAssertEqual(assembler.add(datagram: packet), .sni(hello("example.com")), "byte \(position)")
            XCTAssertTrue(assembler.isFinished)
        }
        // A flipped DCID byte derives other keys: the AEAD fails too.
        var otherDCID = packet
        otherDCID[6] ^= 0x80
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: otherDCID), .error(DecodeError(QUICInitialDecryption.aeadFailed, at: 0)))
    }

    // MARK: varints, limits, frames

    func testEightByteVarintsDecodeAndHugeValuesAreRejectedWhereTheyMatter() throws {
        XCTAssertEqual(readVarint([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), 0x3FFF_FFFF_FFFF_FFFF)
        XCTAssertEqual(readVarint([0xC2, 0x19, 0x7C, 0x5E, 0xFF, 0x14, 0xE8, 0x8C]), 151_288_809_941_952_652)  // RFC 9000 A.1
        XCTAssertEqual(readVarint([0x9D, 0x7F, 0x3E, 0x7D]), 494_878_333)
        XCTAssertEqual(readVarint([0x7B, 0xBD]), 15_293)
        XCTAssertEqual(readVarint([0x25]), 37)
        // Seven of eight bytes: nil, and the cursor has not moved.
        [UInt8]([0xC0, 0, 0, 0, 0, 0, 0]).withUnsafeBytes { raw in
            var c = ByteCursor(raw)
            XCTAssertNil(c.readQUICVarint())
            XCTAssertEqual(c.offset, 0)
        }
        // CRYPTO frame with an offset of 2^62 - 1: parsed, then rejected by the stream and counted.
        let hugeOffset: [UInt8] = [0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xAA]
        let frames = try parseFrames(hugeOffset)
        var stream = QUICCryptoStream()
        let frame = try XCTUnwrap(frames.crypto.first)
        XCTAssertThrowsError(try stream.add(offset: frame.offset, data: frame.data)) {
            XCTAssertEqual(($0 as? DecodeError)?.code, QUICCryptoStream.beyondLimit)
        }
        XCTAssertEqual(stream.framesBeyondLimit, 1)
        // CRYPTO frame announcing 2^62 - 1 bytes: a bad frame, never an allocation.
        XCTAssertThrowsError(try parseFrames([0x06, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xAA])) {
            XCTAssertEqual(($0 as? DecodeError)?.code, QUICFrames.badFrame)
        }
        // Long header whose Length is 2^62 - 1: truncated.
        var header = Array(RFCVectors.v1ClientInitial.prefix(16))
        header += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 100)
        var c = ByteCursorBox(header)
        XCTAssertThrowsError(try c.parse()) { XCTAssertEqual(($0 as? DecodeError)?.code, QUICHeader.truncated) }
        // Token length of 2^62 - 1: truncated too.
        var token = Array(RFCVectors.v1ClientInitial.prefix(15))
        token += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 100)
        var t = ByteCursorBox(token)
        XCTAssertThrowsError(try t.parse()) { XCTAssertEqual(($0 as? DecodeError)?.code, QUICHeader.truncated) }
    }

    func testCryptoDataEndingAtTheLimitIsKeptAndOneByteBeyondIsRejectedAndCounted() throws {
        let limit = QUICCryptoStream.maxCryptoBytes
        var stream = QUICCryptoStream()
        try stream.add(offset: UInt64(limit - 10), data: [UInt8](repeating: 1, count: 10))
        XCTAssertThrowsError(try stream.add(offset: UInt64(limit - 10), data: [UInt8](repeating: 1, count: 11))) {
            XCTAssertEqual(($0 as? DecodeError)?.code, QUICCryptoStream.beyondLimit)
        }
        XCTAssertThrowsError(try stream.add(offset: UInt64(limit), data: [1])) {
            XCTAssertEqual(($0 as? DecodeError)?.code, QUICCryptoStream.beyondLimit)
        }
        try stream.add(offset: UInt64(limit), data: [])  // empty frame at the limit: nothing to store
        XCTAssertEqual(stream.framesBeyondLimit, 2)
        XCTAssertEqual(stream.contiguous, 0)
        try stream.add(offset: 0, data: [UInt8](repeating: 2, count: limit - 10))
        XCTAssertEqual(stream.contiguous, limit)

        // Through the assembler: a frame past the limit is a per-datagram error, counted, not terminal.
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let beyond = cryptoFrame(offset: UInt64(limit), [1])
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 0, frames: beyond)),
                       .error(DecodeError(QUICCryptoStream.beyondLimit, at: 0)))
        XCTAssertEqual(assembler.counters.cryptoFramesBeyondLimit, 1)
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 1, frames: cryptoFrame(offset: 0, clientHello))),
                       .sni(hello("example.com")))
    }

    func testCryptoFramesOutOfOrderWithAGapAcrossDatagramsAreReassembled() {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let parts = [Array(clientHello[0..<3]), Array(clientHello[3..<100]), Array(clientHello[100...])]
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 0, frames: cryptoFrame(offset: 100, parts[2]))), .needMoreData)
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 1, frames: cryptoFrame(offset: 0, parts[0]))), .needMoreData)
        // A retransmission of the last part changes nothing.
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 2, frames: cryptoFrame(offset: 100, parts[2]))), .needMoreData)
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 3, frames: cryptoFrame(offset: 3, parts[1]))),
                       .sni(hello("example.com")))
        XCTAssertEqual(assembler.counters.initialPackets, 4)
    }

    func testCoalescedInitialsHandshakeAndZeroPaddingInOneDatagramYieldSNI() {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let scid: [UInt8] = [9, 9, 9, 9]
        var datagram = protect(keys: keys, scid: scid, pn: 0, frames: cryptoFrame(offset: 0, Array(clientHello[..<50])))
        datagram += protect(keys: keys, scid: scid, pn: 1, frames: cryptoFrame(offset: 50, Array(clientHello[50...])))
        // A Handshake packet (its keys are not ours): stepped over by its Length.
        datagram += protect(keys: keys, scid: scid, type: .handshake, pn: 0, frames: [0x01])
        datagram += [UInt8](repeating: 0, count: 40)
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: datagram), .sni(hello("example.com")))
        XCTAssertEqual(assembler.counters.initialPackets, 2)
        XCTAssertEqual(assembler.clientSourceConnectionID, scid)
    }

    func testServerInitialOfTheSameFlowIsSteppedOver() {
        let client = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let server = QUICInitialKeys.server(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let clientSCID: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: protect(keys: client, scid: clientSCID, pn: 0,
                                                       frames: cryptoFrame(offset: 0, Array(clientHello[..<60])))), .needMoreData)
        XCTAssertEqual(assembler.add(datagram: protect(keys: server, dcid: clientSCID, scid: [7, 7], pn: 0,
                                                       frames: [0x02, 0, 0, 0, 0])), .needMoreData)
        XCTAssertEqual(assembler.counters.skippedPackets, 1)
        XCTAssertEqual(assembler.add(datagram: protect(keys: client, dcid: [7, 7], scid: clientSCID, pn: 1,
                                                       frames: cryptoFrame(offset: 60, Array(clientHello[60...])))),
                       .sni(hello("example.com")))
    }

    func testInitialAfterRetryWithANewDCIDRestartsReassembly() {
        let first = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let newDCID: [UInt8] = [0xF0, 0x67, 0xA5, 0x50, 0x2A, 0x42, 0x62, 0xB5]
        let second = QUICInitialKeys.client(destinationConnectionID: newDCID, version: .v1)
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: protect(keys: first, pn: 0, frames: cryptoFrame(offset: 0, Array(clientHello[..<60])))), .needMoreData)
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v1Retry), .retry)
        XCTAssertEqual(assembler.add(datagram: protect(keys: second, dcid: newDCID, pn: 1, frames: cryptoFrame(offset: 0, clientHello))),
                       .sni(hello("example.com")))
        XCTAssertEqual(assembler.counters.restarts, 1)
        XCTAssertEqual(assembler.clientDestinationConnectionID, newDCID)
    }

    func testCallerSuppliedDCIDIsUsedForTheKeys() {
        // The caller saw the client's first Initial (DCID 8394...) earlier; this later Initial carries
        // the server's chosen DCID but is still protected with the first DCID's keys.
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let packet = protect(keys: keys, dcid: [5, 5, 5, 5], pn: 3, frames: cryptoFrame(offset: 0, clientHello))
        var informed = QUICInitialAssembler(clientDestinationConnectionID: RFCVectors.dcid)
        XCTAssertEqual(informed.add(datagram: packet), .sni(hello("example.com")))
        var uninformed = QUICInitialAssembler()
        XCTAssertEqual(uninformed.add(datagram: packet), .error(DecodeError(QUICInitialDecryption.aeadFailed, at: 0)))
    }

    func testDraft29InitialIsOpenedWithItsSalt() {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .draft29)
        XCTAssertNotEqual(keys, QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1))
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: protect(version: .draft29, keys: keys, pn: 0, frames: cryptoFrame(offset: 0, clientHello))),
                       .sni(hello("example.com")))
        XCTAssertEqual(assembler.version, .draft29)
    }

    func testConnectionIDOfTwentyBytesIsReadAndTwentyOneIsInvalid() throws {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        let twenty = [UInt8](repeating: 0xAB, count: QUICHeader.maxConnectionIDLength)
        var ok = ByteCursorBox(protect(keys: keys, dcid: twenty, scid: twenty, pn: 0, frames: [0x01]))
        guard case .long(let header)? = try ok.parse() else { return XCTFail("not a long header") }
        XCTAssertEqual(header.destinationConnectionID, twenty)
        XCTAssertEqual(header.sourceConnectionID, twenty)
        let tooLong: [UInt8] = [0xC0, 0, 0, 0, 1, 21] + [UInt8](repeating: 0xAB, count: 21) + [0, 0, 0x41, 0x00] + [UInt8](repeating: 0, count: 256)
        var bad = ByteCursorBox(tooLong)
        XCTAssertThrowsError(try bad.parse()) { XCTAssertEqual(($0 as? DecodeError)?.code, QUICHeader.badHeader) }
        var assembler = QUICInitialAssembler()
        XCTAssertEqual(assembler.add(datagram: tooLong), .error(DecodeError(QUICHeader.badHeader, at: 0)))
    }

    func testClientHelloCutIntoOneByteCryptoFramesInShuffledOrderIsReassembled() {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<5 {
            let order = Array(clientHello.indices).shuffled(using: &rng)
            // Two packets, each holding half of the one-byte frames, in shuffled order.
            let half = order.count / 2
            let frames = order.map { cryptoFrame(offset: UInt64($0), [clientHello[$0]]) }
            var assembler = QUICInitialAssembler()
            XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 0, frames: Array(frames[..<half].joined()))), .needMoreData)
            XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 1, frames: Array(frames[half...].joined()))),
                           .sni(hello("example.com")))
        }
    }

    func testFrameNotAllowedInInitialStopsParsingAsAnAnomalyKeepingEarlierFrames() throws {
        let payload = [0x01] + cryptoFrame(offset: 0, [1, 2, 3]) + [0x08, 0x00, 0x41, 0x42] + cryptoFrame(offset: 3, [4])
        let frames = try parseFrames(payload)
        XCTAssertEqual(frames.anomaly, QUICFrames.unexpectedFrame)
        XCTAssertEqual(frames.unexpectedFrameType, 0x08)
        XCTAssertEqual(frames.pings, 1)
        XCTAssertEqual(frames.crypto, [QUICFrames.CryptoFrame(offset: 0, data: [1, 2, 3])])
    }

    func testACKWithRangesAndECNCountsAndConnectionCloseAreSkipped() throws {
        // ACK: largest 100, delay 5, 2 ranges, first range 3, (gap 1, len 2), (gap 0x4000 as 4 bytes, len 1).
        let ack: [UInt8] = [0x02, 0x40, 100, 5, 2, 3, 1, 2, 0x80, 0x00, 0x40, 0x00, 1]
        // ACK_ECN: largest 7, delay 0, 0 ranges, first range 0, ECT0 1, ECT1 2, CE 0x3FFF.
        let ackECN: [UInt8] = [0x03, 7, 0, 0, 0, 1, 2, 0x7F, 0xFF]
        // CONNECTION_CLOSE: error 0x0a, frame type 6, reason "bye".
        let close: [UInt8] = [0x1C, 0x0A, 0x06, 3] + Array("bye".utf8)
        let frames = try parseFrames(ack + ackECN + cryptoFrame(offset: 0, [9]) + close + [0, 0, 0])
        XCTAssertEqual(frames.acks, 2)
        XCTAssertEqual(frames.crypto, [QUICFrames.CryptoFrame(offset: 0, data: [9])])
        XCTAssertEqual(frames.connectionCloseError, 0x0A)
        XCTAssertEqual(frames.paddingBytes, 3)
        XCTAssertNil(frames.anomaly)
        // An ACK announcing more ranges than the packet holds is a bad frame.
        XCTAssertThrowsError(try parseFrames([0x02, 1, 0, 0xBF, 0xFF, 0xFF, 0xFF, 0, 1, 1])) {
            XCTAssertEqual(($0 as? DecodeError)?.code, QUICFrames.badFrame)
        }
        // ACK_ECN without its counts is a bad frame.
        XCTAssertThrowsError(try parseFrames([0x03, 7, 0, 0, 0, 1, 2])) {
            XCTAssertEqual(($0 as? DecodeError)?.code, QUICFrames.badFrame)
        }
    }

    func testInitialPacketsAtTheLimitAreOpenedAndOneMoreIsTerminal() {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        var assembler = QUICInitialAssembler()
        for pn in 0..<QUICInitialAssembler.maxInitialPackets {
            XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: UInt64(pn), frames: [0x01])), .needMoreData, "packet \(pn)")
        }
        let tooMany = DecodeError(QUICInitialAssembler.tooManyInitials, at: 0)
        let next = protect(keys: keys, pn: UInt64(QUICInitialAssembler.maxInitialPackets), frames: cryptoFrame(offset: 0, clientHello))
        XCTAssertFalse(assembler.isFinished)
        XCTAssertEqual(assembler.add(datagram: next), .error(tooMany))
        XCTAssertTrue(assembler.isFinished)
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v1ClientInitial), .error(tooMany), "terminal")
        XCTAssertEqual(assembler.counters.initialPackets, QUICInitialAssembler.maxInitialPackets)
    }

    func testMalformedClientHelloInCryptoDataIsATerminalTLSError() {
        let keys = QUICInitialKeys.client(destinationConnectionID: RFCVectors.dcid, version: .v1)
        var serverHello = clientHello
        serverHello[0] = 2
        var assembler = QUICInitialAssembler()
        let badHandshake = DecodeError(TLSClientHello.badHandshake, at: 0)
        XCTAssertEqual(assembler.add(datagram: protect(keys: keys, pn: 0, frames: cryptoFrame(offset: 0, serverHello))), .error(badHandshake))
        XCTAssertEqual(assembler.add(datagram: RFCVectors.v1ClientInitial), .error(badHandshake), "terminal")
    }

    func testRandomDatagramsAfterALongHeaderNeverTrap() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<3_000 {
            var bytes = Array(RFCVectors.v1ClientInitial.prefix(Int(rng.next() % 40)))
            for _ in 0..<Int(rng.next() % 200) { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            var assembler = QUICInitialAssembler()
            _ = assembler.add(datagram: bytes)
            _ = try? parseFrames(Array(bytes.dropFirst(20)))
        }
    }

    // MARK: TLS handshake without a record header

    func testBareHandshakeMessageNeedsMoreDataUntilWholeThenYieldsSNI() throws {
        for n in 0..<clientHello.count {
            XCTAssertEqual(try TLSClientHello.parseHandshake(Array(clientHello.prefix(n))), .needMoreData, "prefix \(n)")
        }
        XCTAssertEqual(try TLSClientHello.parseHandshake(clientHello), .hello(hello("example.com")))
        // Trailing bytes after the ClientHello (the next handshake message) are not read.
        XCTAssertEqual(try TLSClientHello.parseHandshake(clientHello + [0x0F, 0, 0]), .hello(hello("example.com")))
        XCTAssertThrowsError(try TLSClientHello.parseHandshake([2, 0, 0, 4, 3, 3, 0, 0])) {
            XCTAssertEqual(($0 as? DecodeError)?.code, TLSClientHello.badHandshake)
        }
        XCTAssertThrowsError(try TLSClientHello.parseHandshake([1, 0, 0x40, 0x00])) {  // 16,384 + 4 > limit
            XCTAssertEqual(($0 as? DecodeError)?.code, TLSClientHello.tooLarge)
        }
    }

    // MARK: helpers

    /// The ClientHello of RFC 9001 A.2 (SNI example.com), without the CRYPTO frame header.
    private var clientHello: [UInt8] { Array(RFCVectors.v1ClientCryptoFrame.dropFirst(4)) }

    private func hello(_ name: String) -> TLSClientHello.Hello {
        .init(serverName: name, offersECH: false, invalidServerName: false)
    }

    private func serverName(_ result: QUICInitialAssembler.Result) -> String? {
        if case .sni(let hello) = result { return hello.serverName }
        return nil
    }

    private func assertNeedsMoreOrFails(_ result: QUICInitialAssembler.Result, _ message: String,
                                        file: StaticString = #filePath, line: UInt = #line) {
        switch result {
        case .needMoreData, .error: break
        default: XCTFail("\(message): \(result)", file: file, line: line)
        }
    }

    private func readVarint(_ bytes: [UInt8]) -> UInt64? {
        bytes.withUnsafeBytes { raw in
            var c = ByteCursor(raw)
            let v = c.readQUICVarint()
            return c.isAtEnd ? v : nil
        }
    }

    private func parseFrames(_ payload: [UInt8]) throws -> QUICFrames.Parsed {
        try payload.withUnsafeBytes { raw in try QUICFrames.parse(raw) }
    }

    private func openFirst(_ datagram: [UInt8], keys: QUICInitialKeys) throws -> (QUICLongHeader, QUICOpenedPacket) {
        try datagram.withUnsafeBytes { raw in
            var c = ByteCursor(raw)
            guard case .long(let header)? = try QUICHeader.next(&c).map(\.packet) else { throw XCTSkip("not a long header") }
            var again = ByteCursor(raw)
            guard let bytes = try QUICHeader.next(&again)?.bytes else { throw XCTSkip("no packet") }
            return (header, try QUICInitialDecryption.open(bytes, header: header, keys: keys, largestPacketNumber: nil))
        }
    }

    private func cryptoFrame(offset: UInt64, _ data: [UInt8]) -> [UInt8] {
        [0x06] + varint(offset) + varint(UInt64(data.count)) + data
    }

    private func varint(_ v: UInt64) -> [UInt8] {
        switch v {
        case ..<64: [UInt8(v)]
        case ..<16_384: [0x40 | UInt8(v >> 8), UInt8(v & 0xFF)]
        default: [0x80 | UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        }
    }

    /// Builds a protected long-header packet as a client would (RFC 9001 §5), padded to 1200 bytes when
    /// it is an Initial alone.
    private func protect(version: QUICVersion = .v1, keys: QUICInitialKeys, dcid: [UInt8] = RFCVectors.dcid,
                         scid: [UInt8] = [], type: QUICLongPacketType = .initial, pn: UInt64, pnLength: Int = 2,
                         frames: [UInt8]) -> [UInt8] {
        var payload = frames
        while payload.count < 4 { payload.append(0) }  // enough for the header-protection sample
        var header: [UInt8] = [0xC0 | version.typeBits(type) << 4 | UInt8(pnLength - 1)]
        header += [UInt8(version.rawValue >> 24), UInt8((version.rawValue >> 16) & 0xFF),
                   UInt8((version.rawValue >> 8) & 0xFF), UInt8(version.rawValue & 0xFF)]
        header += [UInt8(dcid.count)] + dcid + [UInt8(scid.count)] + scid
        if type == .initial {
            header.append(0)  // no token
            if frames.count < 1100 { payload += [UInt8](repeating: 0, count: 1100 - frames.count) }
        }
        let length = pnLength + payload.count + 16
        header += [0x40 | UInt8(length >> 8), UInt8(length & 0xFF)]
        let pnOffset = header.count
        for i in (0..<pnLength).reversed() { header.append(UInt8(truncatingIfNeeded: pn >> (8 * UInt64(i)))) }
        var nonce = keys.iv
        for i in 0..<8 { nonce[11 - i] ^= UInt8(truncatingIfNeeded: pn >> (8 * UInt64(i))) }
        let sealed = try! AES.GCM.seal(payload, using: SymmetricKey(data: keys.key), nonce: AES.GCM.Nonce(data: nonce),
                                       authenticating: header)
        var packet = header + Array(sealed.ciphertext) + Array(sealed.tag)
        var mask = Array(packet[(pnOffset + 4)..<(pnOffset + 20)])
        try! AES.permute(&mask, key: SymmetricKey(data: keys.hp))
        packet[0] ^= mask[0] & 0x0F
        for i in 0..<pnLength { packet[pnOffset + i] ^= mask[1 + i] }
        return packet
    }

    // MARK: captures

    struct Datagram {
        var frame: Int
        var clientPort: UInt16
        var payload: [UInt8]
    }

    /// Every UDP datagram of a seed capture, with its frame number and the client's port (the one
    /// that is not 443). A tiny UDP header parse; IPv4 and IPv6 through `IPDecoder`.
    private func datagrams(_ file: String) throws -> [Datagram] {
        let reader = try PcapReader(path: TestPaths.seed(file))
        let linkType = try XCTUnwrap(LinkType(dlt: reader.dlt))
        var out: [Datagram] = []
        var frame = 0
        while case .packet(_, let bytes, _) = reader.next() {
            frame += 1
            let ip: IPPacket
            switch try LinkLayer.decode(bytes, linkType: linkType) {
            case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
            case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
            case .other, .otherPPP: continue
            }
            guard ip.proto == 17 else { continue }
            let udp = Array(ip.payload.rest)
            guard udp.count >= 8 else { continue }
            let sport = UInt16(udp[0]) << 8 | UInt16(udp[1]), dport = UInt16(udp[2]) << 8 | UInt16(udp[3])
            let length = Int(UInt16(udp[4]) << 8 | UInt16(udp[5]))
            XCTAssertEqual(length, udp.count, "frame \(frame)")
            out.append(Datagram(frame: frame, clientPort: sport == 443 ? dport : sport, payload: Array(udp[8..<length])))
        }
        return out
    }

    /// Feeds each flow's datagrams (both directions, in capture order) to its own assembler, as the
    /// flow table will, and compares (frame of the SNI, client port, SNI) with SNI-check.txt.
    private func assertCaptureMatchesSNICheck(_ file: String) throws {
        let check = try String(contentsOfFile: TestPaths.seed("SNI-check.txt"), encoding: .utf8)
        var expected: [(frame: Int, port: UInt16, sni: String)] = []
        var current = ""
        for line in check.split(separator: "\n") {
            if line.hasPrefix("## ") { current = String(line.dropFirst(3)); continue }
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard current == file, cells.count == 3, let frame = Int(cells[0]), let port = UInt16(cells[1]) else { continue }
            expected.append((frame, port, cells[2]))
        }
        XCTAssertEqual(expected.count, 10, file)

        var assemblers: [UInt16: QUICInitialAssembler] = [:]
        var got: [(frame: Int, port: UInt16, sni: String)] = []
        for d in try datagrams(file) {
            var assembler = assemblers[d.clientPort] ?? QUICInitialAssembler()
            let before = assembler.add(datagram: [])  // empty datagrams change nothing
            let result = assembler.add(datagram: d.payload)
            if case .sni(let hello) = result, before != result {
                got.append((d.frame, d.clientPort, hello.serverName ?? "-"))
            }
            if case .error(let e) = result { XCTFail("\(file) frame \(d.frame): \(e)") }
            assemblers[d.clientPort] = assembler
        }
        XCTAssertEqual(got.count, expected.count, file)
        for (g, e) in zip(got, expected) {
            XCTAssertEqual(g.frame, e.frame, "\(file) \(e.sni)")
            XCTAssertEqual(g.port, e.port, "\(file) \(e.sni)")
            XCTAssertEqual(g.sni, e.sni, "\(file) frame \(e.frame)")
        }
        XCTAssertEqual(assemblers.count, 10, "\(file): one flow per connection")
    }
}

/// A cursor over owned bytes, for header tests that need the parser's inout cursor.
private struct ByteCursorBox {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func parse() throws -> QUICPacket? {
        try bytes.withUnsafeBytes { raw in
            var c = ByteCursor(raw)
            return try QUICHeader.parse(&c)
        }
    }
}
