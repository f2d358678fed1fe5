import ShadowScopeCore

/// One DNS message (RFC 1035 §4, AAAA from RFC 3596, SVCB/HTTPS from RFC 9460): the header, the first
/// question, and the answer-section records a host attribution needs (A, AAAA, CNAME, SVCB, HTTPS).
/// Every section is walked, so counts and lengths are checked against the bytes; records of other types
/// are stepped over by RDLENGTH.
///
/// Outcomes: `parse` throws for bytes that are not a well-formed message (counted and sampled by the
/// caller); oddities that still leave the message readable (a compression loop, a name over 255 bytes,
/// an A record of 5 bytes) become `anomalies` on a message that is returned, with the affected name nil.
/// Over UDP a datagram is one message; over TCP use `parseTCPStream`, which frames by the 2-byte length
/// prefix (RFC 1035 §4.2.2, RFC 7766) and says when more bytes are needed.
public struct DNSMessage: Sendable, Equatable {
    /// Most compression pointers followed in one name (RFC 1035 §4.1.4). Pointers must also point
    /// strictly before the part of the name being read, so a loop cannot repeat; this caps the chain.
    public static let maxPointerHops = 128
    /// Longest name on the wire, length bytes and the root's zero byte included (RFC 1035 §3.1).
    public static let maxNameBytes = 255
    /// Longest label (RFC 1035 §2.3.4): the length byte's top two bits are the label type, so a
    /// larger length cannot be encoded; 0x40 and 0x80 are unsupported label types.
    public static let maxLabelBytes = 63
    public static let headerBytes = 12
    /// Most messages `parseTCPStream` decodes in one call; call again on the rest (`consumed`).
    public static let maxMessagesPerCall = 64

    public static let truncated = DecodeError.Code("dns.truncated")
    public static let countBeyondData = DecodeError.Code("dns.count-beyond-data")
    public static let badRDLength = DecodeError.Code("dns.bad-rdlength")
    public static let badLabel = DecodeError.Code("dns.bad-label-type")
    public static let badTCPLength = DecodeError.Code("dns.bad-tcp-length")

    /// Recoverable oddities. Raw values are stable names for counters and samples.
    public enum Anomaly: String, Sendable, Hashable, CaseIterable {
        /// A compression pointer into the part of the name being read (itself included): a loop.
        case pointerLoop = "dns.pointer-loop"
        /// A compression pointer to a later offset than the pointer itself.
        case forwardPointer = "dns.forward-pointer"
        /// More than `maxPointerHops` pointers in one name.
        case tooManyPointers = "dns.too-many-pointers"
        /// A name over `maxNameBytes` on the wire.
        case nameTooLong = "dns.name-too-long"
        /// After a pointer: a reserved label type, or labels running past the message.
        case badCompressedName = "dns.bad-compressed-name"
        /// A name with bytes a host name cannot have (space, `*`, control bytes, ...).
        case unusualNameBytes = "dns.unusual-name-bytes"
        /// RDATA of a type we read that does not fit its RDLENGTH (an A record of 5 bytes, ...).
        case badRData = "dns.bad-rdata"
        /// Bytes after the last record the header counts.
        case trailingBytes = "dns.trailing-bytes"
    }

    /// What an answer record says, for the types we read.
    public enum RData: Sendable, Equatable {
        /// A or AAAA.
        case address(IPAddress)
        /// CNAME target; nil when it could not be decoded (see `anomalies`), `.` for the root.
        case name(String?)
        /// SVCB or HTTPS: target nil when undecodable, `.` for the root (in service mode: the owner
        /// name itself; with priority 0, alias mode, "no service"); ipv4hint and ipv6hint addresses.
        case service(priority: UInt16, target: String?, ipv4Hints: [IPAddress], ipv6Hints: [IPAddress])
    }

    public struct Record: Sendable, Equatable {
        /// Owner name, normalised; nil when it could not be decoded, `.` for the root.
        public var owner: String?
        public var type: UInt16
        public var ttl: UInt32
        public var data: RData
    }

