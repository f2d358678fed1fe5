import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

final class DNSMessageTests: XCTestCase {
    // MARK: real captures (dig against dnsmasq 2.90 and BIND 9.18, see ../shared/bench/seeds/README.md)

    /// Every frame of both seed captures, decoded link → IP → UDP → DNS, equals tshark's row in
    /// SNI-check.txt: response flag, query name, query type, A answers and AAAA answers.
    func testSeedCapturesMatchTsharkFrameByFrame() throws {
        for file in ["dns-dnsmasq.pcap", "dns-bind.pcap"] {
            let rows = try sniCheckRows(section: file)
            let datagrams = try udpDatagrams(TestPaths.seed(file))
            XCTAssertEqual(datagrams.count, rows.count, file)
            XCTAssertEqual(rows.count, file == "dns-dnsmasq.pcap" ? 60 : 40)
            for (d, row) in zip(datagrams, rows) {
                let where_ = "\(file) frame \(d.frame)"
                XCTAssertEqual(String(d.frame), row[0], where_)
                let m = try DNSMessage.parse(d.payload)
                XCTAssertEqual(m.isResponse, row[1] == "1", where_)
                XCTAssertEqual(m.queryName, row[2], where_)
                XCTAssertEqual(m.queryType.map(String.init), row[3], where_)
                XCTAssertEqual(m.queryClass, 1, where_)
                let a = m.answers.compactMap { r -> String? in
                    if r.type == 1, case .address(let ip) = r.data { return ip.description } else { return nil }
                }
                let aaaa = m.answers.compactMap { r -> String? in
                    if r.type == 28, case .address(let ip) = r.data { return ip.description } else { return nil }
                }
                XCTAssertEqual(a, row[4].split(separator: ",").map(String.init), where_)
                XCTAssertEqual(aaaa, row[5].split(separator: ",").map(String.init), where_)
                XCTAssertEqual(m.anomalies, [], where_)
                // Responses go from port 53, queries to it.
                XCTAssertEqual(m.isResponse ? d.sourcePort : d.destinationPort, 53, where_)
            }
        }
    }

    func testSeedResponseCodesAndAddressAnswersForAttribution() throws {
        let dnsmasq = try udpDatagrams(TestPaths.seed("dns-dnsmasq.pcap")).map { try DNSMessage.parse($0.payload) }
        // Frame 6: dnsmasq has no upstream for HTTPS and refuses; frame 52: github.com AAAA is refused too.
        XCTAssertEqual(dnsmasq[5].info, DNSInfo(type: "HTTPS", rcode: "REFUSED", answers: []))
        XCTAssertEqual(dnsmasq[51].info, DNSInfo(type: "AAAA", rcode: "REFUSED", answers: []))
        XCTAssertEqual(dnsmasq[0].info, DNSInfo(type: "A", rcode: nil, answers: []))
        XCTAssertEqual(dnsmasq[1].info, DNSInfo(type: "A", rcode: "NOERROR", answers: ["104.18.32.47"]))

        let bind = try udpDatagrams(TestPaths.seed("dns-bind.pcap")).map { try DNSMessage.parse($0.payload) }
        // Frame 36: github.com AAAA is NODATA, an SOA in the authority section and no answer.
        XCTAssertEqual(bind[35].info, DNSInfo(type: "AAAA", rcode: "NOERROR", answers: []))
        XCTAssertEqual(bind[35].authorityCount, 1)
        // Frame 4: the zone's $TTL 300 comes through with the owner name for "dns-answer" attribution.
        XCTAssertEqual(bind[3].addressAnswers, [
            .init(owner: "chatgpt.com", address: IPAddress("2606:4700:4400::ac40:9b2f")!, ttl: 300, answersQuery: true),
        ])
        XCTAssertEqual(bind[3].id, bind[2].id)
        XCTAssertTrue(bind.allSatisfy { $0.opcode == 0 && !$0.isTruncated })
    }

    /// Every strict prefix of every real message is rejected (a UDP datagram is all there is), and as a
    /// TCP stream it needs more data; no prefix traps.
    func testEveryPrefixOfEveryRealMessageIsInvalidOrNeedsMoreData() throws {
        for file in ["dns-dnsmasq.pcap", "dns-bind.pcap"] {
            for d in try udpDatagrams(TestPaths.seed(file)) {
                for n in 0..<d.payload.count {
                    let prefix = Array(d.payload.prefix(n))
                    XCTAssertThrowsError(try DNSMessage.parse(prefix), "\(file) frame \(d.frame) prefix \(n)")
                    let framed = DNSMessage.parseTCPStream(tcpFramed([d.payload]).prefix(n + 2).map { $0 })
                    XCTAssertEqual(framed.outcomes, [], "\(file) frame \(d.frame) prefix \(n)")
                    XCTAssertTrue(framed.needsMoreData)
                    XCTAssertEqual(framed.consumed, 0)
                }
            }
        }
    }

