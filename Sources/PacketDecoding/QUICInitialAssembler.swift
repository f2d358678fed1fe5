import ShadowScopeCore

/// Per-UDP-flow state that turns a QUIC client's Initial packets into its ClientHello: walks the
/// coalesced packets of each datagram (QUICHeader), opens the client's Initials (QUICInitialDecryption),
/// reassembles their CRYPTO frames (QUICFrames, QUICCryptoStream) and parses the contiguous prefix with
/// `TLSClientHello.parseHandshake`. Google QUIC (GoogleQUIC.swift): Q050/T050/T051 Initials the same way
/// with gQUIC frames inside (Q050's handshake is a CHLO message), Q046's cleartext CHLO on stream 1.
/// Any UDP port: the first datagram decides whether the flow is QUIC.
///
/// Feed the flow's datagrams in capture order; client-to-server ones are what matter, but server
/// Initials (DCID = the client's SCID), Handshake, 0-RTT and 1-RTT packets are stepped over, so feeding
/// both directions is fine. Memory: at most `QUICCryptoStream.maxCryptoBytes` plus a bitmap and two
/// connection IDs. Work: at most `maxInitialPackets` decryption attempts per flow.
public struct QUICInitialAssembler: Sendable {
    /// Most Initial packets we try to open per flow without completing the ClientHello (a real
    /// client needs 1–3; more is retransmission, a flood or not a client).
    public static let maxInitialPackets = 16

    public static let tooManyInitials = DecodeError.Code("quic.too-many-initials")

    public enum Result: Sendable, Equatable {
        /// QUIC (or nothing yet): feed the flow's next datagram.
        case needMoreData
        /// The ClientHello is complete. Terminal: later datagrams get the same answer.
        case sni(TLSClientHello.Hello)
        /// The flow's first datagram is not a QUIC long header. Terminal.
        case notQUIC
        /// A server's Version Negotiation packet, with the versions it offers.
        case versionNegotiation([UInt32])
        /// A server's Retry packet; the client will start over with a new DCID (handled).
        case retry
        /// QUIC whose Initials we cannot decrypt (Google QUIC before Q046, other drafts, greased). Terminal.
        case unsupportedVersion(UInt32)
        /// This datagram could not be used (truncated, AEAD failure, bad frame, CRYPTO beyond the limit):
        /// count it; the assembler goes on with the next one. Terminal for a malformed ClientHello
        /// (TLSClientHello codes) and `tooManyInitials`.
        case error(DecodeError)
    }

    /// What this flow showed besides the result; for the flow table's counters and anomaly flags.
    public struct Counters: Sendable, Equatable {
        /// Client Initial packets opened.
        public var initialPackets = 0
        /// Initial packets that could not be opened (AEAD failure, too short).
        public var failedPackets = 0
        /// Handshake, 0-RTT, 1-RTT and server Initial packets stepped over.
        public var skippedPackets = 0
        public var cryptoFramesBeyondLimit = 0
        /// Initial packets whose frames stopped at a type not allowed there (`QUICFrames.unexpectedFrame`).
        public var unexpectedFrames = 0
        public var connectionCloses = 0
        public var reservedBitsSet = 0
        public var retries = 0
        public var versionNegotiations = 0
        /// Client restarted with a new DCID after a Retry: reassembly started over.
        public var restarts = 0
        /// Datagrams with bytes after their last whole packet that are no packet (padding; zeros after
        /// a short-header guess are counted as a skipped packet instead).
        public var trailingBytes = 0
    }

    public private(set) var counters = Counters()
    /// The DCID of the client's first Initial: the Initial keys derive from it. Set by `init` when the
    /// caller knows it, else from the first Initial seen.
    public private(set) var clientDestinationConnectionID: [UInt8]?
    /// The SCID of the client's first Initial (server Initials carry it as DCID).
    public private(set) var clientSourceConnectionID: [UInt8]?
    /// The version of the last client Initial opened.
    public private(set) var version: QUICVersion?
    /// A terminal result was given (`.sni`, `.notQUIC`, `.unsupportedVersion`, or a terminal `.error`):
    /// every later datagram gets the same answer without being parsed, so the flow can drop this state.
    public var isFinished: Bool { finished != nil }