    /// An A or AAAA answer, for attributing later flows to names ("dns-answer").
    public struct AddressAnswer: Sendable, Equatable {
        public var owner: String
        public var address: IPAddress
        public var ttl: UInt32
        /// The owner is the query name or reached from it through CNAMEs in this answer section.
        public var answersQuery: Bool
    }

    public var id: UInt16
    public var isResponse: Bool
    public var opcode: UInt8
    /// Response code: the header's 4 bits, extended by an OPT record's upper 8 bits when present.
    public var rcode: UInt16
    /// TC: the server cut the answer to fit a datagram; the client will retry over TCP.
    public var isTruncated: Bool
    public var questionCount: UInt16
    public var answerCount: UInt16
    public var authorityCount: UInt16
    public var additionalCount: UInt16
    /// The first question's name, normalised (lower case, no trailing dot); `.` for the root; nil when
    /// there is no question or the name could not be decoded (see `anomalies`).
    public var queryName: String?
    public var queryType: UInt16?
    public var queryClass: UInt16?
    /// Answer-section records of type A, AAAA, CNAME, SVCB and HTTPS, in message order.
    public var answers: [Record]
    public var anomalies: Set<Anomaly>

    /// `A`, `AAAA`, `HTTPS`, ... or `TYPE<n>` for a type without a name here.
    public static func typeName(_ type: UInt16) -> String {
        switch type {
        case 1: return "A"
        case 2: return "NS"
        case 5: return "CNAME"
        case 6: return "SOA"
        case 12: return "PTR"
        case 15: return "MX"
        case 16: return "TXT"
        case 28: return "AAAA"
        case 64: return "SVCB"
        case 65: return "HTTPS"
        default: return "TYPE\(type)"
        }
    }

    /// `NOERROR`, `NXDOMAIN`, ... or `RCODE<n>`.
    public static func rcodeName(_ rcode: UInt16) -> String {
        switch rcode {
        case 0: return "NOERROR"
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 3: return "NXDOMAIN"
        case 4: return "NOTIMP"
        case 5: return "REFUSED"
        default: return "RCODE\(rcode)"
        }
    }

    public var queryTypeName: String? { queryType.map(DNSMessage.typeName) }
    public var rcodeName: String { DNSMessage.rcodeName(rcode) }

    /// Answer data as text, in message order: addresses, CNAME targets, SVCB/HTTPS targets followed
    /// by their hint addresses. Undecodable names are left out.
    public var answerTexts: [String] {
        var out: [String] = []
        for record in answers {
            switch record.data {
            case .address(let a): out.append(a.description)
            case .name(let n): if let n { out.append(n) }
            case .service(_, let target, let v4, let v6):
                if let target { out.append(target) }
                out += v4.map(\.description) + v6.map(\.description)
            }
        }
        return out
    }

    /// Every A and AAAA answer with a decodable owner name.
    public var addressAnswers: [AddressAnswer] {
        if !answers.contains(where: { if case .name = $0.data { true } else { false } }) {
            // No CNAME to follow (most answers): an address answers the query when its owner is the
            // query name. No set of aliases to build per response.
            return answers.compactMap { record in
                guard let owner = record.owner, case .address(let a) = record.data else { return nil }
                return AddressAnswer(owner: owner, address: a, ttl: record.ttl, answersQuery: owner == queryName)
            }
        }
        // Names the query reaches through CNAMEs; each record is used once, so the walk is bounded.
        var aliases: Set<String> = []
        if let q = queryName { aliases.insert(q) }
        var pending = answers.filter { if case .name = $0.data { return true } else { return false } }
        var grew = true
        while grew {
            grew = false
            pending.removeAll { record in
                guard let owner = record.owner, aliases.contains(owner), case .name(let target?) = record.data else { return false }
                aliases.insert(target)
                grew = true
                return true
            }
        }
        return answers.compactMap { record in
            guard let owner = record.owner, case .address(let a) = record.data else { return nil }
            return AddressAnswer(owner: owner, address: a, ttl: record.ttl, answersQuery: aliases.contains(owner))
        }
    }

