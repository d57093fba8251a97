#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A host the agent is about to reach, normalised the way the system resolver will read it.
///
/// Names are lower-cased with one trailing dot removed; anything the C library's `inet_aton` accepts (including
/// `127.1`, `0x7f.0.0.1` and octal `012.0.0.1`) is treated as the IPv4 address it denotes, because that is what a
/// connection to it reaches; IPv4-mapped IPv6 addresses count as their IPv4 address.
enum EgressHost: Equatable, CustomStringConvertible {
    case name([String])
    case ipv4(UInt32)
    case ipv6([UInt8])

    /// Normalises `text` (already percent-decoded), or explains why it is not a usable host.
    static func parse(_ text: String) -> Result<EgressHost, HostProblem> {
        var host = text
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return .failure(HostProblem("unbalanced brackets")) }
            host = String(host.dropFirst().dropLast())
            guard host.contains(":") else { return .failure(HostProblem("brackets hold something other than IPv6")) }
        }
        if host.contains(":") {
            guard !host.contains("%") else {
                return .failure(HostProblem("IPv6 zone identifiers are not supported"))
            }
            var address = in6_addr()
            guard inet_pton(AF_INET6, host, &address) == 1 else {
                return .failure(HostProblem("not a valid IPv6 address"))
            }
            let bytes = withUnsafeBytes(of: address) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return .success(.ipv4(bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) }))
            }
            return .success(.ipv6(bytes))
        }
        if host.hasSuffix(".") { host.removeLast() }
        guard !host.isEmpty else { return .failure(HostProblem("the host is empty")) }
        guard host.utf8.allSatisfy({ $0 < 0x80 }) else {
            return .failure(HostProblem("non-ASCII host names must be written in their xn-- (punycode) form"))
        }
        var address = in_addr()
        if inet_aton(host, &address) != 0 {
            return .success(.ipv4(UInt32(bigEndian: address.s_addr)))
        }
        let labels = host.lowercased().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard host.utf8.count <= 253 else { return .failure(HostProblem("the host name is longer than 253 bytes")) }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63,
                label.utf8.allSatisfy({ Self.isNameByte($0) })
            else {
                return .failure(HostProblem("'\(label)' is not a valid DNS label"))
            }
        }
        return .success(.name(labels))
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "_")
    }

    var description: String {
        switch self {
        case .name(let labels): return labels.joined(separator: ".")
        case .ipv4(let value): return Self.format(ipv4: value)
        case .ipv6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: 64)
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return "[?]" }
            return "[" + String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "]"
        }
    }

    static func format(ipv4 value: UInt32) -> String {
        [24, 16, 8, 0].map { String(value >> UInt32($0) & 0xFF) }.joined(separator: ".")
    }
}

/// Why a host was not accepted.
struct HostProblem: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

/// The host part of a rule: a name with optional leading wildcard labels, or an address block.
enum HostPattern: Equatable {
    /// Labels to match right-aligned; `leading` wildcard labels in front: `*` one label, `**` one or more.
    case name(suffix: [String], leading: Wildcard?)
    case ipv4(network: UInt32, prefix: Int)
    case ipv6(network: [UInt8], prefix: Int)

    enum Wildcard: Equatable {
        /// `*.`: exactly one label.
        case one
        /// `**.`: one or more labels.
        case many
    }

    /// Parses `cp.example.com`, `*.example.com`, `**.example.com`, `10.0.0.0/8`, `10.1.2.3`, `fd00::/8`, `::1`.
    static func parse(_ text: String) throws(HostProblem) -> HostPattern {
        if let slash = text.firstIndex(of: "/") {
            let address = String(text[..<slash])
            guard let prefix = Int(text[text.index(after: slash)...]) else {
                throw HostProblem("the prefix length after '/' must be a number")
            }
            return try network(address, prefix: prefix)
        }
        guard text.contains("*") else {
            switch EgressHost.parse(text) {
            case .failure(let problem): throw problem
            case .success(.ipv4(let value)):
                guard isDottedQuad(text) else {
                    throw HostProblem("write IPv4 addresses as four decimal numbers (a.b.c.d)")
                }
                return .ipv4(network: value, prefix: 32)
            case .success(.ipv6(let bytes)): return .ipv6(network: bytes, prefix: 128)
            case .success(.name(let labels)): return .name(suffix: labels, leading: nil)
            }
        }
        var labels = text.lowercased().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.count > 1 && labels.last == "" { labels.removeLast() }
        let leading: Wildcard
        switch labels.first {
        case "*": leading = .one
        case "**": leading = .many
        default: throw HostProblem("'*' and '**' stand only for whole labels at the left (e.g. *.corp.example)")
        }
        labels.removeFirst()
        guard !labels.isEmpty else { throw HostProblem("a pattern of wildcards alone would allow every host") }
        guard labels.count >= 2 else {
            throw HostProblem("a wildcard needs a domain of at least two labels after it (e.g. *.corp.example)")
        }
        for label in labels {
            guard !label.contains("*") else {
                throw HostProblem("'*' and '**' stand only for whole labels at the left (e.g. *.corp.example)")
            }
            guard !label.isEmpty, label.utf8.count <= 63, label.utf8.allSatisfy(EgressHost.isNameByte) else {
                throw HostProblem("'\(label)' is not a valid DNS label")
            }
        }
        return .name(suffix: labels, leading: leading)
    }

    private static func network(_ address: String, prefix: Int) throws(HostProblem) -> HostPattern {
        var text = address
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if text.contains(":") {
            guard (0...128).contains(prefix) else { throw HostProblem("an IPv6 prefix length is 0…128") }
            guard case .success(.ipv6(let bytes)) = EgressHost.parse(text) else {
                throw HostProblem("'\(address)' is not an IPv6 network address")
            }
            var masked = bytes
            for bit in prefix..<128 { masked[bit / 8] &= ~(UInt8(0x80) >> UInt8(bit % 8)) }
            return .ipv6(network: masked, prefix: prefix)
        }
        guard (0...32).contains(prefix) else { throw HostProblem("an IPv4 prefix length is 0…32") }
        guard isDottedQuad(text), case .success(.ipv4(let value)) = EgressHost.parse(text) else {
            throw HostProblem("'\(address)' is not an IPv4 address written as a.b.c.d")
        }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)
        return .ipv4(network: value & mask, prefix: prefix)
    }

    private static func isDottedQuad(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                guard let value = Int(part), (0...255).contains(value) else { return false }
                return part == "0" || !part.hasPrefix("0")
            }
    }

    func matches(_ host: EgressHost) -> Bool {
        switch (self, host) {
        case (.name(let suffix, let leading), .name(let labels)):
            switch leading {
            case nil: return labels == suffix
            case .one: return labels.count == suffix.count + 1 && Array(labels.suffix(suffix.count)) == suffix
            case .many: return labels.count > suffix.count && Array(labels.suffix(suffix.count)) == suffix
            }
        case (.ipv4(let network, let prefix), .ipv4(let value)):
            let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)
            return value & mask == network
        case (.ipv6(let network, let prefix), .ipv6(let bytes)):
            for bit in 0..<prefix {
                let index = bit / 8
                let shift = UInt8(7 - bit % 8)
                guard (network[index] >> shift) & 1 == (bytes[index] >> shift) & 1 else { return false }
            }
            return true
        default:
            return false
        }
    }
}
