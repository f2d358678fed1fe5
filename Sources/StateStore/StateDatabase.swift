import Foundation
import GRDB
import ShadowScopeCore

/// `--state DIR`: what the organisation did before (daily uploads per user, first sightings of
/// services), every alert id already raised, and checkpoints of a running capture's day, in one
/// SQLite database (`DIR/state.sqlite`, GRDB) so rules can compare with the past and no alert is
/// raised twice.
///
/// Each input's contribution is kept under its own key and replaced when the same input is scanned
/// again, so re-scanning yesterday's log does not count yesterday twice.
public final class StateDatabase: @unchecked Sendable {  // DatabaseQueue serialises all access
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    private let queue: DatabaseQueue

    /// Opens or creates `directory/state.sqlite`; the directory is made readable by its owner only.
    public init(directory: String) throws(Failure) {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch { throw Failure(description: "\(directory): cannot create the state directory: \(error.localizedDescription)") }
        } else if !isDir.boolValue {
            throw Failure(description: "\(directory): --state needs a directory, this is a file")
        }
        path = (directory as NSString).appendingPathComponent("state.sqlite")
        do {
            queue = try DatabaseQueue(path: path)
            chmod(path, 0o600)
            try Self.migrator.migrate(queue)
        } catch {
            throw Failure(description: "\(path): cannot open the state database: \(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            // One row per input × day × user × service: enough for daily uploads and first sightings.
            try db.execute(sql: """
                CREATE TABLE usage (
                    input_key TEXT NOT NULL, day TEXT NOT NULL, user TEXT NOT NULL, service_id TEXT NOT NULL,
                    bytes_up INTEGER NOT NULL, connections INTEGER NOT NULL, first_seen_us INTEGER NOT NULL,
                    PRIMARY KEY (input_key, day, user, service_id));
                CREATE INDEX usage_user_day ON usage (user, day);
                CREATE TABLE raised_alert (
                    id TEXT PRIMARY KEY NOT NULL, rule_id TEXT NOT NULL, user TEXT NOT NULL, service_id TEXT NOT NULL,
                    window_start_us INTEGER NOT NULL, raised_at_us INTEGER NOT NULL);
                CREATE TABLE checkpoint (key TEXT PRIMARY KEY NOT NULL, day TEXT NOT NULL, summary BLOB NOT NULL,
                    saved_at_us INTEGER NOT NULL);
                """)
        }
        return m
    }

    /// The organisation's history without the contributions of `excluding` (the inputs being scanned
    /// now, whose earlier scans must not count as their own past).
    public func history(excluding inputKeys: Set<String>) throws(Failure) -> UsageHistory {
        do {
            return try queue.read { db in
                var h = UsageHistory()
                let keys = Array(inputKeys)
                let notMine = keys.isEmpty ? "" : "WHERE input_key NOT IN (\(databaseQuestionMarks(count: keys.count)))"
                let args = StatementArguments(keys)
                for row in try Row.fetchAll(db, sql: "SELECT day, user, service_id, bytes_up, connections, first_seen_us FROM usage \(notMine)", arguments: args) {
                    let day: String = row["day"], user: String = row["user"], service: String = row["service_id"]
                    h.coveredDays.insert(day)
                    if (row["connections"] as Int64) > 0 { h.uploads[user, default: [:]][day, default: 0] += row["bytes_up"] as Int64 }
                    h.noteSeen(service, at: Timestamp(microseconds: row["first_seen_us"]), by: user)
                }
                return h
            }
        } catch { throw Failure(description: "\(path): \(error)") }
    }

    /// Replaces what `inputKey` contributed with `aggregates` (strong evidence only, as the rules use).
    public func record(inputKey: String, aggregates: Aggregates) throws(Failure) {
        do {
            try queue.write { db in
                try db.execute(sql: "DELETE FROM usage WHERE input_key = ?", arguments: [inputKey])
                struct Key: Hashable { var day, user, service: String }
                var rows: [Key: (bytes: Int64, connections: Int64, first: Int64)] = [:]
                for (k, v) in aggregates.rows where !v.weakOnly {
                    let key = Key(day: k.day, user: k.user, service: k.serviceID)  // regions summed: history is per user and service
                    var r = rows[key] ?? (0, 0, Int64.max)
                    r.bytes += v.bytesUp
                    r.connections += v.connections
                    r.first = min(r.first, v.firstSeen.microseconds)
                    rows[key] = r
                }
                for (k, r) in rows {
                    try db.execute(sql: "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   arguments: [inputKey, k.day, k.user, k.service, r.bytes, r.connections, r.first])
                }
            }
        } catch { throw Failure(description: "\(path): \(error)") }
    }

    /// Of `ids`, those already raised by an earlier run.
    public func alreadyRaised(_ ids: [String]) throws(Failure) -> Set<String> {
        do {
            return try queue.read { db in
                var found = Set<String>()
                for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                    found.formUnion(try String.fetchSet(db, sql: "SELECT id FROM raised_alert WHERE id IN (\(databaseQuestionMarks(count: chunk.count)))",
                                                        arguments: StatementArguments(chunk)))
                }
                return found
            }
        } catch { throw Failure(description: "\(path): \(error)") }
    }

    /// Remembers alerts as raised; an id already there is kept as it was.
    public func markRaised(_ alerts: [(id: String, alert: Alert)], at now: Timestamp) throws(Failure) {
        do {
            try queue.write { db in
                for (id, a) in alerts {
                    try db.execute(sql: "INSERT OR IGNORE INTO raised_alert VALUES (?, ?, ?, ?, ?, ?)",
                                   arguments: [id, a.ruleID, a.user, a.serviceID, a.windowStart.microseconds, now.microseconds])
                }
            }
        } catch { throw Failure(description: "\(path): \(error)") }
    }

    /// How many alert ids are remembered.
    public func raisedCount() throws(Failure) -> Int {
        do { return try queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM raised_alert") ?? 0 } } catch {
            throw Failure(description: "\(path): \(error)")
        }
    }

    /// Saves a running capture's day (a summary JSON) under `key`, replacing the previous checkpoint.
    public func saveCheckpoint(key: String, day: String, summary: [UInt8], at now: Timestamp) throws(Failure) {
        do {
            try queue.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO checkpoint VALUES (?, ?, ?, ?)",
                               arguments: [key, day, Data(summary), now.microseconds])
            }
        } catch { throw Failure(description: "\(path): \(error)") }
    }

    /// The checkpoint saved under `key`, with its day.
    public func checkpoint(key: String) throws(Failure) -> (day: String, summary: Data)? {
        do {
            return try queue.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT day, summary FROM checkpoint WHERE key = ?", arguments: [key]) else { return nil }
                return (row["day"], row["summary"])
            }
        } catch { throw Failure(description: "\(path): \(error)") }
    }
}