    /// The contract's DNS fields: rcode only for responses.
    public var info: DNSInfo {
        DNSInfo(type: queryTypeName ?? "TYPE0", rcode: isResponse ? rcodeName : nil, answers: answerTexts)
    }

    // MARK: parsing

    /// Parses one whole message (a UDP payload, or one TCP message without its length prefix).
    public static func parse(_ message: UnsafeRawBufferPointer) throws(DecodeError) -> DNSMessage {
        var c = ByteCursor(message)
        guard let id = c.readU16(), let flags = c.readU16(), let qd = c.readU16(), let an = c.readU16(),
              let ns = c.readU16(), let ar = c.readU16()
        else { throw DecodeError(truncated, at: c.position, "header of \(message.count) bytes") }
        // Each question takes at least 5 bytes and each record 11: reject impossible counts up front
        // (this is also what an HTTP request sent to port 53 runs into).
        let least = headerBytes + Int(qd) * 5 + (Int(an) + Int(ns) + Int(ar)) * 11
        guard least <= message.count else {
            throw DecodeError(countBeyondData, at: 4, "counts \(qd)/\(an)/\(ns)/\(ar) need \(least) bytes, message has \(message.count)")
        }
        var m = DNSMessage(id: id, isResponse: flags & 0x8000 != 0, opcode: UInt8(truncatingIfNeeded: flags >> 11) & 0x0F,
                           rcode: flags & 0x000F, isTruncated: flags & 0x0200 != 0,
                           questionCount: qd, answerCount: an, authorityCount: ns, additionalCount: ar,
                           queryName: nil, queryType: nil, queryClass: nil, answers: [], anomalies: [])
        for i in 0..<Int(qd) {
            let name = try readName(&c, in: message, anomalies: &m.anomalies)
            guard let type = c.readU16(), let cls = c.readU16() else {
                throw DecodeError(truncated, at: c.position, "question type and class")
            }
            if i == 0 {
                m.queryName = name.text
                m.queryType = type
                m.queryClass = cls
            }
        }
        for (section, count) in [an, ns, ar].enumerated() {
            for _ in 0..<Int(count) {
                let owner = try readName(&c, in: message, anomalies: &m.anomalies)
                guard let type = c.readU16(), c.skip(2), let ttl = c.readU32(), let rdLength = c.readU16() else {
                    throw DecodeError(truncated, at: c.position, "record type, class, TTL and RDLENGTH")
                }
                guard var rdata = c.readCursor(Int(rdLength)) else {
                    throw DecodeError(badRDLength, at: c.position - 2, "RDLENGTH \(rdLength), \(c.remaining) bytes left")
                }
                if section == 0, let data = readRData(type: type, &rdata, in: message, anomalies: &m.anomalies) {
                    m.answers.append(Record(owner: owner.text, type: type, ttl: ttl, data: data))
                } else if section == 2, type == 41 {
                    // OPT (RFC 6891 §6.1.3): the TTL's top byte holds the upper 8 bits of the rcode.
                    m.rcode |= UInt16(truncatingIfNeeded: ttl >> 24) << 4
                }
            }
        }
        if !c.isAtEnd { m.anomalies.insert(.trailingBytes) }
        return m
    }

    public static func parse(_ message: [UInt8]) throws(DecodeError) -> DNSMessage {
        let parsed = message.withUnsafeBytes { raw in Swift.Result { () throws(DecodeError) in try parse(raw) } }
        return try parsed.get()
    }

    /// What one length-prefixed message on a TCP stream gave.
    public enum Outcome: Sendable, Equatable {
        case message(DNSMessage)
        /// The framing held but the message inside did not parse; the stream goes on after it.
        case invalid(DecodeError)
    }

