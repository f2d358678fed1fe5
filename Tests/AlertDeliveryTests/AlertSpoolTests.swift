import AlertDelivery
import Foundation
import XCTest

/// The on-disk spool: restarts, acknowledgement, compaction, and damaged files (torn, truncated,
/// lying lengths, garbage) that are counted and skipped, never fatal.
final class AlertSpoolTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func payload(_ i: Int) -> [UInt8] { Array("<35>1 - h shadowscope 1 alert - {\"n\":\(i)}".utf8) }

    func pendingPayloads(_ spool: AlertSpool) -> [[UInt8]] { spool.pending(limit: .max).map(\.payload) }

    var recordsFile: String { dir + "/records-0" }

    func fileBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func writeBytes(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    func testRecordsSurviveARestartInOrder() throws {
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        try spool?.append([payload(1), payload(2)])
        try spool?.append([payload(3)])
        spool = nil  // a restart: the process lets go of the spool
        let reopened = try AlertSpool(directory: dir)
        XCTAssertEqual(pendingPayloads(reopened), [payload(1), payload(2), payload(3)])
        XCTAssertTrue(reopened.damage.isEmpty, reopened.damage.description)
    }

    func testAcknowledgedRecordsAreNotSentAgainAfterARestart() throws {
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        try spool?.append([payload(1), payload(2), payload(3)])
        let first2 = try XCTUnwrap(spool?.pending(limit: 2).last?.end)
        try spool?.acknowledge(through: first2)
        XCTAssertEqual(spool?.pendingCount, 1)
        XCTAssertEqual(try String(contentsOfFile: dir + "/state", encoding: .utf8), "shadowscope-spool/1 generation=0 offset=\(first2)\n")
        spool = nil
        let reopened = try AlertSpool(directory: dir)
        XCTAssertEqual(pendingPayloads(reopened), [payload(3)])
    }

    func testEverythingAcknowledgedCompactsTheRecordFile() throws {
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        try spool?.append([payload(1), payload(2)])
        try spool?.acknowledge(through: try XCTUnwrap(spool?.pending(limit: 10).last?.end))
        XCTAssertFalse(FileManager.default.fileExists(atPath: recordsFile), "the acknowledged file is removed")
        XCTAssertEqual(try String(contentsOfFile: dir + "/state", encoding: .utf8), "shadowscope-spool/1 generation=1 offset=0\n")
        try spool?.append([payload(3)])
        XCTAssertEqual(try fileBytes(dir + "/records-1").count, 12 + payload(3).count)
        spool = nil
        XCTAssertEqual(pendingPayloads(try AlertSpool(directory: dir)), [payload(3)])
    }

    func testACompactionCutShortByACrashIsFinishedOnOpen() throws {
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        try spool?.append([payload(1)])
        spool = nil
        // The crash came after `state` moved to generation 1 and before records-0 was removed.
        try writeBytes(Array("shadowscope-spool/1 generation=1 offset=0\n".utf8), dir + "/state")
        let reopened = try AlertSpool(directory: dir)
        XCTAssertEqual(reopened.pendingCount, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: recordsFile))
    }

    func testTornLastRecordIsDroppedWithACountAndAppendsContinueCleanly() throws {
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        try spool?.append([payload(1), payload(2)])
        spool = nil
        let whole = try fileBytes(recordsFile)
        let torn = Array(SpoolRecord.encode(payload(3)).prefix(20))
        try writeBytes(whole + torn, recordsFile)
        spool = try AlertSpool(directory: dir)
        XCTAssertEqual(spool?.damage.tornBytes, 20)
        XCTAssertEqual(spool.map(pendingPayloads), [payload(1), payload(2)])
        XCTAssertEqual(try fileBytes(recordsFile), whole, "the torn bytes are cut off")
        try spool?.append([payload(4)])
        spool = nil
        let again = try AlertSpool(directory: dir)
        XCTAssertTrue(again.damage.isEmpty, again.damage.description)
        XCTAssertEqual(pendingPayloads(again), [payload(1), payload(2), payload(4)])
    }

    func testEveryTruncationOfTheRecordFileKeepsTheWholeRecords() throws {
        let records = (1...3).map { SpoolRecord.encode(payload($0)) }
        let file = records.flatMap { $0 }
        let ends = records.reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.count) }
        for n in 0...file.count {
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try writeBytes(Array(file.prefix(n)), recordsFile)
            let spool = try AlertSpool(directory: dir)
            let whole = ends.filter { $0 <= n }.count
            XCTAssertEqual(spool.pendingCount, whole, "prefix \(n)")
            XCTAssertEqual(spool.damage.tornBytes, n - (ends.last { $0 <= n } ?? 0), "prefix \(n)")
            XCTAssertEqual(spool.damage.skippedRegions, 0, "prefix \(n)")
        }
    }

    /// Writes three records, lets `damage` change the file, and returns the reopened spool.
    func reopenAfter(_ damage: (inout [UInt8], [Range<Int>]) -> Void) throws -> AlertSpool {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let records = (1...3).map { SpoolRecord.encode(payload($0)) }
        var ranges: [Range<Int>] = []
        var offset = 0
        for r in records { ranges.append(offset..<(offset + r.count)); offset += r.count }
        var file = records.flatMap { $0 }
        damage(&file, ranges)
        try writeBytes(file, recordsFile)
        return try AlertSpool(directory: dir)
    }

    func testLengthAboveTheLimitIsASkipNotACrash() throws {
        let spool = try reopenAfter { file, r in
            for i in 4..<8 { file[r[1].lowerBound + i] = 0xFF }  // length 4 GiB - 1
        }
        XCTAssertEqual(pendingPayloads(spool), [payload(1), payload(3)])
        XCTAssertEqual(spool.damage.skippedRegions, 1)
        XCTAssertEqual(spool.damage.skippedBytes, SpoolRecord.encode(payload(2)).count)
        XCTAssertEqual(spool.damage.tornBytes, 0)
    }

    func testLengthPastTheEndOfTheFileDoesNotSwallowLaterRecords() throws {
        let spool = try reopenAfter { file, r in
            file[r[1].lowerBound + 4] = 0; file[r[1].lowerBound + 5] = 0x01  // 65,536+ bytes: more than the file holds
        }
        XCTAssertEqual(pendingPayloads(spool), [payload(1), payload(3)])
        XCTAssertEqual(spool.damage.skippedRegions, 1)
    }

    func testShorterLyingLengthFailsTheChecksumAndIsSkipped() throws {
        let spool = try reopenAfter { file, r in
            file[r[0].lowerBound + 7] = 5  // length 5: the CRC of 5 bytes does not match
        }
        XCTAssertEqual(pendingPayloads(spool), [payload(2), payload(3)])
        XCTAssertEqual(spool.damage.skippedRegions, 1)
    }

    func testFlippedPayloadByteIsSkipped() throws {
        let spool = try reopenAfter { file, r in file[r[2].lowerBound + 20] ^= 0x01 }
        XCTAssertEqual(pendingPayloads(spool), [payload(1), payload(2)])
        XCTAssertEqual(spool.damage.tornBytes, SpoolRecord.encode(payload(3)).count, "damage at the end is a torn tail")
    }

    func testGarbageBetweenRecordsIsSkippedAndCounted() throws {
        let spool = try reopenAfter { file, r in
            file.insert(contentsOf: Array("SSR1 not a record at all SS".utf8), at: r[1].lowerBound)
        }
        XCTAssertEqual(pendingPayloads(spool), [payload(1), payload(2), payload(3)])
        XCTAssertEqual(spool.damage.skippedRegions, 1)
        XCTAssertEqual(spool.damage.skippedBytes, 27)
    }

    func testRandomBytesAndBitFlipsNeverCrash() throws {
        var rng = SplitMix(seed: 42)
        for round in 0..<200 {
            try? FileManager.default.removeItem(atPath: dir)
            let spool = try reopenAfter { file, _ in
                if round % 2 == 0 {
                    for _ in 0..<(1 + Int(rng.next() % 8)) {
                        let i = Int(rng.next() % UInt64(file.count))
                        file[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                    }
                } else {
                    file = (0..<Int(rng.next() % 400)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    if rng.next() % 2 == 0 { file.insert(contentsOf: SpoolRecord.magic, at: file.count / 2) }
                }
            }
            let got = pendingPayloads(spool)
            XCTAssertLessThanOrEqual(got.count, 3)
            for p in got where round % 2 == 0 { XCTAssertTrue((1...3).map(payload).contains(p), "only whole records come back") }
        }
    }

    func testUnreadableStateFileSendsEverythingAgain() throws {
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        try spool?.append([payload(1), payload(2)])
        try spool?.acknowledge(through: try XCTUnwrap(spool?.pending(limit: 1).last?.end))
        spool = nil
        for hostile in ["garbage", "shadowscope-spool/1 generation=0 offset=999999\n", "", String(repeating: "x", count: 1000),
                        "shadowscope-spool/1 generation=0 offset=-1\n"] {
            try writeBytes(Array(hostile.utf8), dir + "/state")
            let reopened = try AlertSpool(directory: dir)
            XCTAssertTrue(reopened.damage.stateFileReset, hostile)
            XCTAssertEqual(pendingPayloads(reopened), [payload(1), payload(2)], "at-least-once: \(hostile)")
        }
    }

    func testASecondUserOfTheSameSpoolIsRefused() throws {
        let first = try AlertSpool(directory: dir)
        XCTAssertThrowsError(try AlertSpool(directory: dir)) { error in
            XCTAssertEqual((error as? SpoolError)?.code, .inUse)
            XCTAssertTrue("\(error)".contains(dir), "\(error)")
        }
        first.close()
        XCTAssertNoThrow(try AlertSpool(directory: dir))
    }

    func testUnusableDirectoryIsAnErrorNamingIt() throws {
        XCTAssertThrowsError(try AlertSpool(directory: "/proc/no-such/spool")) { error in
            XCTAssertEqual((error as? SpoolError)?.code, .cannotOpen)
            XCTAssertTrue("\(error)".hasPrefix("/proc/no-such/spool: cannot create the spool directory"), "\(error)")
        }
    }

    func testSpoolFilesAreReadableByOwnerOnly() throws {
        let spool = try AlertSpool(directory: dir)
        try spool.append([payload(1)])
        try spool.acknowledge(through: 0)
        try spool.append([payload(2)])
        try spool.acknowledge(through: try XCTUnwrap(spool.pending(limit: 1).last?.end))
        func mode(_ p: String) throws -> Int? {
            (try FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? NSNumber)?.intValue
        }
        XCTAssertEqual(try mode(dir), 0o700)
        XCTAssertEqual(try mode(recordsFile), 0o600)
        XCTAssertEqual(try mode(dir + "/state"), 0o600)
    }

    func testRecordAboveTheLimitIsRefusedAndNothingIsWritten() throws {
        let spool = try AlertSpool(directory: dir)
        XCTAssertThrowsError(try spool.append([payload(1), [UInt8](repeating: 0x41, count: SpoolRecord.maxPayload + 1)])) {
            XCTAssertEqual(($0 as? SpoolError)?.code, .recordTooLarge)
        }
        XCTAssertNoThrow(try spool.append([[UInt8](repeating: 0x41, count: SpoolRecord.maxPayload)]), "at the limit")
        XCTAssertEqual(spool.pendingCount, 1)
    }

    func testSpoolLargerThanOneReadChunkIsReadWhole() throws {
        // 6,000 records of about 1 KiB: more than the 4 MiB read on open at a time, so records straddle chunks.
        var spool: AlertSpool? = try AlertSpool(directory: dir)
        let filler = String(repeating: "x", count: 1000)
        let payloads = (0..<6000).map { Array("{\"n\":\($0),\"f\":\"\(filler)\"}".utf8) }
        try spool?.append(payloads)
        spool = nil
        let reopened = try AlertSpool(directory: dir)
        XCTAssertTrue(reopened.damage.isEmpty, reopened.damage.description)
        XCTAssertEqual(pendingPayloads(reopened), payloads)
    }
}
