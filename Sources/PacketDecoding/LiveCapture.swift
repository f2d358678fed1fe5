import CPcap
import Glibc
import ShadowScopeCore

/// Live capture from a network interface through libpcap: the same reader the file scan uses, so
/// the same decoders see the packets.
extension PcapReader {
    public struct LiveOptions: Sendable {
        public var interface: String
        /// A BPF filter (tcpdump syntax), compiled by libpcap; nil captures everything.
        public var filter: String?
        /// Bytes kept per packet: names sit in the first segments, sizes come from headers.
        public var snapLength: Int32 = 65_535
        /// The kernel ring buffer; larger rides out bursts without drops.
        public var bufferBytes: Int32 = 64 << 20
        /// How long a read waits for a packet before returning `.timeout`.
        public var timeoutMilliseconds: Int32 = 250
        public var promiscuous = true

        public init(interface: String, filter: String? = nil) {
            self.interface = interface
            self.filter = filter
        }
    }

    /// Counters from pcap_stats: packets the kernel passed, dropped for lack of buffer space, and
    /// dropped by the interface or its driver.
    public struct LiveStatistics: Sendable, Equatable {
        public var received: UInt64
        public var dropped: UInt64
        public var interfaceDropped: UInt64
    }

    /// Opens `options.interface` for live capture in immediate mode (packets are delivered as they
    /// arrive, not when a buffer fills). Errors name the interface and say what libpcap said.
    public convenience init(live options: LiveOptions) throws(OpenError) {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let name = options.interface
        guard let h = pcap_create(name, &errbuf) else {
            throw OpenError(file: name, reason: errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        pcap_set_snaplen(h, options.snapLength)
        pcap_set_promisc(h, options.promiscuous ? 1 : 0)
        pcap_set_timeout(h, options.timeoutMilliseconds)
        pcap_set_buffer_size(h, options.bufferBytes)
        pcap_set_immediate_mode(h, 1)
        let status = pcap_activate(h)
        if status < 0 {
            let detail = String(cString: pcap_geterr(h))
            let reason: String
            switch status {
            case PCAP_ERROR_PERM_DENIED: reason = "permission denied (needs CAP_NET_RAW and CAP_NET_ADMIN, or root): \(detail)"
            case PCAP_ERROR_NO_SUCH_DEVICE: reason = "no such interface: \(detail)"
            case PCAP_ERROR_IFACE_NOT_UP: reason = "interface is not up"
            default: reason = detail.isEmpty ? String(cString: pcap_statustostr(status)) : detail
            }
            pcap_close(h)
            throw OpenError(file: name, reason: reason)
        }
        if let filter = options.filter {
            var program = bpf_program()
            guard pcap_compile(h, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                let reason = "filter '\(filter)': \(String(cString: pcap_geterr(h)))"
                pcap_close(h)
                throw OpenError(file: name, reason: reason)
            }
            defer { pcap_freecode(&program) }
            guard pcap_setfilter(h, &program) == 0 else {
                let reason = "filter '\(filter)': \(String(cString: pcap_geterr(h)))"
                pcap_close(h)
                throw OpenError(file: name, reason: reason)
            }
        }
        // Non-blocking, and we poll with the timeout ourselves: libpcap's TPACKET_V3 reader on Linux
        // goes on waiting after its timeout, and the loop must wake for signals and checkpoints.
        let fd = pcap_get_selectable_fd(h)
        guard fd >= 0, pcap_setnonblock(h, 1, &errbuf) == 0 else {
            pcap_close(h)
            throw OpenError(file: name, reason: "cannot make the capture non-blocking: \(errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
        }
        self.init(handle: h)
        livePoll = (fd, options.timeoutMilliseconds)
    }

    /// The live counters, or nil for a file (libpcap keeps none).
    public func statistics() -> LiveStatistics? {
        var s = pcap_stat()
        guard pcap_stats(handle, &s) == 0 else { return nil }
        return LiveStatistics(received: UInt64(s.ps_recv), dropped: UInt64(s.ps_drop), interfaceDropped: UInt64(s.ps_ifdrop))
    }

    /// Makes the next read return `.end`: how a stop request ends a live capture.
    public func breakLoop() { pcap_breakloop(handle) }
}
