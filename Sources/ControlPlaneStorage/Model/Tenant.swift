/// An organisation. Every other row belongs to exactly one tenant, and every query is scoped by it.
public struct Tenant: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var createdAt: Timestamp

    public init(id: String, name: String, createdAt: Timestamp) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// Milliseconds since the Unix epoch, UTC: one representation in both databases and in memory.
public struct Timestamp: Sendable, Hashable, Comparable, Codable {
    public var milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public func adding(seconds: Int) -> Timestamp { Timestamp(milliseconds: milliseconds + Int64(seconds) * 1000) }
}
