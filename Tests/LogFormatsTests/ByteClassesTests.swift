import XCTest

@testable import LogFormats

/// The SIMD byte scans the log readers use, against byte-at-a-time definitions.
final class ByteClassesTests: XCTestCase {
    /// Bytes drawn mostly from the ones the scans look for, so every lane sees hits and misses.
    func randomBytes(_ count: Int, _ rng: inout some RandomNumberGenerator) -> [UInt8] {
        let interesting: [UInt8] = [0x0A, 0x20, 0x09, 0x0D, 0x00, 0x01, 0x0B, 0x0C, 0x0E, 0x8D, 0x8E, 0x2F, 0x3A, 0x3F, 0x23, 0x40, 0x5B, 0x61, 0x8A, 0xAA, 0xFF]
        return (0..<count).map { _ in Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
    }

    func testClassesOfSixtyFourBytesMatchEachByte() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let bytes = randomBytes(64, &rng)
            // The SSE2 classes and the word-at-a-time ones other CPUs use.
            for classes in [bytes.withUnsafeBytes { ByteClasses($0.baseAddress!) },
                            bytes.withUnsafeBytes { ByteClasses(portable: $0.baseAddress!) }] {
                for (i, b) in bytes.enumerated() {
                    let bit = UInt64(1) << UInt64(i)
                    XCTAssertEqual(classes.newline & bit != 0, b == 0x0A)
                    XCTAssertEqual(classes.separator & bit != 0, b == 0x20 || b == 0x0A)
                    XCTAssertEqual(classes.control & bit != 0, b < 0x0E && b != 0x0A, "byte \(b)")
                }
            }
        }
    }

    /// Lengths around 16 and past 255 rounds of 16 (where the byte counters are widened), and a run of
    /// nothing but LFs that fills every counter.
    func testNewlineCountIsTheNumberOfLineFeeds() {
        var rng = SystemRandomNumberGenerator()
        for count in Array(0...70) + [4_079, 4_080, 4_081, 8_200, 100_003] {
            let bytes = randomBytes(count, &rng)
            XCTAssertEqual(bytes.withUnsafeBytes { countNewlines($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count) },
                           bytes.filter { $0 == 0x0A }.count, "\(count) bytes")
        }
        let allNewlines = [UInt8](repeating: 0x0A, count: 70_001)
        XCTAssertEqual(allNewlines.withUnsafeBytes { countNewlines($0.baseAddress!, $0.count) }, 70_001)
    }

    /// The first host delimiter, for every start and end in random text, with every readable limit
    /// around the 16-byte loads.
    func testFirstHostDelimiterIsTheFirstOfThoseBytes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let bytes = randomBytes(Int.random(in: 1...50, using: &rng), &rng)
            bytes.withUnsafeBytes { raw in
                for from in 0..<bytes.count {
                    for to in from...bytes.count {
                        let expected = bytes[from..<to].firstIndex { [0x2F, 0x3A, 0x3F, 0x23, 0x40, 0x5B].contains($0) } ?? to
                        for readable in Set([to, bytes.count, min(bytes.count, from + 16)]) where readable >= to {
                            XCTAssertEqual(firstHostDelimiter(raw.baseAddress!, from: from, to: to, readable: readable), expected)
                        }
                    }
                }
            }
        }
    }
}
