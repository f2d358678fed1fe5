import CMaxMindDB
import Glibc
import ShadowScopeCore

/// A GeoIP2/GeoLite2/DB-IP database in MMDB format, read by libmaxminddb (memory-mapped).
/// After opening, lookups only read the mapping, so one instance serves every thread.
public final class MaxMindDatabase: GeoLocator, @unchecked Sendable {
    private var db = MMDB_s()
    public let path: String
    /// `database_type` from the metadata, e.g. `GeoIP2-City`, `GeoLite2-Country`, `DBIP-City-Lite`.
    public let databaseType: String
    /// When the database was built.
    public let buildEpoch: UInt64

    public struct OpenError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): cannot open GeoIP database: \(reason)" }
    }

    public init(path: String) throws(OpenError) {
        self.path = path
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), &db)
        guard status == MMDB_SUCCESS else {
            var reason = String(cString: MMDB_strerror(status))
            if status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR { reason += " (\(String(cString: strerror(errno))))" }
            throw OpenError(path: path, reason: reason)
        }
        databaseType = db.metadata.database_type.map { String(cString: $0) } ?? "unknown"
        buildEpoch = db.metadata.build_epoch
    }

    deinit { MMDB_close(&db) }

    /// True for DB-IP's databases, whose licence (CC BY 4.0) asks for credit in every output.
    public var isDBIP: Bool { databaseType.lowercased().contains("dbip") || path.lowercased().contains("dbip") }

    /// The country of `address`: `country.iso_code`, else `registered_country.iso_code` for records
    /// that have only the latter (anonymous proxies, satellite providers). Nil when not in the database.
    public func country(of address: IPAddress) -> String? {
        guard var entry = lookup(address) else { return nil }
        return string(&entry, ["country", "iso_code"]) ?? string(&entry, ["registered_country", "iso_code"])
    }

    /// Any string at a path of map keys, e.g. `["city", "names", "en"]`.
    public func string(at path: [String], for address: IPAddress) -> String? {
        guard var entry = lookup(address) else { return nil }
        return string(&entry, path)
    }

    private func lookup(_ address: IPAddress) -> MMDB_entry_s? {
        var mmdbError: Int32 = 0
        let result: MMDB_lookup_result_s
        switch address {
        case .v4(let a):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = a.bigEndian
            result = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(&db, $0, &mmdbError) }
            }
        case .v6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            let bytes = address.bytes
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                for (i, b) in bytes.enumerated() where i < raw.count { raw[i] = b }
            }
            result = withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(&db, $0, &mmdbError) }
            }
        }
        // An IPv6 address in an IPv4-only database is an error, not a crash: treat as not found.
        guard mmdbError == MMDB_SUCCESS, result.found_entry else { return nil }
        return result.entry
    }

    private func string(_ entry: inout MMDB_entry_s, _ path: [String]) -> String? {
        var data = MMDB_entry_data_s()
        let cStrings = path.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var argv: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
        argv.append(nil)
        let status = argv.withUnsafeBufferPointer { MMDB_aget_value(&entry, &data, $0.baseAddress) }
        guard status == MMDB_SUCCESS, data.has_data, data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING),
              let p = data.utf8_string else { return nil }
        let count = Int(data.data_size)
        return p.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
    }
}
