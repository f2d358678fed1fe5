import ShadowScopeCore

/// One Observation as one NDJSON line, with the contract's field names. Fields that do not apply
/// are written as null, never left out.
public func writeObservation(_ o: Observation, into w: inout JSONWriter) {
    w.beginObject()
    w.field("ts", o.timestamp.rfc3339)
    w.beginObject("source")
    w.field("file", o.source.file)
    switch o.source.position {
    case .frame(let n): w.field("frame", n); w.field("line", nil as Int?)
    case .line(let n): w.field("frame", nil as Int?); w.field("line", n)
    case .none: w.field("frame", nil as Int?); w.field("line", nil as Int?)
    }
    w.endObject()
    w.field("transport", o.transport?.rawValue)
    w.beginObject("client")
    w.field("ip", o.clientIP?.description ?? o.clientName)
    w.field("port", o.clientPort.map { Int64($0) })
    w.field("user", o.user)
    w.endObject()
    w.beginObject("server")
    w.field("ip", o.serverIP?.description)
    w.field("port", o.serverPort.map { Int64($0) })
    w.endObject()
    w.field("host", o.host)
    w.field("host_source", o.hostSource?.rawValue)
    w.field("url_path", o.urlPath)
    w.field("method", o.method)
    w.field("status", o.status)
    if let dns = o.dns {
        w.beginObject("dns")
        w.field("type", dns.type)
        w.field("rcode", dns.rcode)
        w.beginArray("answers")
        for a in dns.answers { w.value(a) }
        w.endArray()
        w.endObject()
    } else {
        w.field("dns", nil as String?)
    }
    w.field("bytes_up", o.bytesUp)
    w.field("bytes_down", o.bytesDown)
    w.field("packets_up", o.packetsUp)
    w.field("packets_down", o.packetsDown)
    w.field("duration_ms", o.durationMs)
    w.endObject()
}
