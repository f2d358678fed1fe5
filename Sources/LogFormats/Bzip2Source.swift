import CBzip2

/// bzip2 through libbz2; concatenated streams (pbzip2 output) are read one after another.
public final class Bzip2Source: ByteSource {
    private var input: InputBuffer
    private let stream: UnsafeMutablePointer<bz_stream>
    private var inStream = false
    private var output = 0

    public init(_ inner: any ByteSource) {
        input = InputBuffer(inner)
        stream = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)
        stream.initialize(to: bz_stream())
    }

    deinit {
        if inStream { BZ2_bzDecompressEnd(stream) }
        stream.deallocate()
        input.free()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let capacity = UInt32(clamping: buffer.count)
        while true {
            if !(try input.refillIfEmpty()) {
                if inStream { throw ByteSourceError("bzip2: input ended inside a stream (truncated)") }
                return 0
            }
            if !inStream {
                stream.pointee = bz_stream()
                guard BZ2_bzDecompressInit(stream, 0, 0) == BZ_OK else { throw ByteSourceError("bzip2: cannot start the decoder") }
                inStream = true
            }
            stream.pointee.next_in = (input.bytes.baseAddress! + input.start).assumingMemoryBound(to: CChar.self)
            stream.pointee.avail_in = UInt32(input.available)
            stream.pointee.next_out = out.assumingMemoryBound(to: CChar.self)
            stream.pointee.avail_out = capacity
            let status = BZ2_bzDecompress(stream)
            input.start = input.end - Int(stream.pointee.avail_in)
            let produced = Int(capacity - stream.pointee.avail_out)
            output += produced
            if status == BZ_STREAM_END {
                BZ2_bzDecompressEnd(stream)
                inStream = false
            } else if status != BZ_OK {
                throw ByteSourceError("bzip2: corrupt input (code \(status))")
            }
            try DecompressionLimits.checkRatio(input: input.total, output: output, format: "bzip2")
            if produced > 0 { return produced }
        }
    }
}
