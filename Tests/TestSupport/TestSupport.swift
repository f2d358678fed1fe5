import CMalloc
import Foundation

/// Where test inputs live: the repository's `fixtures/` and `signatures/`, and `../shared` beside the
/// clone (CI lays it there). Paths are computed from this file, so tests run from any directory.
public enum TestPaths {
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var shared: URL {
        if let env = ProcessInfo.processInfo.environment["SHADOWSCOPE_SHARED"] { return URL(fileURLWithPath: env) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    public static func fixture(_ name: String) -> String { repoRoot.appendingPathComponent("fixtures/" + name).path }
    public static func seed(_ name: String) -> String { shared.appendingPathComponent("bench/seeds/" + name).path }
    public static func corpus(_ path: String) -> String { shared.appendingPathComponent("corpus/" + path).path }
    public static var signatures: String { repoRoot.appendingPathComponent("signatures").path }
    /// The DB-IP database `make setup` fetches.
    public static var dbipDatabase: String { repoRoot.appendingPathComponent(".cache/geoip/dbip-city-lite.mmdb").path }

    /// The `shadowscope` binary built beside the test bundle.
    public static var binary: String {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("shadowscope").path
        }
        return repoRoot.appendingPathComponent(".build/debug/shadowscope").path
    }
}

/// A tab-separated file with a header line, as rows of column name → value.
public func readTSV(_ path: String, skipLinesStartingWith prefix: String? = nil) throws -> [[String: String]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    if let prefix { lines = lines.filter { !$0.hasPrefix(prefix) } }
    guard let header = lines.first?.components(separatedBy: "\t") else { return [] }
    return lines.dropFirst().map { line in
        let cells = line.components(separatedBy: "\t")
        var row: [String: String] = [:]
        for (i, name) in header.enumerated() { row[name] = i < cells.count ? cells[i] : "" }
        return row
    }
}

/// What `runProgram` saw: the exit status (the signal number when `reason` is `.uncaughtSignal`),
/// stdout and stderr.
public typealias ProgramResult = (status: Int32, stdout: String, stderr: String, reason: Process.TerminationReason)

/// Runs a program to its end.
public func runProgram(_ executable: String, _ arguments: [String], stdin: Data? = nil,
                environment: [String: String]? = nil) throws -> ProgramResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
    try p.run()
    if let stdin {
        DispatchQueue.global().async {
            inPipe.fileHandleForWriting.write(stdin)
            try? inPipe.fileHandleForWriting.close()
        }
    }
    // Read both pipes concurrently so neither fills up and blocks the child.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errBox.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self), p.terminationReason)
}

/// Bytes of heap in use now (glibc's `mallinfo2()`, mapped chunks included): what a test that holds a structure to a
/// memory budget measures before and after building it.
public func heapBytesInUse() -> Int {
    let info = mallinfo2()
    return Int(info.uordblks + info.hblkhd)  // small chunks, and the large ones glibc maps on their own
}