    // MARK: TCP framing

    func testTCPStreamWithSeveralMessagesIsSplitAtEveryByte() throws {
        let messages = try udpDatagrams(TestPaths.seed("dns-bind.pcap")).prefix(6).map(\.payload)
        let stream = tcpFramed(messages)
        let whole = DNSMessage.parseTCPStream(stream)
        XCTAssertEqual(whole.outcomes, try messages.map { .message(try DNSMessage.parse($0)) })
        XCTAssertEqual(whole.consumed, stream.count)
        XCTAssertFalse(whole.needsMoreData)
        // Every prefix yields exactly the messages wholly inside it.
        var ends: [Int] = []
        var end = 0
        for m in messages { end += 2 + m.count; ends.append(end) }
        for n in 0...stream.count {
            let got = DNSMessage.parseTCPStream(Array(stream.prefix(n)))
            let complete = ends.filter { $0 <= n }
            XCTAssertEqual(got.outcomes.count, complete.count, "prefix \(n)")
            XCTAssertEqual(got.consumed, complete.last ?? 0, "prefix \(n)")
            XCTAssertEqual(got.needsMoreData, n != (complete.last ?? 0), "prefix \(n)")
            XCTAssertEqual(got.outcomes, Array(whole.outcomes.prefix(complete.count)))
        }
    }

    func testInvalidMessageOnTCPIsReportedAndTheStreamGoesOn() throws {
        let good = try XCTUnwrap(try udpDatagrams(TestPaths.seed("dns-bind.pcap")).first?.payload)
        let stream = tcpFramed([good, Array("GET / HTTP/1.1\r\n\r\n".utf8), [1, 2, 3], good])
        let got = DNSMessage.parseTCPStream(stream)
        XCTAssertEqual(got.outcomes.count, 4)
        XCTAssertEqual(got.outcomes[1], .invalid(DecodeError(DNSMessage.countBeyondData, at: 0)))
        XCTAssertEqual(got.outcomes[2], .invalid(DecodeError(DNSMessage.badTCPLength, at: 0)))
        XCTAssertEqual(got.outcomes[3], got.outcomes[0])
        XCTAssertEqual(got.consumed, stream.count)
    }

    func testTCPMessagesAtLimitAreReadAndOneMoreWaitsForTheNextCall() throws {
        let good = try XCTUnwrap(try udpDatagrams(TestPaths.seed("dns-bind.pcap")).first?.payload)
        let atLimit = tcpFramed(Array(repeating: good, count: DNSMessage.maxMessagesPerCall))
        let a = DNSMessage.parseTCPStream(atLimit)
        XCTAssertEqual(a.outcomes.count, DNSMessage.maxMessagesPerCall)
        XCTAssertFalse(a.reachedMessageLimit)
        let overLimit = tcpFramed(Array(repeating: good, count: DNSMessage.maxMessagesPerCall + 1))
        let b = DNSMessage.parseTCPStream(overLimit)
        XCTAssertEqual(b.outcomes.count, DNSMessage.maxMessagesPerCall)
        XCTAssertTrue(b.reachedMessageLimit)
        XCTAssertEqual(b.consumed, atLimit.count)
        XCTAssertEqual(DNSMessage.parseTCPStream(Array(overLimit.dropFirst(b.consumed))).outcomes.count, 1)
    }

    // MARK: records: CNAME, HTTPS with hints, compression

