/// A summary row's evidence: at most `limit` distinct `file:line` / `file:frame` references, the
/// first in reference order (`referenceLess`: by file, then by number, so `f:9` before `f:10`). The
/// choice does not depend on how inputs were split or merged, and because adding the same count to
/// every line number keeps that order, a part of a file numbered from 1 can be moved to its place
/// in the file afterwards (`shiftNumbers`).
///
/// While every reference names the same file (a scan of one input: the usual case) they are kept as
/// numbers. A matched record then costs no String, no allocation, and no reading of strings
/// scattered over the heap: as strings, the evidence was a third of each row update. Anything else
/// (several files, text read from a summary file) is kept as text.
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
        entries = .texts(Array(Set(texts).sorted(by: Self.referenceLess).prefix(Self.limit)))
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
                if numbers.count >= Self.limit, n >= numbers[numbers.count - 1] { return }
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
        Self.insert(e, into: &texts, by: Self.referenceLess)
        entries = .texts(texts)
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
            entries = .texts([])  // the array is uniquely held while it changes
            for k in numbers.indices { numbers[k] += offset }
            entries = .positions(file: f, numbers: numbers)
        case .positions:
            break
        case .texts(var texts):
            entries = .texts([])
            for k in texts.indices { texts[k] = Self.shifted(texts[k], in: file, by: offset) }
            entries = .texts(texts)
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
    private static func split(_ reference: String) -> (file: Substring, number: Int)? {
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
