// Decompression: the input is fed to the decompressor its magic number names (gzip, zstd, bzip2,
// xz; without a known magic, the first byte picks one). Output is drained and dropped; the bomb
// limit (DecompressionLimits) must stop a runaway stream, and no read may trap.
import CFuzzerDriver
import Glibc
import LogFormats

struct MemorySource: ByteSource {
    var bytes: UnsafeRawBufferPointer
    var offset = 0
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        let n = min(4096, buffer.count, bytes.count - offset)
        guard n > 0, let dst = buffer.baseAddress, let src = bytes.baseAddress else { return 0 }
        dst.copyMemory(from: src + offset, byteCount: n)
        offset += n
        return n
    }
}

let kinds: [Compression] = [.gzip, .zstd, .bzip2, .xz]
let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let kind = Compression(magic: bytes) ?? kinds[Int(data[0]) % kinds.count]
    var source = kind.source(over: MemorySource(bytes: bytes))
    var total = 0
    // Stop well before the fuzzer's memory and time limits; the bomb limit itself is tested in the unit tests.
    while total < 256 << 20 {
        guard let n = try? source.read(into: out), n > 0 else { break }
        total += n
    }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
