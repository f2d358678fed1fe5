import CLZMA

/// xz through liblzma, with concatenated streams (`LZMA_CONCATENATED`) and no memory limit beyond
/// the format's own (xz's default presets need at most 64 MiB to decode).
public final class XzSource: ByteSource {
    private var input: InputBuffer
    private let stream: UnsafeMutablePointer<lzma_stream>
    private var started = false
    private var finished = false
    private var output = 0

    public init(_ inner: any ByteSource) {
        input = InputBuffer(inner)
        stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
        stream.initialize(to: lzma_stream())
    }

    deinit {
        if started { lzma_end(stream) }
        stream.deallocate()
        input.free()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0, !finished else { return 0 }
        if !started {
            guard lzma_stream_decoder(stream, UInt64.max, 0x08 /* LZMA_CONCATENATED, a macro Swift cannot import */) == LZMA_OK else {
                throw ByteSourceError("xz: cannot start the decoder")
            }
            started = true
        }
        while true {
            let more = try input.refillIfEmpty()
            stream.pointee.next_in = UnsafePointer((input.bytes.baseAddress! + input.start).assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = input.available
            stream.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = buffer.count
            let status = lzma_code(stream, more ? LZMA_RUN : LZMA_FINISH)
            input.start = input.end - stream.pointee.avail_in
            let produced = buffer.count - stream.pointee.avail_out
            output += produced
            switch status {
            case LZMA_OK:
                break
            case LZMA_STREAM_END:
                finished = true
                return produced
            case LZMA_BUF_ERROR where !more:
                throw ByteSourceError("xz: input ended inside a stream (truncated)")
            default:
                throw ByteSourceError("xz: corrupt input (lzma code \(status.rawValue))")
            }
            try DecompressionLimits.checkRatio(input: input.total, output: output, format: "xz")
            if produced > 0 { return produced }
            if !more { throw ByteSourceError("xz: input ended inside a stream (truncated)") }
        }
    }
}
