/// A summary row's evidence: at most `limit` distinct `file:line` / `file:frame` references, the
/// first in reference order (`referenceLess`: by file, then by number, so `f:9` before `f:10`). The
/// choice does not depend on how inputs were split or merged, and because adding the same count to
/// every line number keeps that order, a part of a file numbered from 1 can be moved to its place
/// in the file afterwards (`shiftNumbers`).
///
/// While every reference names the same file (a scan of one input: the usual case) they are kept as
/// numbers. A matched record then costs no String, no allocation, and no reading of strings
/// scattered over the heap: as strings, the evidence was a third of each row update. References
/// into several files (the results of several inputs merged) are kept as file and number too; only
/// a text that is not `file:number` (read from a summary file) stays text.
public struct EvidenceList: Sendable {
    public static let limit = 10

    /// One reference: `file:number`, or a text that is not of that form.
    public enum Reference: Sendable, Equatable {
        case position(file: String, number: Int)
        case text(String)

        public var text: String {
            switch self {
            case .position(let file, let number): return "\(file):\(number)"
            case .text(let text): return text
            }
        }

        /// `text`'s reference: a position when the text is exactly what a position writes.
        init(_ text: String) {
            if let (file, n) = EvidenceList.split(text), "\(file):\(n)" == text {
                self = .position(file: String(file), number: n)
            } else {
                self = .text(text)
            }
        }

        /// Reference order (`referenceLess`), without making texts when both are positions.
        static func less(_ a: Reference, _ b: Reference) -> Bool {
            if case .position(let f, let m) = a, case .position(let g, let n) = b { return f == g ? m < n : f < g }
            return EvidenceList.referenceLess(a.text, b.text)
        }
    }

    public enum Entries: Sendable {
        /// References into one file: `"\(file):\(n)"` for each n, in order.
        case positions(file: String, numbers: [Int])
        /// Any references, in order.
        case references([Reference])
    }

    public private(set) var entries: Entries

    public init() { entries = .references([]) }

    /// A list of one reference.
    public init(_ ref: SourceRef) {
        switch ref.position {
        case .line(let n) where n >= 0, .frame(let n) where n >= 0: entries = .positions(file: ref.file, numbers: [n])
        default: entries = .references([.text(ref.description)])
        }
    }

    /// A list as rows keep them from any texts (a summary file's, unsorted or repeated): distinct,
    /// sorted, at most `limit`.
    public init(normalizing texts: [String]) {
        entries = .references(Set(texts).sorted(by: Self.referenceLess).prefix(Self.limit).map(Reference.init))
    }

    public var count: Int {
        switch entries {
        case .positions(_, let numbers): return numbers.count
        case .references(let references): return references.count
        }
    }

    /// The references as text, in order.
    public var strings: [String] {
        switch entries {
        case .positions(let file, let numbers): return numbers.map { "\(file):\($0)" }
        case .references(let references): return references.map(\.text)
        }
    }

    private var references: [Reference] {
        switch entries {
        case .positions(let file, let numbers): return numbers.map { .position(file: file, number: $0) }
        case .references(let references): return references
        }
    }

    /// Adds one reference. A full list and a reference after its last, the usual case on a long
    /// scan, costs one comparison of two numbers.
    public mutating func insert(_ ref: SourceRef) {
        if case .positions(let file, var numbers) = entries {
            switch ref.position {
            case .line(let n) where n >= 0 && ref.file == file, .frame(let n) where n >= 0 && ref.file == file:
                if numbers.count >= Self.limit, n >= numbers[numbers.count - 1] { return }
                entries = .references([])  // the array is uniquely held while it changes: no copy
                Self.insert(n, into: &numbers)
                entries = .positions(file: file, numbers: numbers)
                return
            default: break
            }
        }
        switch ref.position {
        case .line(let n) where n >= 0, .frame(let n) where n >= 0: insert(reference: .position(file: ref.file, number: n))
        default: insert(reference: .text(ref.description))
        }
    }

    /// Whether the list is positions in one file (a scan's rows).
    public var isPositionsInOneFile: Bool {
        if case .positions = entries { return true }
        return false
    }

    /// Whether `a`'s file sorts before `b`'s, both lists being positions in one file: nil when either
    /// is not, or both name the same file.
    static func fileLess(_ a: borrowing EvidenceList, _ b: borrowing EvidenceList) -> Bool? {
        guard case .positions(let f, _) = a.entries, case .positions(let g, _) = b.entries, f != g else { return nil }
        return f < g
    }

