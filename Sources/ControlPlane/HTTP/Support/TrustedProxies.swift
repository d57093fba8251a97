internal import Glibc

/// The proxies (addresses or CIDR ranges, IPv4 or IPv6) whose `X-Forwarded-For` header names the real client.
///
/// Behind a TLS-terminating proxy every request comes from the proxy's address, so per-address limits would treat
/// all clients as one; a forwarded address is believed only from a configured proxy, since anyone else could put
/// any address in the header.
public struct TrustedProxies: Sendable, Equatable {
    struct Range: Sendable, Equatable {
        var bytes: [UInt8]
        var prefixLength: Int
    }

    private var ranges: [Range]

    /// No proxy is trusted: the peer's address is the client's.
    public static let none = TrustedProxies(ranges: [])

    private init(ranges: [Range]) {
        self.ranges = ranges
    }

    /// Parses `entries` (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`); throws naming the first that is not one.
    public init(_ entries: [String]) throws {
        ranges = try entries.map { entry in
            guard let range = Self.range(entry) else { throw TrustedProxyError(entry: entry) }
            return range
        }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    /// Whether `address` lies in one of the trusted ranges.
    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return ranges.contains { range in
            guard range.bytes.count == bytes.count else { return false }
            var remaining = range.prefixLength
            for (ours, theirs) in zip(range.bytes, bytes) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if ours & mask != theirs & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// The client's address for a request whose TCP peer is `peer`: the peer itself, unless it is a trusted proxy;
    /// then the right-most `X-Forwarded-For` entry that is not a trusted proxy (entries further left were written
    /// by the client and can be anything).
    public func clientAddress(peer: String?, forwardedFor: [String]) -> String? {
        guard let peer, contains(peer), !forwardedFor.isEmpty else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map {
            String($0.filter { $0 != " " && $0 != "\t" })
        }
        for hop in hops.reversed() {
            guard Self.bytes(of: hop) != nil else { return peer }
            if !contains(hop) { return hop }
        }
        return hops.first ?? peer
    }

    static func range(_ entry: String) -> Range? {
        let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = bytes(of: String(parts[0])) else { return nil }
        let maximum = bytes.count * 8
        guard parts.count == 2 else { return Range(bytes: bytes, prefixLength: maximum) }
        guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
        return Range(bytes: bytes, prefixLength: length)
    }

    /// The address's bytes (4 for IPv4, 16 for IPv6), or nil when it is neither.
    static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// A `--trusted-proxy` entry that is neither an address nor a CIDR range.
public struct TrustedProxyError: Error, CustomStringConvertible {
    public let entry: String
    public var description: String {
        "'\(entry)' is not an IPv4 or IPv6 address or CIDR range (10.0.0.5, 10.0.0.0/8, fd00::/8)"
    }
}
