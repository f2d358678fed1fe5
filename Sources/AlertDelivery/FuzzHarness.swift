import Glibc

/// The fuzz harness for the syslog spool's files (libFuzzer target FuzzSpool of `Fuzz/`, issue 9),
/// public so that the fuzz target and the regression tests run the same code.
public enum SpoolFuzzHarness {
    public static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = ["FuzzSpool": spool]

    /// The input becomes a spool directory as a crash, a full disk or an attacker could leave it:
    ///   byte 0, bit 0: there is a `state` file; bit 1: it is well formed, `generation=(bits 2-3)
    ///   offset=(next 2 bytes)`, else its bytes are the next (1-byte length) bytes as they are;
    ///   the rest of the input: the file `records-0`.
    /// The spool is opened, its records read, half of them acknowledged and one appended, then opened
    /// again: it must come back with exactly the records the first one still held. A broken promise
    /// traps, so the fuzzer reports it like a crash.
    @Sendable public static func spool(_ input: UnsafeRawBufferPointer) {
        guard let flags = input.first else { return }
        var rest = UnsafeRawBufferPointer(rebasing: input[1...])
        var stateText: [UInt8]? = nil
        if flags & 1 != 0 {
            if flags & 2 != 0 {
                guard rest.count >= 2 else { return }
                let offset = Int(rest[0]) << 8 | Int(rest[1])
                stateText = Array("\(AlertSpool.stateFormat) generation=\(flags >> 2 & 3) offset=\(offset)\n".utf8)
                rest = UnsafeRawBufferPointer(rebasing: rest[2...])
            } else {
                guard let n = rest.first, rest.count > Int(n) else { return }
                stateText = Array(rest[1..<(1 + Int(n))])
                rest = UnsafeRawBufferPointer(rebasing: rest[(Int(n) + 1)...])
            }
        }
        let dir = directory
        for name in ["records-0", "records-1", "records-2", "records-3", "records-4", "state", "state.tmp"] {
            unlink(dir + "/" + name)
        }
        writeFile(dir + "/records-0", Array(rest))
        if let stateText { writeFile(dir + "/state", stateText) }

        guard let first = try? AlertSpool(directory: dir) else { return }
        let records = first.pending(limit: 1 << 20)
        precondition(records.count <= first.pendingCount, "pending() gave more records than the spool holds")
        precondition(records.allSatisfy { $0.payload.count <= SpoolRecord.maxPayload })
        if records.count >= 2 { try? first.acknowledge(through: records[records.count / 2 - 1].end) }
        try? first.append([Array("appended".utf8)])
        let expected = first.pendingCount
        let expectedLast = first.pending(limit: 1 << 20).last?.payload
        first.close()

        guard let second = try? AlertSpool(directory: dir) else { preconditionFailure("a spool it wrote itself did not open") }
        defer { second.close() }
        precondition(second.pendingCount == expected, "reopened spool holds \(second.pendingCount) records, not \(expected)")
        precondition(second.pending(limit: 1 << 20).last?.payload == expectedLast, "the last record changed on reopening")
    }

    /// A directory of its own for this process, in memory where the system has /dev/shm (fsync is free there).
    public static let directory: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        let dir = "\(base)/shadowscope-fuzz-spool-\(getpid())"
        mkdir(dir, 0o700)
        return dir
    }()

    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
