/// Where `--syslog` sends alerts: `tcp://HOST[:PORT]` (RFC 6587 octet counting) or
/// `tls://HOST[:PORT]` (RFC 5425). HOST is a name, an IPv4 address or a bracketed IPv6 address.
/// Default ports: 6514 for tls (RFC 5425), 514 for tcp (what rsyslog and syslog-ng listen on;
/// RFC 6587 assigns none). UDP is refused: it drops alerts silently.
public struct SyslogURL: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable { case tcp, tls }

    public var transport: Transport
    public var host: String
    public var port: Int

    public static let defaultTCPPort = 514
    public static let defaultTLSPort = 6514
    /// RFC 1035: a host name is at most 253 characters in text form.
    public static let maxHostLength = 253

    public init(transport: Transport, host: String, port: Int) {
        self.transport = transport
        self.host = host
        self.port = port
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(transport.rawValue)://\(h):\(port)"
    }

    /// True when `host` is an IPv4 or IPv6 literal (no SNI is sent; the certificate must name the address).
    public var hostIsAddress: Bool {
        host.contains(":") || (!host.isEmpty && host.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E })
    }

    public init(parsing text: String) throws(SyslogURLError) {
        guard let sep = text.range(of: "://") else {
            throw SyslogURLError(.missingScheme, text, "expected tcp://HOST:PORT or tls://HOST:PORT")
        }
        let scheme = text[..<sep.lowerBound].lowercased()
        switch scheme {
        case "tcp": transport = .tcp
        case "tls": transport = .tls
        case "udp":
            throw SyslogURLError(.unsupportedScheme, text, "UDP is not supported (it loses alerts without telling); use tcp:// or tls://")
        default:
            throw SyslogURLError(.unsupportedScheme, text, "scheme '\(scheme)' is not supported; use tcp:// or tls://")
        }
        var rest = Substring(text[sep.upperBound...])
        if rest.last == "/" { rest = rest.dropLast() }
        if rest.contains("/") || rest.contains("?") || rest.contains("#") {
            throw SyslogURLError(.unexpectedPath, text, "a syslog URL has no path, query or fragment")
        }
        if rest.contains("@") {
            throw SyslogURLError(.unexpectedUserInfo, text, "a syslog URL has no user name or password")
        }
        var hostPart: Substring
        var portPart: Substring?
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else {
                throw SyslogURLError(.badHost, text, "'[' without ']' around an IPv6 address")
            }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw SyslogURLError(.badHost, text, "unexpected text after ']'") }
                portPart = after.dropFirst()
            }
            guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw SyslogURLError(.badHost, text, "'\(hostPart)' is not an IPv6 address")
            }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                hostPart = rest[..<colon]
                portPart = rest[rest.index(after: colon)...]
            } else {
                hostPart = rest
            }
            guard !hostPart.isEmpty else { throw SyslogURLError(.badHost, text, "the host is missing") }
            let allowed = hostPart.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F
            }
            guard allowed else {
                throw SyslogURLError(.badHost, text, "'\(hostPart)' is not a host name or address (IPv6 needs [brackets])")
            }
        }
        guard hostPart.utf8.count <= Self.maxHostLength else {
            throw SyslogURLError(.badHost, text, "the host name is longer than \(Self.maxHostLength) characters")
        }
        host = String(hostPart)
        if let portPart {
            guard !portPart.isEmpty, portPart.utf8.count <= 5, portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let p = Int(portPart), (1...65_535).contains(p)
            else {
                throw SyslogURLError(.badPort, text, "port '\(portPart)' is not a number from 1 to 65535")
            }
            port = p
        } else {
            port = transport == .tls ? Self.defaultTLSPort : Self.defaultTCPPort
        }
    }
}

/// Why a `--syslog` URL was refused; tests match `code`.
public struct SyslogURLError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable { case missingScheme, unsupportedScheme, unexpectedPath, unexpectedUserInfo, badHost, badPort }
    public var code: Code
    public var url: String
    public var reason: String

    init(_ code: Code, _ url: String, _ reason: String) {
        self.code = code
        self.url = url
        self.reason = reason
    }

    public static func == (a: SyslogURLError, b: SyslogURLError) -> Bool { a.code == b.code }

    public var description: String { "'\(url)': \(reason)" }
}