    public struct TCPStreamPrefix: Sendable, Equatable {
        /// One entry per complete length-prefixed message, in stream order.
        public var outcomes: [Outcome]
        /// Bytes of the complete messages (prefixes included): where the next call starts.
        public var consumed: Int
        /// Bytes after `consumed` begin a message that is not complete yet.
        public var needsMoreData: Bool
        /// Stopped after `maxMessagesPerCall` messages with bytes left; call again from `consumed`.
        public var reachedMessageLimit: Bool
    }

    /// Splits a TCP stream prefix (either direction, from its first byte or from an earlier call's
    /// `consumed`) into messages by the 2-byte length prefix and parses each.
    public static func parseTCPStream(_ stream: UnsafeRawBufferPointer) -> TCPStreamPrefix {
        var c = ByteCursor(stream)
        var out = TCPStreamPrefix(outcomes: [], consumed: 0, needsMoreData: false, reachedMessageLimit: false)
        while !c.isAtEnd {
            guard out.outcomes.count < maxMessagesPerCall else {
                out.reachedMessageLimit = true
                break
            }
            guard let length = c.readU16(), let body = c.readBytes(Int(length)) else {
                out.needsMoreData = true
                break
            }
            out.consumed = c.offset
            if Int(length) < headerBytes {
                out.outcomes.append(.invalid(DecodeError(badTCPLength, at: out.consumed - Int(length) - 2, "length prefix \(length)")))
                continue
            }
            do {
                out.outcomes.append(.message(try parse(body)))
            } catch {
                out.outcomes.append(.invalid(error))
            }
        }
        return out
    }

    public static func parseTCPStream(_ stream: [UInt8]) -> TCPStreamPrefix {
        stream.withUnsafeBytes { parseTCPStream($0) }
    }

    // MARK: names

    enum Name: Equatable {
        case root
        case host(String)
        /// Could not be decoded or is not a host name; the reason is in the anomalies.
        case unusable

        var text: String? {
            switch self {
            case .root: return "."
            case .host(let h): return h
            case .unusable: return nil
            }
        }
    }