    private var cachedKeys: (version: QUICVersion, keys: QUICInitialKeys)?
    private var largestPacketNumber: UInt64?
    private var crypto = QUICCryptoStream()
    private var parsedUpTo = 0
    private var attempts = 0
    private var seenQUIC = false
    private var finished: Result?

    /// - Parameter clientDestinationConnectionID: the DCID of the client's first Initial on this
    ///   connection, when the caller has it; nil to take it from the first Initial fed.
    public init(clientDestinationConnectionID: [UInt8]? = nil) {
        self.clientDestinationConnectionID = clientDestinationConnectionID
    }

    /// Feeds one UDP payload.
    public mutating func add(datagram: UnsafeRawBufferPointer) -> Result {
        if let finished { return finished }
        if datagram.isEmpty { return .needMoreData }
        var c = ByteCursor(datagram)
        var firstError: DecodeError?
        var notice: Result?
        var index = 0
        while !c.isAtEnd {
            let next: (packet: QUICPacket, bytes: UnsafeRawBufferPointer)?
            do {
                next = try QUICHeader.next(&c)
            } catch {
                // After a whole packet, undecodable bytes are padding (aioquic appends random bytes).
                if index == 0 { firstError = firstError ?? error } else { counters.trailingBytes += 1 }
                break
            }
            guard let next else {
                if index == 0 && !seenQUIC { return finish(.notQUIC) }
                if index > 0 { counters.trailingBytes += 1 }
                break  // bytes after the coalesced packets: padding (zeros or random)
            }
            index += 1
            switch next.packet {
            case .short:
                if index == 1 && !seenQUIC { return finish(.notQUIC) }
                counters.skippedPackets += 1
            case .versionNegotiation(_, _, let versions):
                seenQUIC = true
                counters.versionNegotiations += 1
                notice = .versionNegotiation(versions)
            case .retry:
                seenQUIC = true
                counters.retries += 1
                notice = .retry
            case .unsupportedVersion(let v) where v == GoogleQUIC.q046:
                seenQUIC = true
                do {
                    if let hello = try addQ046(next.bytes) { return finish(.sni(hello)) }
                } catch {
                    if let finished { return finished }
                    firstError = firstError ?? error
                }
            case .unsupportedVersion(let v):
                if !seenQUIC { return finish(.unsupportedVersion(v)) }
                counters.skippedPackets += 1
            case .long(let header):
                seenQUIC = true
                guard header.type == .initial else {
                    counters.skippedPackets += 1
                    continue
                }
                do {
                    if let hello = try addInitial(header, next.bytes) { return finish(.sni(hello)) }
                } catch {
                    if let finished { return finished }
                    firstError = firstError ?? error
                }
            }
        }
        if let firstError { return .error(firstError) }
        return notice ?? .needMoreData
    }

    public mutating func add(datagram: [UInt8]) -> Result {
        datagram.withUnsafeBytes { add(datagram: $0) }
    }

    private mutating func finish(_ result: Result) -> Result {
        finished = result
        return result
    }

