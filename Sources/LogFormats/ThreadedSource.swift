import Foundation

/// Runs a byte source (a decompressor) on its own thread, a few chunks ahead of the reader, so
/// inflating and parsing use two cores. Memory: at most `depth` chunks of `chunkSize` bytes.
public final class ThreadedSource: ByteSource, @unchecked Sendable {
    public static let chunkSize = 1 << 20
    public static let depth = 4

    private let lock = NSCondition()
    private var ready: [[UInt8]] = []
    private var finished = false
    private var failure: ByteSourceError? = nil
    private var stopped = false
    private var innerWarnings: [SourceWarning] = []
    /// The producer has returned and no longer reads the inner source.
    private var exited = false
    private var current: [UInt8] = []
    private var offset = 0

    public init(_ inner: any ByteSource) {
        let box = SourceBox(inner)
        Thread { [self] in produce(box) }.start()
    }

    deinit {
        lock.lock()
        stopped = true  // the producer stops at its next chunk
        lock.broadcast()
        lock.unlock()
    }

    private final class SourceBox: @unchecked Sendable {
        var source: any ByteSource
        init(_ source: any ByteSource) { self.source = source }
    }

    private func produce(_ box: SourceBox) {
        while true {
            var chunk = [UInt8](repeating: 0, count: Self.chunkSize)
            var filled = 0
            var error: ByteSourceError? = nil
            while filled < chunk.count {
                let start = filled
                let result = chunk.withUnsafeMutableBytes { raw in
                    Result { () throws(ByteSourceError) in try box.source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...])) }
                }
                switch result {
                case .success(0): break
                case .success(let n): filled += n; continue
                case .failure(let e): error = e
                }
                break
            }
            chunk.removeSubrange(filled...)
            lock.lock()
            while ready.count >= Self.depth && !stopped { lock.wait() }
            if stopped {
                exited = true
                lock.broadcast()
                lock.unlock()
                return
            }
            if !chunk.isEmpty { ready.append(chunk) }
            let done = filled < Self.chunkSize || error != nil
            if done {
                finished = true
                failure = error
                innerWarnings = box.source.warnings
                exited = true
            }
            lock.broadcast()
            lock.unlock()
            if done { return }
        }
    }

    /// Stops the producer and waits until it no longer reads the inner source (at most one chunk):
    /// call it before closing the file the inner source reads, or a producer still running would read
    /// from whatever file next gets that descriptor number.
    public func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        while !exited { lock.wait() }
        lock.unlock()
    }

    /// The inner source's warnings, once it has ended.
    public var warnings: [SourceWarning] {
        lock.lock()
        defer { lock.unlock() }
        return innerWarnings
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        if offset == current.count {
            lock.lock()
            while ready.isEmpty && !finished && !stopped { lock.wait() }
            if ready.isEmpty {
                let error = failure
                lock.unlock()
                if let error { throw error }
                return 0
            }
            current = ready.removeFirst()
            offset = 0
            lock.broadcast()
            lock.unlock()
        }
        let n = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { base.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}
