import Foundation

/// Where the bundled catalog and GeoIP database are found when no flag names them: next to the
/// binary's repository (a clone built with `make`), then in the install prefix, then the user cache.
enum Defaults {
    static let geoipFileName = "dbip-city-lite.mmdb"

    static func signaturesDirectory() -> String? {
        if let env = ProcessInfo.processInfo.environment["SHADOWSCOPE_SIGNATURES"] { return env }
        return candidates(relative: "signatures", installed: "share/shadowscope/signatures").first { isDirectory($0) }
    }

    static func geoipDatabase() -> String? {
        if let env = ProcessInfo.processInfo.environment["SHADOWSCOPE_GEOIP"] { return env }
        var list = candidates(relative: ".cache/geoip/" + geoipFileName, installed: "share/shadowscope/" + geoipFileName)
        if let home = ProcessInfo.processInfo.environment["HOME"] {
            list.append(home + "/.cache/shadowscope/" + geoipFileName)
        }
        return list.first { FileManager.default.isReadableFile(atPath: $0) }
    }

    /// `<repo>/relative` for a binary in `<repo>/.build/<config>/`, and `<prefix>/installed` for one in `<prefix>/bin`.
    private static func candidates(relative: String, installed: String) -> [String] {
        let exePath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let exe = URL(fileURLWithPath: exePath).resolvingSymlinksInPath()
        var out: [String] = []
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            out.append(dir.appendingPathComponent(relative).path)
            dir = dir.deletingLastPathComponent()
        }
        let prefix = exe.deletingLastPathComponent().deletingLastPathComponent()
        out.append(prefix.appendingPathComponent(installed).path)
        out.append(FileManager.default.currentDirectoryPath + "/" + relative)
        return out
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
