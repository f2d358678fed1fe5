import Crypto
import Foundation
import ShadowScopeCore

/// Replaces user names and client addresses with a keyed HMAC-SHA256 (`--pseudonymize KEYFILE`), so
/// a summary can be shared without naming people, while one person still maps to one pseudonym. The
/// key is read from a file, never from the command line (which `ps` and shell history show).
public struct Pseudonymizer: Sendable {
    /// Shortest key accepted: 128 bits.
    public static let minimumKeyBytes = 16

    /// Kept as bytes: swift-crypto 3's SymmetricKey is not Sendable; a key is made per use (cheap).
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public struct KeyError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(key: [UInt8]) throws(KeyError) {
        guard key.count >= Self.minimumKeyBytes else {
            throw KeyError(description: "the key must hold at least \(Self.minimumKeyBytes) bytes, it holds \(key.count)")
        }
        self.keyBytes = key
    }

    /// Reads the key file; one trailing newline is not part of the key.
    public init(keyFile: String) throws(KeyError) {
        guard let data = FileManager.default.contents(atPath: keyFile) else {
            throw KeyError(description: "\(keyFile): cannot read the pseudonymisation key")
        }
        var bytes = [UInt8](data)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        do { try self.init(key: bytes) } catch { throw KeyError(description: "\(keyFile): \(error.description)") }
    }

    /// `u-` and the first 16 hex digits (64 bits) of HMAC-SHA256(key, name).
    public func pseudonym(_ name: String) -> String {
        "u-" + String(hexString(HMAC<SHA256>.authenticationCode(for: Array(name.utf8), using: key)).prefix(16))
    }

    /// The full HMAC-SHA256 in hex, for tests against published vectors.
    public func fullHMAC(_ message: [UInt8]) -> String {
        hexString(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }


    /// The observation with its user and client address replaced, and the attribution's user.
    public func apply(_ o: inout Observation, _ a: inout Attribution) {
        a.user = pseudonym(a.user)
        o.user = o.user.map(pseudonym)
        if let ip = o.clientIP {
            o.clientName = pseudonym(ip.description)
            o.clientIP = nil
        } else {
            o.clientName = o.clientName.map(pseudonym)
        }
    }
}

/// Lower-case hex of a digest or MAC.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
