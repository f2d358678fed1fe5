import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Sends the spool's records to a syslog receiver over TCP or TLS, octet-counted (RFC 6587, RFC 5425).
///
/// **When a record counts as delivered.** Syslog over TCP has no application acknowledgement, and bytes
/// written to a socket can still die in the receiver's kernel buffer if it is stopped. So the sender
/// works in sessions: connect, write a batch of records in order, then close its side (TLS
/// close_notify, then TCP FIN) and wait until the receiver closes too. A receiver closes after it has
/// read everything up to our FIN; a receiver that dies with unread bytes resets the connection instead
/// (Linux sends RST when a socket is closed with unread data). Only a clean close acknowledges the
/// batch in the spool. Any error, reset or timeout leaves the batch pending, and it is sent again on the
/// next attempt or run: delivery is at-least-once, and duplicates carry the same `event.id`, which a
/// SIEM de-duplicates on.
///
/// Connection failures are retried with exponential backoff (from `initialBackoff` to `maxBackoff`)
/// until the deadline given to `drain`.
public final class SyslogSender {
    public let url: SyslogURL
    private let group: MultiThreadedEventLoopGroup
    private let ssl: NIOSSLContext?

    /// Records per session: one confirmation (close and wait) per batch keeps progress on a large spool.
    public static let batchLimit = 10_000
    public static let initialBackoff = 0.1
    public static let maxBackoff = 2.0
    /// Longest a single connection attempt may take.
    public static let connectTimeout = 5.0

    /// `caFile`: PEM certificates to trust for `tls://` instead of the system trust store.
    public init(url: SyslogURL, caFile: String? = nil) throws(DeliveryError) {
        self.url = url
        if url.transport == .tls {
            var config = TLSConfiguration.makeClientConfiguration()
            config.minimumTLSVersion = .tlsv12  // RFC 9662 (updating RFC 5425): TLS 1.2 or later
            config.certificateVerification = .fullVerification
            if let caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else {
                    throw DeliveryError("\(caFile): cannot read the CA certificate file")
                }
                do {
                    let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                    guard !certificates.isEmpty else { throw DeliveryError("\(caFile): no certificate in the file") }
                    config.trustRoots = .certificates(certificates)
                } catch {
                    throw DeliveryError("\(caFile): not a PEM certificate file (\(error))")
                }
            } else {
                config.trustRoots = .default
            }
            do { ssl = try NIOSSLContext(configuration: config) } catch {
                throw DeliveryError("cannot set up TLS: \(error)")
            }
        } else {
            if let caFile { throw DeliveryError("\(caFile): a CA file is only used with tls://") }
            ssl = nil
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    deinit { try? group.syncShutdownGracefully() }

    /// Sends what the spool holds until it is empty or `timeout` seconds have passed.
    public func drain(_ spool: AlertSpool, timeout: Double) -> DeliveryReport {
        let start = Date()
        let deadline = start.addingTimeInterval(timeout)
        var report = DeliveryReport()
        var backoff = Self.initialBackoff
        while spool.pendingCount > 0 {
            let batch = spool.pending(limit: Self.batchLimit)
            guard let last = batch.last else { break }
            do {
                report.attempts += 1
                try sendSession(batch.map(\.payload), deadline: deadline)
                try spool.acknowledge(through: last.end)
                report.delivered += batch.count
                report.lastError = nil
                backoff = Self.initialBackoff
            } catch {
                report.lastError = "\(error)"
                let remaining = deadline.timeIntervalSinceNow
                if remaining <= 0 { break }
                Thread.sleep(forTimeInterval: min(backoff, remaining))
                backoff = min(backoff * 2, Self.maxBackoff)
                if deadline.timeIntervalSinceNow <= 0 { break }
            }
        }
        report.pending = spool.pendingCount
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Sends `records` in one session within `timeout` seconds; throws unless the receiver confirmed
    /// them (for a caller that manages the spool itself, e.g. a long-running capture).
    public func send(_ records: [[UInt8]], timeout: Double) throws {
        try sendSession(records, deadline: Date().addingTimeInterval(timeout))
    }

    /// One connection: write the records, close our side, wait for the receiver's close.
    private func sendSession(_ records: [[UInt8]], deadline: Date) throws {
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { throw DeliveryError("timed out") }
        let loop = group.next()
        let confirmed = loop.makePromise(of: Void.self)
        let ssl = self.ssl, url = self.url
        let serverName = url.hostIsAddress ? nil : url.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(Int64(min(remaining, Self.connectTimeout) * 1000)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let ssl {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(PeerCloseHandler(confirmed: confirmed))
                }
            }
        let channel: Channel
        do { channel = try bootstrap.connect(host: url.host, port: url.port).wait() } catch {
            confirmed.fail(error)
            throw DeliveryError("cannot connect to \(url): \(error)")
        }
        let timer = loop.scheduleTask(deadline: .now() + .milliseconds(Int64(max(0, deadline.timeIntervalSinceNow) * 1000))) {
            confirmed.fail(DeliveryError("timed out waiting for \(url) to take the alerts"))
            channel.close(promise: nil)
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        var buffer = channel.allocator.buffer(capacity: records.reduce(0) { $0 + $1.count + 8 })
        for r in records { buffer.writeBytes(octetCountingFrame(r)) }
        // A failed write closes the channel; the handler then reports the cause it saw (a failed TLS
        // handshake, a reset), which says more than the write's own "I/O on closed channel".
        channel.writeAndFlush(buffer).flatMap { channel.close(mode: .output) }.whenFailure { error in
            channel.close(promise: nil)
            channel.closeFuture.whenComplete { _ in confirmed.fail(error) }
        }
        do { try confirmed.futureResult.wait() } catch let error as DeliveryError {
            throw error
        } catch {
            throw DeliveryError("\(url): \(error)")
        }
    }
}

@available(*, unavailable)
extension SyslogSender: Sendable {}

/// Watches one connection: succeeds when the receiver closes after we closed our side, fails on any
/// error (a reset means the receiver dropped bytes it had not read) or an early close.
final class PeerCloseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let confirmed: EventLoopPromise<Void>
    private var outputClosed = false
    private var failure: Error?

    init(confirmed: EventLoopPromise<Void>) { self.confirmed = confirmed }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}  // receivers send nothing we use

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output { outputClosed = true }
        context.close(mode: mode, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // After our close_notify, a TLS receiver may close TCP without its own close_notify: that is
        // still the receiver closing after reading everything, not a failure.
        if outputClosed, let tls = error as? NIOSSLError, case .uncleanShutdown = tls { return }
        if failure == nil { failure = error }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let failure {
            confirmed.fail(failure)
        } else if !outputClosed {
            confirmed.fail(DeliveryError("the receiver closed the connection before all alerts were written"))
        } else {
            confirmed.succeed(())
        }
        context.fireChannelInactive()
    }
}

/// What a `drain` did.
public struct DeliveryReport: Sendable, Equatable {
    /// Records the receiver confirmed (by closing after reading them) and the spool acknowledged.
    public var delivered = 0
    /// Records still waiting in the spool.
    public var pending = 0
    /// Sessions tried (connections, including failed ones).
    public var attempts = 0
    public var seconds = 0.0
    /// Why the last attempt failed, when the spool is not empty.
    public var lastError: String?

    public init() {}
}

/// A delivery problem: an unreadable CA file, a receiver that cannot be reached.
public struct DeliveryError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
