// Log formats: the first byte picks one (every sniffable format, and Squid's built-in custom
// logformats); the rest is read through LineReader in small chunks of a size taken from the second
// byte and every line goes to that format's parser. The format sniffer sees the same bytes.
import CFuzzerDriver
import Glibc
import LogFormats
import ShadowScopeCore

/// A byte source over memory that returns at most `chunk` bytes per read.
struct MemorySource: ByteSource {
    var bytes: UnsafeRawBufferPointer
    var offset = 0
    var chunk: Int
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        let n = min(chunk, buffer.count, bytes.count - offset)
        guard n > 0, let dst = buffer.baseAddress, let src = bytes.baseAddress else { return 0 }
        dst.copyMemory(from: src + offset, byteCount: n)
        offset += n
        return n
    }
}

let formats: [any LogFormat] = {
    var all = allLogFormats
    for name in ["squid", "common", "combined", "referrer", "useragent"] {
        if let f = try? SquidCustom(logformat: name) { all.append(f) }
    }
    if let f = try? SquidCustom(logformat: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt %>st %{Host}>h") { all.append(f) }
    return all
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let format = formats[Int(data[0]) % formats.count]
    let text = UnsafeRawBufferPointer(start: data + 2, count: size - 2)
    _ = detectLogFormat(sample: text)
    var source = MemorySource(bytes: text, chunk: Int(data[1]) + 1)
    var report = InputReport(file: "fuzz", format: format.name)
    LogScanner(format: format).scan(source: &source, file: "fuzz", report: &report) { o in _ = o.host }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