    /// Reads a possibly compressed name at the cursor and moves the cursor past it (past the first
    /// pointer, or the terminating zero). Throws only when the name's own bytes at the cursor are
    /// malformed, as then the message's layout is lost; problems met after a pointer, where the
    /// layout is known, become anomalies and an unusable name.
    static func readName(_ c: inout ByteCursor, in message: UnsafeRawBufferPointer,
                         anomalies: inout Set<Anomaly>) throws(DecodeError) -> Name {
        // The text is put together on the stack and lower-cased there: an array per name, grown label
        // by label and copied again to normalise, was most of the allocations of a DNS-heavy capture.
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxNameBytes) { (text) throws(DecodeError) -> Name in
            try readName(&c, in: message, anomalies: &anomalies, text: text)
        }
    }

    private static func readName(_ c: inout ByteCursor, in message: UnsafeRawBufferPointer, anomalies: inout Set<Anomaly>,
                                 text: UnsafeMutableBufferPointer<UInt8>) throws(DecodeError) -> Name {
        var count = 0  // bytes of `text` written: labels and dots, at most maxNameBytes - 2
        var r = c
        var jumped = false
        var segmentStart = c.position  // start of the run of labels being read
        var hops = 0
        var wire = 1  // the terminating zero byte
        var problem: Anomaly? = nil
        walk: while true {
            let here = r.position
            guard let length = r.readU8() else {
                if jumped { problem = .badCompressedName; break walk }
                throw DecodeError(truncated, at: here, "name runs past the end")
            }
            switch length & 0xC0 {
            case 0x00:
                if length == 0 { break walk }
                guard let label = r.readBytes(Int(length)) else {
                    if jumped { problem = problem ?? .badCompressedName; break walk }
                    throw DecodeError(truncated, at: here, "label of \(length) bytes runs past the end")
                }
                wire += 1 + Int(length)
                if wire > maxNameBytes {
                    problem = problem ?? .nameTooLong
                    if jumped { break walk }  // in place, walk on to find where the name ends
                } else if problem == nil {
                    if count > 0 { text[count] = 0x2E; count += 1 }
                    UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: text[count..<count + label.count])).copyMemory(from: label)
                    count += label.count
                }
            case 0xC0:
                guard let low = r.readU8() else {
                    if jumped { problem = problem ?? .badCompressedName; break walk }
                    throw DecodeError(truncated, at: here, "compression pointer runs past the end")
                }
                if !jumped {
                    c = r
                    jumped = true
                }
                if problem != nil { break walk }
                let target = Int(length & 0x3F) << 8 | Int(low)
                hops += 1
                guard hops <= maxPointerHops else { problem = .tooManyPointers; break walk }
                guard target < segmentStart else {
                    problem = target > here ? .forwardPointer : .pointerLoop
                    break walk
                }
                var next = ByteCursor(message)
                guard next.skip(target) else { problem = .badCompressedName; break walk }
                r = next
                segmentStart = target
            default:
                if jumped { problem = problem ?? .badCompressedName; break walk }
                throw DecodeError(badLabel, at: here, "label type 0x\(String(length & 0xC0, radix: 16))")
            }
        }
        if !jumped { c = r }
        if let problem {
            anomalies.insert(problem)
            return .unusable
        }
        if count == 0 { return .root }
        guard let host = normalizeHostInPlace(UnsafeMutableBufferPointer(rebasing: text[..<count])) else {
            anomalies.insert(.unusualNameBytes)
            return .unusable
        }
        return .host(host)
    }

    // MARK: record data

    /// The data of a record type we read, nil for other types or for data that does not fit.
    static func readRData(type: UInt16, _ rdata: inout ByteCursor, in message: UnsafeRawBufferPointer,
                          anomalies: inout Set<Anomaly>) -> RData? {
        switch type {
        case 1:
            guard rdata.remaining == 4, let v = rdata.readU32() else { anomalies.insert(.badRData); return nil }
            return .address(.v4(v))
        case 28:
            guard rdata.remaining == 16, let hi = rdata.readU64(), let lo = rdata.readU64() else {
                anomalies.insert(.badRData)
                return nil
            }
            return .address(.v6(hi, lo))
        case 5:
            let name: Name
            do {
                name = try readName(&rdata, in: message, anomalies: &anomalies)
            } catch {
                anomalies.insert(.badRData)
                return nil
            }
            if !rdata.isAtEnd { anomalies.insert(.badRData) }
            return .name(name.text)
        case 64, 65:
            // SvcPriority, TargetName (RFC 9460 §2.2: not compressed; a pointer is followed anyway),
            // then SvcParams as key, length, value.
            guard let priority = rdata.readU16() else { anomalies.insert(.badRData); return nil }
            let target: Name
            do {
                target = try readName(&rdata, in: message, anomalies: &anomalies)
            } catch {
                anomalies.insert(.badRData)
                return nil
            }
            var v4: [IPAddress] = [], v6: [IPAddress] = []
            while !rdata.isAtEnd {
                guard let key = rdata.readU16(), let length = rdata.readU16(), var value = rdata.readCursor(Int(length)) else {
                    anomalies.insert(.badRData)
                    break
                }
                switch key {
                case 4:  // ipv4hint
                    guard value.remaining % 4 == 0 else { anomalies.insert(.badRData); continue }
                    while let a = value.readU32() { v4.append(.v4(a)) }
                case 6:  // ipv6hint
                    guard value.remaining % 16 == 0 else { anomalies.insert(.badRData); continue }
                    while let hi = value.readU64(), let lo = value.readU64() { v6.append(.v6(hi, lo)) }
                default:
                    break
                }
            }
            return .service(priority: priority, target: target.text, ipv4Hints: v4, ipv6Hints: v6)
        default:
            return nil
        }
    }
}
