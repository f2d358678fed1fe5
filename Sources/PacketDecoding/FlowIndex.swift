/// The flow table's index from a packet's endpoints to its flow: open addressing with linear probing
/// over references to the flows themselves, each slot beside 32 bits of its key's hash. 12 bytes a slot,
/// at most half the slots used: 24 to 48 bytes a flow, where a Dictionary keyed by the endpoints held a
/// 40-byte key and the reference in every bucket (96 to 192 bytes a flow; 150 MB at its last resize
/// on the way to a million flows).
///
/// The hash is Swift's per-process seeded `Hasher`, so packets crafted to collide in one run do not
/// collide in the next. A probe dereferences a flow only when the 32 hash bits match, so a lookup
/// costs one cache miss for the flow it finds. Removal shifts later entries back (no tombstones),
/// so a table that churns through millions of flows never fills up with dead slots.
struct FlowIndex {
    private var slots: [Flow?]
    private var hashes: [UInt32]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: nil, count: size)
        hashes = Array(repeating: 0, count: size)
        mask = size - 1
    }

    static func hash(_ key: FlowKey) -> UInt32 { UInt32(truncatingIfNeeded: key.hashValue) }

    /// The flow with this key, if any; `hash` is `FlowIndex.hash(key)`.
    func find(_ key: FlowKey, hash: UInt32) -> Flow? {
        var i = Int(hash) & mask
        while let f = slots[i] {
            if hashes[i] == hash && f.key == key { return f }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds a flow whose key is not in the index.
    mutating func insert(_ f: Flow, hash: UInt32) {
        if (count + 1) * 2 > slots.count { grow() }
        place(f, hash: hash)
        count += 1
    }

    /// Removes this flow (by identity); nothing if it is not in the index.
    mutating func remove(_ f: Flow) { remove(f, hash: Self.hash(f.key)) }

    /// Removes this flow, inserted with `hash`.
    mutating func remove(_ f: Flow, hash: UInt32) {
        var i = Int(hash) & mask
        while let g = slots[i] {
            if g === f { break }
            i = (i + 1) & mask
        }
        guard slots[i] != nil else { return }
        slots[i] = nil
        count -= 1
        // Backward shift: move up each later entry of the run whose home slot is not between the hole
        // and it, so that every entry stays reachable from its home slot without a gap.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            guard let g = slots[j] else { break }
            let home = Int(hashes[j]) & mask
            let homeBetween = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)
            if !homeBetween {
                slots[hole] = g
                hashes[hole] = hashes[j]
                slots[j] = nil
                hole = j
            }
        }
    }

    /// Every flow in the index, in no particular order.
    var all: [Flow] { slots.compactMap { $0 } }

    mutating func removeAll() {
        self = FlowIndex()
    }

    private mutating func place(_ f: Flow, hash: UInt32) {
        var i = Int(hash) & mask
        while slots[i] != nil { i = (i + 1) & mask }
        slots[i] = f
        hashes[i] = hash
    }

    private mutating func grow() {
        let oldSlots = slots, oldHashes = hashes
        let size = slots.count * 2
        slots = Array(repeating: nil, count: size)
        hashes = Array(repeating: 0, count: size)
        mask = size - 1
        for (f, h) in zip(oldSlots, oldHashes) { if let f { place(f, hash: h) } }
    }
}
