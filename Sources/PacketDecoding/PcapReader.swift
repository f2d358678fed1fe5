import CPcap
import Glibc
import ShadowScopeCore

/// A pcap or pcapng file read by libpcap. Not thread-safe: one reader per thread.
public final class PcapReader {
    public struct OpenError: Error, CustomStringConvertible {
        public var file: String
        public var reason: String
        public var description: String { "\(file): \(reason)" }
        public init(file: String, reason: String) {
            self.file = file
            self.reason = reason
        }
    }

    public enum Next {
        case packet(ts: Timestamp, captured: UnsafeRawBufferPointer, originalLength: Int)
        case end
        /// Live capture: no packet within the read timeout (the caller can do periodic work).
        case timeout
        /// libpcap cannot go on (a truncated or corrupt file); what was read so far stands.
        case error(String)
    }

    let handle: OpaquePointer
    public let dlt: Int32
    /// libpcap's name for the link type, e.g. `EN10MB`, `LINUX_SLL`.
    public let linkTypeName: String

    /// Opens a file by path; `-` is standard input.
    public convenience init(path: String) throws(OpenError) {
        // The file is opened here so that its stream reads 64 KB at a time: libpcap's own fopen keeps
        // stdio's 4 KB buffer, 270,000 read calls for a 1 GB capture. (A MiB buffer was slower: as large
        // as the L2 cache, the bytes were no longer in it when libpcap copied each packet out.)
        if path != "-", let stream = fopen(path, "rbe") {
            try self.init(stream: stream, name: path)
            return
        }
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let h = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errbuf) else {
            throw OpenError(file: path, reason: errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        self.init(handle: h)
    }

    /// Reads from an open stream (a pipe fed with bytes already sniffed from stdin). Takes ownership.
    public convenience init(stream: UnsafeMutablePointer<FILE>, name: String) throws(OpenError) {
        // glibc takes the size only with a buffer of ours (given none, it keeps the file's 4 KB block).
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.streamBufferBytes)
        setvbuf(stream, buffer, _IOFBF, Self.streamBufferBytes)  // before libpcap reads anything
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let h = pcap_fopen_offline_with_tstamp_precision(stream, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errbuf) else {
            fclose(stream)
            buffer.deallocate()
            throw OpenError(file: name, reason: errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        self.init(handle: h)
        streamBuffer = buffer
    }

    /// Live capture: the descriptor to wait on and how long, since libpcap on Linux keeps waiting
    /// past its own read timeout; nil for files.
    var livePoll: (fd: Int32, milliseconds: Int32)? = nil

    init(handle: OpaquePointer) {
        self.handle = handle
        dlt = pcap_datalink(handle)
        linkTypeName = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "DLT \(dlt)"
    }

    /// The stream buffer of a file this reader opened, freed once libpcap has closed the stream.
    private var streamBuffer: UnsafeMutablePointer<CChar>? = nil
    static let streamBufferBytes = 64 << 10

    deinit {
        pcap_close(handle)
        streamBuffer?.deallocate()
    }

    /// The next packet. Its bytes are valid only until the following call.
    public func next() -> Next {
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var data: UnsafePointer<UInt8>? = nil
        var status = pcap_next_ex(handle, &header, &data)
        if status == 0, let (fd, ms) = livePoll {  // non-blocking handle: wait here, up to the timeout
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, ms) > 0 { status = pcap_next_ex(handle, &header, &data) }
        }
        switch status {
        case 1:
            guard let h = header?.pointee, let data else { return .error("libpcap returned no packet data") }
            let ts = Timestamp(seconds: Int64(h.ts.tv_sec), microseconds: Int64(h.ts.tv_usec))
            return .packet(ts: ts, captured: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)), originalLength: Int(h.len))
        case 0:  // live: the read timeout expired
            return .timeout
        case PCAP_ERROR_BREAK:  // -2: end of file, or pcap_breakloop on a live handle
            return .end
        default:
            return .error(String(cString: pcap_geterr(handle)))
        }
    }
}

/// True when the first bytes are a pcap (either byte order, micro- or nanosecond) or pcapng header.
public func looksLikeCapture(_ prefix: some Collection<UInt8>) -> Bool {
    guard prefix.count >= 4 else { return false }
    let m = Array(prefix.prefix(4))
    let magics: [[UInt8]] = [
        [0xD4, 0xC3, 0xB2, 0xA1], [0xA1, 0xB2, 0xC3, 0xD4],  // pcap, microseconds
        [0x4D, 0x3C, 0xB2, 0xA1], [0xA1, 0xB2, 0x3C, 0x4D],  // pcap, nanoseconds
        [0x0A, 0x0D, 0x0D, 0x0A],                            // pcapng section header block
    ]
    return magics.contains(m)
}
