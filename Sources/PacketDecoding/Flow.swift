import ShadowScopeCore

/// A TCP connection's key, the same for both directions: the lower endpoint first.
struct FlowKey: Hashable {
    var a: IPAddress
    var b: IPAddress
    var portA: UInt16
    var portB: UInt16

    init(_ src: IPAddress, _ sport: UInt16, _ dst: IPAddress, _ dport: UInt16) {
        if (src, sport) < (dst, dport) {
            a = src; portA = sport; b = dst; portB = dport
        } else {
            a = dst; portA = dport; b = src; portB = sport
        }
    }
}

/// One TCP connection being tracked. A class: the table mutates it in place on every packet.
final class Flow {
    let order: Int
    let client: IPAddress
    let clientPort: UInt16
    let server: IPAddress
    let serverPort: UInt16
    let firstSeen: Timestamp
    let firstFrame: Int
    var lastSeen: Timestamp
    var up = SequenceSpan()
    var down = SequenceSpan()
    var packetsUp: Int64 = 0
    var packetsDown: Int64 = 0
    var finUp = false
    var finDown = false
    var reset = false

    /// The client's first bytes, in order, until a name is found or we give up.
    var helloBuffer: [UInt8] = []
    var helloNextSeq: UInt32? = nil
    var nameSettled = false
    var host: String? = nil
    var hostSource: HostSource? = nil
    var nameFrame: Int? = nil

    init(order: Int, client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16, ts: Timestamp, frame: Int) {
        self.order = order
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.firstSeen = ts
        self.lastSeen = ts
        self.firstFrame = frame
    }

    var isClosed: Bool { reset || (finUp && finDown) }

    func observation(file: String) -> Observation {
        var o = Observation(timestamp: firstSeen, source: SourceRef(file: file, position: .frame(nameFrame ?? firstFrame)))
        o.transport = .tcp
        o.clientIP = client
        o.clientPort = clientPort
        o.serverIP = server
        o.serverPort = serverPort
        o.host = host
        o.hostSource = hostSource
        o.bytesUp = up.bytes
        o.bytesDown = down.bytes
        o.packetsUp = packetsUp
        o.packetsDown = packetsDown
        o.durationMs = (lastSeen.microseconds - firstSeen.microseconds) / 1000
        return o
    }
}