    func testCNAMEChainAndCompressedNamesGiveAddressesForTheQueryName() throws {
        var b = MessageBuilder(id: 0x1234, flags: 0x8180)
        b.question(wireName(["ChatGPT", "com"]), type: 1)
        // chatgpt.com CNAME chatgpt.com.cdn.cloudflare.net (compressed onto the question), then its A.
        let target = 12 + b.bytes.count + 2 + 10  // the CNAME's RDATA, after its owner pointer and fixed fields
        b.record(owner: [0xC0, 12], type: 5, ttl: 60, rdata: [7] + Array("chatgpt".utf8) + [3] + Array("cdn".utf8) + [10] + Array("cloudflare".utf8) + [3] + Array("net".utf8) + [0])
        b.record(owner: [0xC0, UInt8(target)], type: 1, ttl: 30, rdata: [104, 18, 32, 47])
        b.record(owner: [0xC0, UInt8(target)], type: 28, ttl: 30, rdata: IPAddress("2606:4700::6812:202f")!.bytes)
        let m = try DNSMessage.parse(b.message(answers: 3))
        XCTAssertEqual(m.queryName, "chatgpt.com")
        XCTAssertEqual(m.answerTexts, ["chatgpt.cdn.cloudflare.net", "104.18.32.47", "2606:4700::6812:202f"])
        XCTAssertEqual(m.addressAnswers.map(\.owner), ["chatgpt.cdn.cloudflare.net", "chatgpt.cdn.cloudflare.net"])
        XCTAssertEqual(m.addressAnswers.map(\.ttl), [30, 30])
        XCTAssertTrue(m.addressAnswers.allSatisfy(\.answersQuery))
        XCTAssertEqual(m.info, DNSInfo(type: "A", rcode: "NOERROR", answers: m.answerTexts))
        XCTAssertEqual(m.anomalies, [])
    }

    func testAddressForAnotherNameIsNotCountedAsAnswerToTheQuery() throws {
        var b = MessageBuilder(id: 1, flags: 0x8180)
        b.question(wireName(["claude", "ai"]), type: 1)
        b.record(owner: wireName(["evil", "example"]), type: 1, ttl: 5, rdata: [10, 0, 0, 1])
        let m = try DNSMessage.parse(b.message(answers: 1))
        XCTAssertEqual(m.addressAnswers, [.init(owner: "evil.example", address: IPAddress("10.0.0.1")!, ttl: 5, answersQuery: false)])
    }

    func testHTTPSRecordGivesTargetAndAddressHints() throws {
        var b = MessageBuilder(id: 2, flags: 0x8180)
        b.question(wireName(["api", "openai", "com"]), type: 65)
        var rdata: [UInt8] = [0, 1] + wireName(["svc", "example", "net"])
        rdata += [0, 1, 0, 3, 2] + Array("h2".utf8)                  // alpn
        rdata += [0, 4, 0, 8, 162, 159, 140, 245, 162, 159, 141, 245] // ipv4hint
        rdata += [0, 6, 0, 16] + IPAddress("2606:4700::1")!.bytes     // ipv6hint
        b.record(owner: [0xC0, 12], type: 65, ttl: 300, rdata: rdata)
        b.record(owner: [0xC0, 12], type: 64, ttl: 300, rdata: [0, 0, 0])  // alias mode, root target
        let m = try DNSMessage.parse(b.message(answers: 2))
        XCTAssertEqual(m.queryTypeName, "HTTPS")
        XCTAssertEqual(m.answers.first?.data, .service(priority: 1, target: "svc.example.net",
                                                       ipv4Hints: [IPAddress("162.159.140.245")!, IPAddress("162.159.141.245")!],
                                                       ipv6Hints: [IPAddress("2606:4700::1")!]))
        XCTAssertEqual(m.answers.last?.data, .service(priority: 0, target: ".", ipv4Hints: [], ipv6Hints: []))
        XCTAssertEqual(m.answerTexts, ["svc.example.net", "162.159.140.245", "162.159.141.245", "2606:4700::1", "."])
        XCTAssertEqual(m.addressAnswers, [])
        XCTAssertEqual(m.anomalies, [])
    }

    func testOtherRecordTypesAreSkippedByLength() throws {
        var b = MessageBuilder(id: 3, flags: 0x8180)
        b.question(wireName(["example", "org"]), type: 15)
        b.record(owner: [0xC0, 12], type: 15, ttl: 1, rdata: [0, 10] + [0xC0, 12])     // MX
        b.record(owner: [0xC0, 12], type: 16, ttl: 1, rdata: [3] + Array("a=b".utf8)) // TXT
        b.record(owner: [0xC0, 12], type: 1, ttl: 1, rdata: [1, 2, 3, 4])
        let m = try DNSMessage.parse(b.message(answers: 3))
        XCTAssertEqual(m.answers.map(\.type), [1])
        XCTAssertEqual(m.queryTypeName, "MX")
    }

