import CISAL

/// gzip through ISA-L's igzip inflate: every member of a multi-member file (`cat a.gz b.gz`, or
/// logrotate's appends), with each member's CRC checked. A member cut short is an error after its
/// bytes so far were delivered; bytes after the last member that are not another member are ignored
/// and reported, as gzip(1) does.
public final class GzipSource: ByteSource {
    private var input: InputBuffer
    private let state: UnsafeMutablePointer<inflate_state>
    private var inMember = false
    private var output = 0
    public private(set) var members = 0
    /// Oddities that did not stop decompression, for the summary.
    public private(set) var warnings: [SourceWarning] = []

    public init(_ inner: any ByteSource) {
        input = InputBuffer(inner)
        state = UnsafeMutablePointer<inflate_state>.allocate(capacity: 1)
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
    }

    deinit {
        state.deallocate()
        input.free()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let capacity = UInt32(clamping: buffer.count)
        while true {
            if !(try input.refillIfEmpty()) {
                if inMember { throw ByteSourceError("gzip: member \(members + 1) is truncated (input ended inside it)") }
                return 0
            }
            if !inMember {
                // A new member must start with the gzip magic; anything else is trailing garbage.
                if input.available >= 2 || input.ended {
                    let b = input.bytes
                    if input.available < 2 || b[input.start] != 0x1F || b[input.start + 1] != 0x8B {
                        warnings.append(SourceWarning("gzip.trailing-bytes", "\(input.available) byte(s) after member \(members) are not a gzip member: ignored"))
                        input.start = input.end
                        input.ended = true
                        return 0
                    }
                }
                isal_inflate_reset(state)
                state.pointee.crc_flag = UInt32(ISAL_GZIP)
                inMember = true
            }
            state.pointee.next_in = input.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + input.start
            state.pointee.avail_in = UInt32(input.available)
            state.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = capacity
            let status = isal_inflate(state)
            input.start = input.end - Int(state.pointee.avail_in)
            let produced = Int(capacity - state.pointee.avail_out)
            output += produced
            guard status >= 0 else { throw ByteSourceError("gzip: member \(members + 1) is corrupt (\(Self.describe(status)))") }
            if state.pointee.block_state == ISAL_BLOCK_FINISH {
                inMember = false
                members += 1
            }
            try DecompressionLimits.checkRatio(input: input.total, output: output, format: "gzip")
            if produced > 0 { return produced }
        }
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case ISAL_INVALID_BLOCK: return "invalid deflate block"
        case ISAL_INVALID_SYMBOL: return "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: return "invalid lookback distance"
        case ISAL_INVALID_WRAPPER: return "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method"
        case ISAL_INCORRECT_CHECKSUM: return "CRC mismatch"
        default: return "error \(status)"
        }
    }
}