    /// Takes one Q046 packet: cleartext, its CHLO on stream 1. A server's packet (no destination
    /// connection ID) is stepped over.
    private mutating func addQ046(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> TLSClientHello.Hello? {
        guard bytes.count > 5 else { throw DecodeError(GoogleQUIC.badPacket, at: bytes.count, "Q046 header of \(bytes.count) bytes") }
        guard bytes[5] >> 4 != 0 else {
            counters.skippedPackets += 1
            return nil
        }
        try countAttempt()
        let data = try GoogleQUIC.q046CryptoData(bytes)
        counters.initialPackets += 1
        return try addHandshakeData(data.map { QUICFrames.CryptoFrame(offset: $0.offset, data: $0.data) }, chlo: true)
    }

    private mutating func countAttempt() throws(DecodeError) {
        attempts += 1
        guard attempts <= Self.maxInitialPackets else {
            let error = DecodeError(Self.tooManyInitials, at: 0, "\(Self.maxInitialPackets) Initial packets without a whole ClientHello")
            finished = .error(error)
            throw error
        }
    }

    /// Opens one Initial, stores its CRYPTO data and tries the ClientHello. Sets `finished` before
    /// throwing a terminal error.
    private mutating func addInitial(_ header: QUICLongHeader, _ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> TLSClientHello.Hello? {
        let dcid = header.destinationConnectionID
        if clientDestinationConnectionID == nil { clientDestinationConnectionID = dcid }
        if clientSourceConnectionID == nil && dcid == clientDestinationConnectionID {
            clientSourceConnectionID = header.sourceConnectionID
        }
        if let scid = clientSourceConnectionID, dcid == scid, dcid != clientDestinationConnectionID {
            counters.skippedPackets += 1  // the server's Initial
            return nil
        }
        try countAttempt()
        let opened: QUICOpenedPacket
        do {
            opened = try QUICInitialDecryption.open(bytes, header: header, keys: keys(for: header.version),
                                                    largestPacketNumber: largestPacketNumber)
        } catch {
            // After a Retry the client starts over with the server's chosen DCID: try that once.
            guard error.code == QUICInitialDecryption.aeadFailed, dcid != clientDestinationConnectionID,
                  let reopened = try? QUICInitialDecryption.open(bytes, header: header,
                        keys: .client(destinationConnectionID: dcid, version: header.version), largestPacketNumber: nil)
            else {
                counters.failedPackets += 1
                throw error
            }
            restart(destinationConnectionID: dcid, sourceConnectionID: header.sourceConnectionID)
            opened = reopened
        }
        counters.initialPackets += 1
        version = header.version
        largestPacketNumber = max(largestPacketNumber ?? 0, opened.packetNumber)
        if opened.reservedBitsSet { counters.reservedBitsSet += 1 }

        let google = header.version.usesGoogleFrames
        let frames = try opened.payload.withUnsafeBytes { raw in
            Swift.Result { () throws(DecodeError) in try google ? GoogleQUIC.frames(raw) : QUICFrames.parse(raw) }
        }.get()
        if frames.anomaly != nil { counters.unexpectedFrames += 1 }
        if frames.connectionCloseError != nil { counters.connectionCloses += 1 }
        return try addHandshakeData(frames.crypto, chlo: header.version == .q050)
    }

    /// Stores CRYPTO data and, when the gap-free prefix grew, parses it: a TLS ClientHello, or with
    /// `chlo` Google QUIC's CHLO message.
    private mutating func addHandshakeData(_ frames: [QUICFrames.CryptoFrame], chlo: Bool) throws(DecodeError) -> TLSClientHello.Hello? {
        var limitError: DecodeError?
        for frame in frames {
            do {
                try crypto.add(offset: frame.offset, data: frame.data)
            } catch {
                counters.cryptoFramesBeyondLimit += 1
                limitError = limitError ?? error
            }
        }
        if crypto.contiguous > parsedUpTo {
            parsedUpTo = crypto.contiguous
            let prefix = Array(crypto.contiguousPrefix)
            let parsed = prefix.withUnsafeBytes { raw in
                Swift.Result { () throws(DecodeError) in try chlo ? GoogleQUIC.parseCHLO(raw) : TLSClientHello.parseHandshake(raw) }
            }
            switch parsed {
            case .success(.hello(let hello)): return hello
            case .success: break
            case .failure(let error):
                finished = .error(error)
                throw error
            }
        }
        if let limitError { throw limitError }
        return nil
    }

    private mutating func keys(for version: QUICVersion) -> QUICInitialKeys {
        if let cachedKeys, cachedKeys.version == version { return cachedKeys.keys }
        let keys = QUICInitialKeys.client(destinationConnectionID: clientDestinationConnectionID ?? [], version: version)
        cachedKeys = (version, keys)
        return keys
    }

    private mutating func restart(destinationConnectionID: [UInt8], sourceConnectionID: [UInt8]) {
        counters.restarts += 1
        clientDestinationConnectionID = destinationConnectionID
        clientSourceConnectionID = sourceConnectionID
        cachedKeys = nil
        largestPacketNumber = nil
        crypto = QUICCryptoStream()
        parsedUpTo = 0
    }
}