    func testTypeAndRcodeNames() {
        XCTAssertEqual([1, 2, 5, 6, 12, 15, 16, 28, 64, 65, 65534].map(DNSMessage.typeName),
                       ["A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SVCB", "HTTPS", "TYPE65534"])
        XCTAssertEqual([0, 1, 2, 3, 4, 5, 9, 16].map(DNSMessage.rcodeName),
                       ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "RCODE9", "RCODE16"])
    }

    func testExtendedRcodeFromOPTIsCombined() throws {
        var b = MessageBuilder(id: 4, flags: 0x8180)
        b.question(wireName(["a", "example"]), type: 1)
        b.record(owner: [0], type: 41, ttl: 0x0100_0000, rdata: [], cls: 1232)  // OPT, extended rcode 1 → 16
        XCTAssertEqual(try DNSMessage.parse(b.message(additional: 1)).rcodeName, "RCODE16")
    }

    func testBadAddressLengthIsFlaggedAndRecordDropped() throws {
        var b = MessageBuilder(id: 5, flags: 0x8180)
        b.question(wireName(["a", "example"]), type: 1)
        b.record(owner: [0xC0, 12], type: 1, ttl: 1, rdata: [1, 2, 3, 4, 5])
        b.record(owner: [0xC0, 12], type: 1, ttl: 1, rdata: [9, 9, 9, 9])
        let m = try DNSMessage.parse(b.message(answers: 2))
        XCTAssertEqual(m.answerTexts, ["9.9.9.9"])
        XCTAssertEqual(m.anomalies, [.badRData])
    }

    // MARK: hostile names

    func testDNSPointerLoopIsFlaggedNotFatal() throws {
        // The question's name is a pointer to itself; the type and class after it are still read.
        var b = MessageBuilder(id: 6, flags: 0x0100)
        b.question([0xC0, 12], type: 28)
        let m = try DNSMessage.parse(b.message())
        XCTAssertNil(m.queryName)
        XCTAssertEqual(m.queryType, 28)
        XCTAssertEqual(m.anomalies, [.pointerLoop])
        // A label, then a pointer back to the start of the same name.
        var b2 = MessageBuilder(id: 6, flags: 0x0100)
        b2.question([1, 0x61, 0xC0, 12], type: 1)
        XCTAssertEqual(try DNSMessage.parse(b2.message()).anomalies, [.pointerLoop])
    }

    func testTwoPointerCycleIsCaughtAtItsForwardEdge() throws {
        // The answer owner points back to the question name, whose pointer leads forward again.
        var b = MessageBuilder(id: 7, flags: 0x8180)
        b.question([0xC0, 18], type: 1)  // offset 12: pointer to 18 (the answer's owner)
        b.record(owner: [0xC0, 12], type: 1, ttl: 1, rdata: [1, 1, 1, 1])
        let m = try DNSMessage.parse(b.message(answers: 1))
        XCTAssertNil(m.queryName)
        XCTAssertNil(m.answers.first?.owner)
        XCTAssertEqual(m.answerTexts, ["1.1.1.1"])  // the record itself is kept
        XCTAssertEqual(m.anomalies, [.forwardPointer])
        XCTAssertEqual(m.addressAnswers, [])
    }

    func testForwardPointerIsFlaggedAndMessageKept() throws {
        var b = MessageBuilder(id: 8, flags: 0x8180)
        b.question(wireName(["claude", "ai"]), type: 1)
        b.record(owner: [0xC0, 60], type: 1, ttl: 1, rdata: [160, 79, 104, 10])
        b.bytes += [UInt8](repeating: 0, count: 40)  // something for the pointer to land on
        let m = try DNSMessage.parse(b.message(answers: 1))
        XCTAssertEqual(m.queryName, "claude.ai")
        XCTAssertNil(m.answers.first?.owner)
        XCTAssertEqual(m.anomalies, [.forwardPointer, .trailingBytes])
    }

    func testPointerHopsAtLimitAreFollowedAndOneMoreIsFlagged() throws {
        for (chain, expectName) in [(DNSMessage.maxPointerHops - 1, true), (DNSMessage.maxPointerHops, false)] {
            var b = MessageBuilder(id: 9, flags: 0x8180)
            b.question(wireName(["gemini", "google", "com"]), type: 1)
            // An unknown-type record whose data is a chain of pointers, each to the one before it,
            // the first to the question name; then an A record owned by a pointer to the chain's end.
            let start = 12 + b.bytes.count + 1 + 10  // where the RDATA will begin: after header, root owner, fixed fields
            var rdata: [UInt8] = []
            for i in 0..<chain {
                let target = i == 0 ? 12 : start + 2 * (i - 1)
                rdata += [0xC0 | UInt8(target >> 8), UInt8(target & 0xFF)]
            }
            b.record(owner: [0], type: 0xFF00, ttl: 1, rdata: rdata)
            let last = start + 2 * (chain - 1)
            b.record(owner: [0xC0 | UInt8(last >> 8), UInt8(last & 0xFF)], type: 1, ttl: 1, rdata: [1, 2, 3, 4])
            let m = try DNSMessage.parse(b.message(answers: 2))
            // The owner's own pointer plus the chain: `chain + 1` hops.
            XCTAssertEqual(m.answers.first?.owner, expectName ? "gemini.google.com" : nil, "chain \(chain)")
            XCTAssertEqual(m.anomalies, expectName ? [] : [.tooManyPointers], "chain \(chain)")
        }
    }

    func testNameOf255BytesIsReadAnd256IsFlagged() throws {
        // 3 labels of 63 and one of 61: 3*64 + 62 + 1 = 255 bytes on the wire.
        let long = String(repeating: "a", count: 63)
        let at = wireName([long, long, long, String(repeating: "b", count: 61)])
        XCTAssertEqual(at.count, DNSMessage.maxNameBytes)
        let over = wireName([long, long, long, String(repeating: "b", count: 62)])
        var b = MessageBuilder(id: 10, flags: 0x0100)
        b.question(at, type: 1)
        XCTAssertEqual(try DNSMessage.parse(b.message()).queryName?.count, 253)
        var b2 = MessageBuilder(id: 10, flags: 0x0100)
        b2.question(over, type: 1)
        let m = try DNSMessage.parse(b2.message())
        XCTAssertNil(m.queryName)
        XCTAssertEqual(m.queryType, 1)
        XCTAssertEqual(m.anomalies, [.nameTooLong])
    }

    func testNameOverLimitThroughCompressionIsFlagged() throws {
        let long = String(repeating: "a", count: 63)
        var b = MessageBuilder(id: 11, flags: 0x8180)
        b.question(wireName([long, long, long]), type: 1)  // 193 bytes
        // Owner: another 63-byte label, then a pointer to the question: 64 + 193 = 257 bytes.
        b.record(owner: [63] + Array(long.utf8) + [0xC0, 12], type: 1, ttl: 1, rdata: [1, 2, 3, 4])
        let m = try DNSMessage.parse(b.message(answers: 1))
        XCTAssertEqual(m.queryName?.count, 191)
        XCTAssertNil(m.answers.first?.owner)
        XCTAssertEqual(m.anomalies, [.nameTooLong])
    }

    func test256LabelNameIsFlaggedAndTheRestOfTheMessageRead() throws {
        var b = MessageBuilder(id: 12, flags: 0x8180)
        b.question(wireName(Array(repeating: "x", count: 256)), type: 28)
        b.record(owner: [0], type: 1, ttl: 1, rdata: [5, 6, 7, 8])
        let m = try DNSMessage.parse(b.message(answers: 1))
        XCTAssertNil(m.queryName)
        XCTAssertEqual(m.queryType, 28)
        XCTAssertEqual(m.answers.first?.owner, ".")
        XCTAssertEqual(m.answerTexts, ["5.6.7.8"])
        XCTAssertEqual(m.anomalies, [.nameTooLong])
    }

    func testLabelOf63IsReadAnd64IsAnInvalidLabelType() throws {
        var b = MessageBuilder(id: 13, flags: 0x0100)
        b.question(wireName([String(repeating: "c", count: DNSMessage.maxLabelBytes), "ai"]), type: 1)
        XCTAssertEqual(try DNSMessage.parse(b.message()).queryName?.count, 66)
        var b2 = MessageBuilder(id: 13, flags: 0x0100)
        b2.question([64] + [UInt8](repeating: 0x63, count: 64) + [0], type: 1)
        XCTAssertThrowsError(try DNSMessage.parse(b2.message())) { error in
            XCTAssertEqual((error as? DecodeError)?.code, DNSMessage.badLabel)
        }
    }

    func testNameWithBytesNoHostHasIsFlagged() throws {
        var b = MessageBuilder(id: 14, flags: 0x0100)
        b.question([3, 0x61, 0x20, 0x62, 2, 0x61, 0x69, 0], type: 1)  // "a b.ai"
        let m = try DNSMessage.parse(b.message())
        XCTAssertNil(m.queryName)
        XCTAssertEqual(m.anomalies, [.unusualNameBytes])
    }

    func testRootQueryNameIsADot() throws {
        var b = MessageBuilder(id: 15, flags: 0x0100)
        b.question([0], type: 2)
        XCTAssertEqual(try DNSMessage.parse(b.message()).queryName, ".")
    }

    // MARK: hostile structure

    func testRDLengthBeyondTheMessageIsInvalid() throws {
        var b = MessageBuilder(id: 16, flags: 0x8180)
        b.question(wireName(["a", "example"]), type: 1)
        b.record(owner: [0xC0, 12], type: 1, ttl: 1, rdata: [1, 2, 3, 4])
        var bytes = b.message(answers: 1)
        bytes[bytes.count - 6] = 0x01  // RDLENGTH 4 → 260
        XCTAssertThrowsError(try DNSMessage.parse(bytes)) { error in
            XCTAssertEqual((error as? DecodeError)?.code, DNSMessage.badRDLength)
        }
    }

    func testCountsLargerThanTheDataAreInvalid() throws {
        var b = MessageBuilder(id: 17, flags: 0x8180)
        b.question(wireName(["a", "example"]), type: 1)
        b.record(owner: [0xC0, 12], type: 1, ttl: 1, rdata: [1, 2, 3, 4])
        // Far more records than bytes: caught before any record is read.
        XCTAssertThrowsError(try DNSMessage.parse(b.message(answers: 60_000))) { error in
            XCTAssertEqual((error as? DecodeError)?.code, DNSMessage.countBeyondData)
        }
        // One record more than present, with room by the minimum sizes: the walk runs out.
        var bytes = b.message(answers: 1)
        bytes += [UInt8](repeating: 0, count: 10)
        bytes[11] = 1  // ARCOUNT 1: an 11-byte record that is not there (10 zero bytes)
        XCTAssertThrowsError(try DNSMessage.parse(bytes)) { error in
            XCTAssertEqual((error as? DecodeError)?.code, DNSMessage.truncated)
        }
        bytes += [0]  // now 11 bytes: a root-owned record of type 0 with RDLENGTH 0
        XCTAssertEqual(try DNSMessage.parse(bytes).additionalCount, 1)
        // ANCOUNT 3 with one record and 15 bytes: the second fits, the third runs out.
        let three = b.message(answers: 3) + [UInt8](repeating: 0, count: 15)
        XCTAssertThrowsError(try DNSMessage.parse(three)) { error in
            XCTAssertEqual((error as? DecodeError)?.code, DNSMessage.truncated)
        }
    }

    /// gopacket keeps such a fixture: an HTTP request that went to port 53, decoded as DNS.
    func testHTTPRequestSentToPort53IsInvalidNotATrap() {
        let request = Array("GET / HTTP/1.1\r\nHost: chatgpt.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n".utf8)
        XCTAssertThrowsError(try DNSMessage.parse(request)) { error in
            XCTAssertEqual((error as? DecodeError)?.code, DNSMessage.countBeyondData)
        }
        XCTAssertThrowsError(try DNSMessage.parse(Array("POST /v1/files HTTP/1.1\r\n".utf8)))
    }

    func testMutatedRealMessagesNeverTrap() throws {
        let seeds = try udpDatagrams(TestPaths.seed("dns-bind.pcap")).map(\.payload)
            + udpDatagrams(TestPaths.seed("dns-dnsmasq.pcap")).map(\.payload)
        var rng = SplitMix64(seed: 53)
        var parsed = 0
        for i in 0..<20_000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                // Favour compression-pointer and length bytes.
                bytes[at] = [0xC0, 0xFF, 0x00, 0x3F, 0x40, UInt8(truncatingIfNeeded: rng.next())][Int(rng.next() % 6)]
            }
            if (try? DNSMessage.parse(bytes)) != nil { parsed += 1 }
            _ = DNSMessage.parseTCPStream(tcpFramed([bytes]) + bytes)
        }
        XCTAssertGreaterThan(parsed, 0)
    }

    func testRandomBytesNeverTrap() {
        var rng = SplitMix64(seed: 1035)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 200)
            var bytes: [UInt8] = [0, 1, 0x81, 0x80, 0, 1, 0, UInt8(rng.next() % 4), 0, 0, 0, UInt8(rng.next() % 2)]
            for _ in 0..<n { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            _ = try? DNSMessage.parse(bytes)
        }
    }

    // MARK: Zeek's DNS traces

    /// The DNS traces from Zeek's test suite (DNSSEC, NAPTR, SPF, NOTIFY, LOC, SSHFP, WKS, duplicate and
    /// zero-RR responses...): no datagram traps, and every query name Zeek logged is a question we decoded.
    /// Left out where Zeek's `query` means something else: dynamic UPDATE (Zeek logs the updated names,
    /// the question is the zone), mDNS replies without a question (Zeek logs the answer's name), TKEY
    /// (over TCP, tested below), and btests that read two traces into one log.
    func testZeekDNSTracesDecodeAndContainZeekQueryNames() throws {
        let summary = try readTSV(TestPaths.corpus("zeek/ground_truth_summary.tsv"))
        let skipped: Set<String> = ["dns/dynamic-update.pcap", "dns/mdns-no-assoc.pcap", "dns/tkey.pcap"]
        var byTrace: [String: Set<String>] = [:]
        for row in summary where row["field"] == "query" {
            guard let trace = row["traces"], !trace.contains(","), !skipped.contains(trace),
                  let value = row["value"], let host = normalizeHost(Array(value.utf8)) else { continue }
            byTrace[trace, default: []].insert(host)
        }
        XCTAssertGreaterThanOrEqual(byTrace.count, 15)
        var datagrams = 0
        for (trace, names) in byTrace {
            var decoded: Set<String> = []
            for d in try udpDatagrams(TestPaths.corpus("zeek/Traces/" + trace), strict: false) {
                datagrams += 1
                if let m = try? DNSMessage.parse(d.payload), let q = m.queryName { decoded.insert(q) }
            }
            XCTAssertTrue(names.isSubset(of: decoded), "\(trace): missing \(names.subtracting(decoded))")
        }
        XCTAssertGreaterThan(datagrams, 30)
    }

    /// Zeek's TKEY trace: a Windows client's GSS-TSIG TKEY query over TCP, 1.5 KB spread over segments,
    /// framed by its length prefix. Zeek logs the query name this gives.
    func testZeekTKEYQueryOverTCPIsFramedAndParsed() throws {
        let reader = try PcapReader(path: TestPaths.corpus("zeek/Traces/dns/tkey.pcap"))
        let link = try XCTUnwrap(LinkType(dlt: reader.dlt))
        var client: [UInt8] = []
        var server: [UInt8] = []
        var states: [DNSMessage.TCPStreamPrefix] = []
        while case .packet(_, let bytes, _) = reader.next() {
            guard case .ipv4(let c) = try LinkLayer.decode(bytes, linkType: link) else { continue }
            let ip = try IPDecoder.decodeV4(c)
            guard ip.proto == 6 else { continue }
            let tcp = try TCPSegment.decode(ip.payload)
            if tcp.destinationPort == 53, !tcp.payload.isEmpty {
                client += tcp.payload
                states.append(DNSMessage.parseTCPStream(client))
            } else if tcp.sourcePort == 53 {
                server += tcp.payload
            }
        }
        let query = DNSMessage.parseTCPStream(client)
        XCTAssertFalse(query.needsMoreData)
        guard case .message(let m)? = query.outcomes.first else { return XCTFail("\(query.outcomes)") }
        XCTAssertEqual(m.queryName, "1068-ms-7.309-2c6e448.7a9463b8-b109-11ed-26a3-080027f220e5")
        XCTAssertEqual(m.queryTypeName, "TYPE249")  // TKEY
        XCTAssertFalse(m.isResponse)
        // Until the last segment arrived the message needed more data.
        XCTAssertTrue(states.dropLast().allSatisfy { $0.outcomes.isEmpty })
        guard case .message(let r)? = DNSMessage.parseTCPStream(server).outcomes.first else { return XCTFail("no response") }
        XCTAssertTrue(r.isResponse)
        XCTAssertEqual(r.id, m.id)
        XCTAssertEqual(r.queryName, m.queryName)
    }
}

