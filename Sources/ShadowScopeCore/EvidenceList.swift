/// A summary row's evidence: at most `limit` distinct `file:line` / `file:frame` references, the
/// smallest in string order, so the choice does not depend on how inputs were split or merged.
///
/// While every reference names the same file (a scan of one input: the usual case) they are kept as
/// numbers, compared as their decimal strings compare. A matched record then costs no String, no
/// allocation, and no reading of strings scattered over the heap: as strings, the evidence was a third
/// of each row update. Anything else (several files, text read from a summary file) is kept as text.
public struct EvidenceList: Sendable {
    public static let limit = 10

    public enum Entries: Sendable {
        /// References into one file: `"\(file):\(n)"` for each n, in order.
        case positions(file: String, numbers: [Int])
        case texts([String])
    }

    public private(set) var entries: Entries

    public init() { entries = .texts([]) }

    /// A list of one reference.
    public init(_ ref: SourceRef) {
        switch ref.position {
        case .line(let n) where n >= 0, .frame(let n) where n >= 0: entries = .positions(file: ref.file, numbers: [n])
        default: entries = .texts([ref.description])
        }
    }

    /// A list as rows keep them from any texts (a summary file's, unsorted or repeated): distinct,
    /// sorted, at most `limit`.
    public init(normalizing texts: [String]) {
        entries = .texts(Array(Set(texts).sorted().prefix(Self.limit)))
    }

    public var count: Int {
        switch entries {
        case .positions(_, let numbers): return numbers.count
        case .texts(let texts): return texts.count
        }
    }

    /// The references as text, in order.
    public var strings: [String] {
        switch entries {
        case .positions(let file, let numbers): return numbers.map { "\(file):\($0)" }
        case .texts(let texts): return texts
        }
    }

    /// Adds one reference. A full list and a reference after its last, the usual case on a long
    /// scan, costs one comparison of two numbers.
    public mutating func insert(_ ref: SourceRef) {
        if case .positions(let file, var numbers) = entries {
            switch ref.position {
            case .line(let n) where n >= 0 && ref.file == file, .frame(let n) where n >= 0 && ref.file == file:
                if numbers.count >= Self.limit, !Self.decimalLess(n, numbers[numbers.count - 1]) { return }
                entries = .texts([])  // the array is uniquely held while it changes: no copy
                Self.insert(n, into: &numbers)
                entries = .positions(file: file, numbers: numbers)
                return
            default: break
            }
        }
        insert(text: ref.description)
    }

    /// Keeps the `limit` smallest distinct references of both lists.
    public mutating func merge(_ other: EvidenceList) {
        if case .positions(let file, var numbers) = entries, case .positions(let otherFile, let more) = other.entries,
           file == otherFile {
            entries = .texts([])
            for n in more { Self.insert(n, into: &numbers) }
            entries = .positions(file: file, numbers: numbers)
            return
        }
        for text in other.strings { insert(text: text) }
    }

    private mutating func insert(text e: String) {
        var texts = strings
        entries = .texts([])  // the array is uniquely held while it changes
        Self.insert(e, into: &texts, by: <)
        entries = .texts(texts)
    }

    private static func insert(_ n: Int, into numbers: inout [Int]) {
        if numbers.capacity < limit { numbers.reserveCapacity(limit) }  // grows once, not at 2, 4 and 8
        insert(n, into: &numbers, by: decimalLess)
    }

    /// Puts `e` into the sorted, distinct `list` unless it is there, keeping the `limit` first.
    @inline(__always)
    private static func insert<T: Equatable>(_ e: T, into list: inout [T], by less: (T, T) -> Bool) {
        if list.count >= limit, let last = list.last, !less(e, last) { return }
        var low = 0, high = list.count
        while low < high {
            let mid = (low + high) / 2
            if less(list[mid], e) { low = mid + 1 } else { high = mid }
        }
        guard low == list.count || list[low] != e else { return }
        list.insert(e, at: low)
        if list.count > limit { list.removeLast() }
    }

    /// Whether a's decimal digits come before b's in string order ("1000" < "999", "12" < "123"):
    /// the shorter is scaled to the longer's length; equal then means it is a prefix, and so first.
    static func decimalLess(_ a: Int, _ b: Int) -> Bool {
        if a == b { return false }
        var x = UInt64(a), y = UInt64(b)  // 19 digits at most: scaled, below 10^19 < UInt64.max
        let da = digitCount(x), db = digitCount(y)
        for _ in da..<max(da, db) { x &*= 10 }
        for _ in db..<max(da, db) { y &*= 10 }
        return x == y ? da < db : x < y
    }

    @inline(__always)
    private static func digitCount(_ n: UInt64) -> Int {
        var d = 1, p: UInt64 = 10
        while d < 19 && n >= p { d += 1; p &*= 10 }
        return d
    }
}

extension EvidenceList: Equatable {
    public static func == (a: EvidenceList, b: EvidenceList) -> Bool {
        if case .positions(let f, let x) = a.entries, case .positions(let g, let y) = b.entries, f == g { return x == y }
        return a.strings == b.strings
    }
}
