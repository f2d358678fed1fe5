import Foundation
import ShadowScopeCore

/// `--syslog`: what `scan` does with its alerts. Opened before the scan (so a bad URL, CA file or spool
/// fails early), then `deliver` appends the run's alerts to the spool behind whatever an earlier run
/// left there, and drains the spool for at most `timeout` seconds.
public final class SyslogDelivery {
    public let spool: AlertSpool
    public let sender: SyslogSender
    public let format: SyslogMessageFormat

    public init(url: SyslogURL, spoolDirectory: String, caFile: String?,
                format: SyslogMessageFormat = .local()) throws(DeliveryError) {
        do { spool = try AlertSpool(directory: spoolDirectory) } catch {
            throw DeliveryError("--syslog-spool: \(error.description)")
        }
        sender = try SyslogSender(url: url, caFile: caFile)
        self.format = format
    }

    /// Records waiting from earlier runs when the spool was opened.
    public var waitingFromEarlierRuns: Int { spool.pendingCount }

    public func deliver(_ alerts: [Alert], timeout: Double, now: Timestamp = .now) throws(DeliveryError) -> DeliveryReport {
        do { try spool.append(alerts.map { format.message(for: $0, at: now) }) } catch {
            throw DeliveryError("--syslog-spool: \(error.description)")
        }
        return sender.drain(spool, timeout: timeout)
    }
}

@available(*, unavailable)
extension SyslogDelivery: Sendable {}