/// The UDP header decode the DNS path uses.
final class UDPDatagramTests: XCTestCase {
    private func decode(_ bytes: [UInt8], ipPayloadLength: Int? = nil) throws(DecodeError) -> (UInt16, UInt16, Int, [UInt8], Bool) {
        let r = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) in
                let d = try UDPDatagram.decode(ByteCursor(raw), ipPayloadLength: ipPayloadLength ?? raw.count)
                return (d.sourcePort, d.destinationPort, d.length, Array(d.payload), d.isCaptureTruncated)
            }
        }
        return try r.get()
    }

    func testPortsLengthAndPayloadAreRead() throws {
        let (sp, dp, length, payload, cut) = try decode([0xD4, 0x31, 0, 53, 0, 12, 0xAB, 0xCD, 1, 2, 3, 4])
        XCTAssertEqual([sp, dp], [54321, 53])
        XCTAssertEqual(length, 12)
        XCTAssertEqual(payload, [1, 2, 3, 4])
        XCTAssertFalse(cut)
    }

    func testPaddingAfterTheUDPLengthIsNotPayload() throws {
        XCTAssertEqual(try decode([0, 1, 0, 2, 0, 9, 0, 0, 7, 0, 0, 0], ipPayloadLength: 12).3, [7])
    }

    func testHeaderOnlyDatagramHasEmptyPayload() throws {
        XCTAssertEqual(try decode([0, 1, 0, 2, 0, 8, 0, 0]).3, [])
    }

    func testSnapLengthCutIsReportedNotRejected() throws {
        let (_, _, length, payload, cut) = try decode([0, 1, 0, 2, 0, 20, 0, 0, 9, 9], ipPayloadLength: 20)
        XCTAssertEqual(length, 20)
        XCTAssertEqual(payload, [9, 9])
        XCTAssertTrue(cut)
    }

    func testLengthBelowHeaderOrBeyondIPPayloadIsInvalid() {
        XCTAssertThrowsError(try decode([0, 1, 0, 2, 0, 7, 0, 0, 1])) { XCTAssertEqual(($0 as? DecodeError)?.code, UDPDatagram.badLength) }
        XCTAssertThrowsError(try decode([0, 1, 0, 2, 0, 0, 0, 0, 1])) { XCTAssertEqual(($0 as? DecodeError)?.code, UDPDatagram.badLength) }
        XCTAssertThrowsError(try decode([0, 1, 0, 2, 0, 13, 0, 0, 1, 2, 3, 4], ipPayloadLength: 12)) {
            XCTAssertEqual(($0 as? DecodeError)?.code, UDPDatagram.badLength)
        }
        XCTAssertThrowsError(try decode([0, 1, 0, 2, 0, 8, 0])) { XCTAssertEqual(($0 as? DecodeError)?.code, UDPDatagram.truncated) }
    }
}