    /// Keeps the `limit` smallest distinct references of both lists.
    public mutating func merge(_ other: EvidenceList) {
        if case .positions(let file, var numbers) = entries, case .positions(let otherFile, let more) = other.entries {
            if file == otherFile {
                entries = .references([])
                for n in more { Self.insert(n, into: &numbers) }
                entries = .positions(file: file, numbers: numbers)
                return
            }
            // Two files (the rows of two inputs): every reference into the first file in order comes
            // before any into the second, so the list is the first's, then the second's up to the limit.
            let (first, firstNumbers, second, secondNumbers) = file < otherFile ? (file, numbers, otherFile, more)
                                                                                : (otherFile, more, file, numbers)
            var list: [Reference] = []
            list.reserveCapacity(Self.limit)
            for n in firstNumbers.prefix(Self.limit) { list.append(.position(file: first, number: n)) }
            for n in secondNumbers.prefix(Self.limit - list.count) { list.append(.position(file: second, number: n)) }
            entries = .references(list)
            return
        }
        for reference in other.references { insert(reference: reference) }
    }

    private mutating func insert(reference e: Reference) {
        var list = references
        entries = .references([])  // the array is uniquely held while it changes
        if list.capacity < Self.limit { list.reserveCapacity(Self.limit) }
        Self.insert(e, into: &list, by: Reference.less)
        entries = .references(list)
    }

    private static func insert(_ n: Int, into numbers: inout [Int]) {
        if numbers.capacity < limit { numbers.reserveCapacity(limit) }  // grows once, not at 2, 4 and 8
        insert(n, into: &numbers, by: <)
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

    /// Adds `offset` to the number of every reference into `file`: the evidence of a part of a file
    /// that was numbered from 1, once the lines before the part are known. Order is kept.
    public mutating func shiftNumbers(in file: String, by offset: Int) {
        guard offset != 0 else { return }
        switch entries {
        case .positions(let f, var numbers) where f == file:
            entries = .references([])  // the array is uniquely held while it changes
            for k in numbers.indices { numbers[k] += offset }
            entries = .positions(file: f, numbers: numbers)
        case .positions:
            break
        case .references(var list):
            entries = .references([])
            for k in list.indices {
                switch list[k] {
                case .position(let f, let n) where f == file: list[k] = .position(file: f, number: n + offset)
                case .position: break
                case .text(let text): list[k] = Reference(Self.shifted(text, in: file, by: offset))
                }
            }
            entries = .references(list)
        }
    }

    /// `"\(file):\(n + offset)"` for a reference `"\(file):\(n)"`; any other text unchanged.
    public static func shifted(_ reference: String, in file: String, by offset: Int) -> String {
        guard let (prefix, n) = split(reference), prefix == file else { return reference }
        return "\(file):\(n + offset)"
    }

    /// Reference order: by the text before the last colon, then by the number after it (`f:9` before
    /// `f:10`); a text without such a number sorts by all of it, after the numbered references of a
    /// file of the same name. Equal keys (`f:07`, `f:7`) fall back to the whole text, so the order is total.
    public static func referenceLess(_ a: String, _ b: String) -> Bool {
        let x = split(a), y = split(b)
        let fileA = x?.file ?? Substring(a), fileB = y?.file ?? Substring(b)
        if fileA != fileB { return fileA < fileB }
        switch (x?.number, y?.number) {
        case let (m?, n?) where m != n: return m < n
        case (.some, nil): return true
        case (nil, .some): return false
        default: return a < b
        }
    }

    /// A reference's file and number: the text before its last colon and the decimal number after it.
    static func split(_ reference: String) -> (file: Substring, number: Int)? {
        guard let colon = reference.utf8.lastIndex(of: UInt8(ascii: ":")) else { return nil }
        let digits = reference.utf8[reference.utf8.index(after: colon)...]
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return (reference[..<colon], digits.reduce(0) { $0 * 10 + Int($1 - 0x30) })
    }
}

extension EvidenceList: Equatable {
    public static func == (a: EvidenceList, b: EvidenceList) -> Bool {
        if case .positions(let f, let x) = a.entries, case .positions(let g, let y) = b.entries, f == g { return x == y }
        return a.strings == b.strings
    }
}
