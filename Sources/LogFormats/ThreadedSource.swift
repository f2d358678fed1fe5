import Foundation

/// Runs a byte source (a decompressor) on its own thread, a few chunks ahead of the reader, so
/// inflating and parsing use two cores. Memory: `depth` + 1 chunks of `chunkSize` bytes, allocated
/// once and passed back and forth (a fresh zeroed chunk per MiB cost the producer a memset, and
/// malloc's mmap and page faults, for every chunk).
public final class ThreadedSource: ByteSource, @unchecked Sendable {
    public static let chunkSize = 1 << 20
    public static let depth = 4

    private let lock = NSCondition()
    /// Every chunk; at any time each is free, being filled, ready, or the reader's `current`.
    private let chunks: [UnsafeMutableRawBufferPointer]
    private var free: [UnsafeMutableRawBufferPointer]
    private var ready: [(chunk: UnsafeMutableRawBufferPointer, count: Int)] = []
    private var finished = false
    private var failure: ByteSourceError? = nil
    private var stopped = false
    private var innerWarnings: [SourceWarning] = []
    /// The producer has returned and no longer reads the inner source.
    private var exited = false
    private var current: (chunk: UnsafeMutableRawBufferPointer, count: Int)? = nil
    private var offset = 0

    public init(_ inner: any ByteSource) {
        chunks = (0...Self.depth).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 64) }
        free = chunks
        let box = SourceBox(inner)
        Thread { [self] in produce(box) }.start()
    }

    /// Runs once the producer has returned: its thread holds this object until then.
    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    private final class SourceBox: @unchecked Sendable {
        var source: any ByteSource
        init(_ source: any ByteSource) { self.source = source }
    }

    private func produce(_ box: SourceBox) {
        while true {
            lock.lock()
            while free.isEmpty && !stopped { lock.wait() }
            if stopped {
                exited = true
                lock.broadcast()
                lock.unlock()
                return
            }
            let chunk = free.removeLast()
            lock.unlock()
            var filled = 0
            var error: ByteSourceError? = nil
            while filled < chunk.count {
                let result = Result { () throws(ByteSourceError) in
                    try box.source.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[filled...]))
                }
                switch result {
                case .success(0): break
                case .success(let n): filled += n; continue
                case .failure(let e): error = e
                }
                break
            }
            lock.lock()
            if filled > 0 && !stopped { ready.append((chunk, filled)) } else { free.append(chunk) }
            let done = filled < chunk.count || error != nil || stopped
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
        if current == nil || offset == current!.count {
            lock.lock()
            if let used = current {
                free.append(used.chunk)  // back to the producer
                current = nil
                lock.broadcast()
            }
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
        let (chunk, count) = current!
        let n = min(buffer.count, count - offset)
        base.copyMemory(from: chunk.baseAddress! + offset, byteCount: n)
        offset += n
        return n
    }
}