// MARK: helpers

/// UDP datagrams of a capture with their 1-based frame numbers.
func udpDatagrams(_ path: String, strict: Bool = true) throws
    -> [(frame: Int, sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8])]
{
    let reader = try PcapReader(path: path)
    guard let link = LinkType(dlt: reader.dlt) else { throw XCTSkip("\(path): link type \(reader.linkTypeName)") }
    var out: [(frame: Int, sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8])] = []
    var frame = 0
    while case .packet(_, let bytes, _) = reader.next() {
        frame += 1
        do {
            let ip: IPPacket
            switch try LinkLayer.decode(bytes, linkType: link) {
            case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
            case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
            case .other, .otherPPP: continue
            }
            guard ip.proto == 17 else { continue }
            let udp = try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength)
            out.append((frame, udp.sourcePort, udp.destinationPort, Array(udp.payload)))
        } catch {
            if strict { throw error }
        }
    }
    return out
}

/// The rows of one `## file` section of the seeds' SNI-check.txt, as cells.
func sniCheckRows(section: String) throws -> [[String]] {
    let text = try String(contentsOfFile: TestPaths.seed("SNI-check.txt"), encoding: .utf8)
    var rows: [[String]] = []
    var current = ""
    for line in text.split(separator: "\n") {
        if line.hasPrefix("## ") { current = String(line.dropFirst(3)); continue }
        if current == section { rows.append(line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)) }
    }
    return rows
}

