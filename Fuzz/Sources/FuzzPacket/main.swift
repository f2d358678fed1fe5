// FuzzPacket: hands libFuzzer's inputs to PacketFuzzHarness.targets["FuzzPacket"], the harness the regression tests
// replay too (it says what the bytes mean). LLVMFuzzerRunDriver takes over, so libFuzzer's main is not linked.
import CFuzzerDriver
import Glibc
import PacketDecoding

let harness = PacketFuzzHarness.targets["FuzzPacket"]!
var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    harness(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
})
