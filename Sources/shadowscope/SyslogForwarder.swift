import AlertDelivery
import Foundation
import ShadowScopeCore

/// `capture --syslog`: alerts go into the spool at once (on disk before their id counts as raised)
/// and a thread of their own sends them, so a slow or absent receiver never stalls packet capture.
/// The spool is touched only under `lock`; network I/O happens outside it.
final class SyslogForwarder: @unchecked Sendable {
    private let delivery: SyslogDelivery
    private let lock = NSLock()
    private let stopping = NSCondition()
    private var stop = false
    private var thread: Thread?
    private(set) var delivered = 0
    private var lastError: String?

    init(delivery: SyslogDelivery) {
        self.delivery = delivery
        let t = Thread { [unowned self] in self.run() }
        t.name = "syslog"
        thread = t
        t.start()
    }

    /// Puts alerts in the spool (fsync'd); they are sent by the forwarding thread.
    func enqueue(_ alerts: [Alert]) throws {
        lock.lock()
        defer { lock.unlock() }
        try delivery.spool.append(alerts.map { delivery.format.message(for: $0, at: .now) })
    }

    var pending: Int {
        lock.lock()
        defer { lock.unlock() }
        return delivery.spool.pendingCount
    }

    /// Sends what is waiting, in batches, until told to stop; backs off while the receiver is away.
    private func run() {
        var backoff = 0.1
        while !isStopping {
            lock.lock()
            let batch = delivery.spool.pending(limit: 1_000)
            lock.unlock()
            guard let last = batch.last else { pause(0.2); continue }
            do {
                try delivery.sender.send(batch.map(\.payload), timeout: 10)
                lock.lock()
                defer { lock.unlock() }
                try delivery.spool.acknowledge(through: last.end)
                delivered += batch.count
                if lastError != nil { printError("syslog: \(delivery.sender.url) takes alerts again") }
                lastError = nil
                backoff = 0.1
            } catch {
                if lastError == nil { printError("syslog: \(delivery.sender.url): \(error); alerts wait in the spool") }
                lastError = "\(error)"
                pause(backoff)
                backoff = min(backoff * 2, 5)
            }
        }
    }

    private var isStopping: Bool {
        stopping.lock()
        defer { stopping.unlock() }
        return stop
    }

    private func pause(_ seconds: Double) {
        stopping.lock()
        if !stop { _ = stopping.wait(until: Date().addingTimeInterval(seconds)) }
        stopping.unlock()
    }

    /// Stops the thread, then tries for up to `timeout` seconds to send what is left; what is not
    /// sent stays in the spool for the next start. Returns how many still wait.
    func finish(timeout: Double) -> Int {
        stopping.lock()
        stop = true
        stopping.broadcast()
        stopping.unlock()
        while let t = thread, !t.isFinished { Thread.sleep(forTimeInterval: 0.05) }
        lock.lock()
        defer { lock.unlock() }
        let report = delivery.sender.drain(delivery.spool, timeout: timeout)
        delivered += report.delivered
        return report.pending
    }
}