/// Messages with RFC 1035 §4.2.2 length prefixes, as on a TCP stream.
private func tcpFramed(_ messages: [[UInt8]]) -> [UInt8] {
    messages.flatMap { [UInt8($0.count >> 8), UInt8($0.count & 0xFF)] + $0 }
}

/// Labels in wire format, ending with the root.
private func wireName(_ labels: [String]) -> [UInt8] {
    labels.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
}

/// Builds messages for limit and hostile cases (behaviour on real messages is tested on the seeds).
private struct MessageBuilder {
    var id: UInt16
    var flags: UInt16
    var questions: UInt16 = 0
    /// Everything after the 12-byte header.
    var bytes: [UInt8] = []

    init(id: UInt16, flags: UInt16) {
        self.id = id
        self.flags = flags
    }

    mutating func question(_ name: [UInt8], type: UInt16, cls: UInt16 = 1) {
        bytes += name + be16(type) + be16(cls)
        questions += 1
    }

    mutating func record(owner: [UInt8], type: UInt16, ttl: UInt32, rdata: [UInt8], cls: UInt16 = 1) {
        bytes += owner + be16(type) + be16(cls)
        bytes += [UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF)]
        bytes += be16(UInt16(rdata.count)) + rdata
    }

    func message(answers: UInt16 = 0, authority: UInt16 = 0, additional: UInt16 = 0) -> [UInt8] {
        be16(id) + be16(flags) + be16(questions) + be16(answers) + be16(authority) + be16(additional) + bytes
    }

    private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
}
