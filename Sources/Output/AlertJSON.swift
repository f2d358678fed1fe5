import Crypto
import ShadowScopeCore

/// `event.id`: the first 32 hex digits of SHA-256 over rule, user, service and window, so a re-run
/// over the same input raises the same ids and a SIEM can drop duplicates.
public func alertID(_ a: Alert) -> String {
    hexString(SHA256.hash(data: Array(a.idMaterial.utf8)).prefix(16))
}

/// One alert as one NDJSON line with ECS 8 field names (dotted keys, as SIEM ingest pipelines accept).
public func writeAlert(_ a: Alert, into w: inout JSONWriter) {
    w.beginObject()
    w.field("@timestamp", a.windowEnd.rfc3339)
    w.field("event.kind", "alert")
    w.field("event.id", alertID(a))
    w.field("event.severity", a.severity)
    w.field("rule.id", a.ruleID)
    w.field("rule.name", a.ruleName)
    w.field("message", a.message)
    w.field("user.name", a.user)
    w.field("source.ip", a.sourceIP)
    w.field("destination.domain", a.destinationDomain)
    w.field("destination.ip", a.destinationIP)
    w.field("destination.geo.country_iso_code", a.country)
    w.field("source.bytes", a.uploadBytes)
    w.field("destination.bytes", a.downloadBytes)
    w.field("shadowscope.service.id", a.serviceID)
    w.field("shadowscope.service.vendor", a.vendor)
    w.field("shadowscope.service.tier", a.tier)
    w.field("shadowscope.window.start", a.windowStart.rfc3339)
    w.field("shadowscope.window.end", a.windowEnd.rfc3339)
    w.beginArray("shadowscope.evidence")
    for e in a.evidence.prefix(10) { w.value(e) }
    w.endArray()
    w.endObject()
}

/// SHA-256 of `bytes` as lower-case hex: a stable key for an input in the state database.
public func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
    hexString(SHA256.hash(data: Array(bytes)))
}
