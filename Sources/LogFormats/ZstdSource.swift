import CZstd

/// zstd through libzstd's streaming decoder; concatenated frames are read one after another.
public final class ZstdSource: ByteSource {
    private var input: InputBuffer
    private let stream: OpaquePointer
    /// libzstd returns 0 exactly when a frame is complete; anything else at the end means truncated.
    private var frameOpen = false
    private var output = 0

    public init(_ inner: any ByteSource) {
        input = InputBuffer(inner)
        stream = ZSTD_createDStream()
        ZSTD_initDStream(stream)
    }

    deinit {
        ZSTD_freeDStream(stream)
        input.free()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            if !(try input.refillIfEmpty()) {
                if frameOpen { throw ByteSourceError("zstd: input ended inside a frame (truncated)") }
                return 0
            }
            var inBuf = ZSTD_inBuffer(src: input.bytes.baseAddress! + input.start, size: input.available, pos: 0)
            var outBuf = ZSTD_outBuffer(dst: out, size: buffer.count, pos: 0)
            let hint = ZSTD_decompressStream(stream, &outBuf, &inBuf)
            input.start += inBuf.pos
            if ZSTD_isError(hint) != 0 {
                throw ByteSourceError("zstd: corrupt input (\(String(cString: ZSTD_getErrorName(hint))))")
            }
            frameOpen = hint != 0
            output += outBuf.pos
            try DecompressionLimits.checkRatio(input: input.total, output: output, format: "zstd")
            if outBuf.pos > 0 { return outBuf.pos }
        }
    }
}
