public import OutpostProtocol

/// An API key as stored: never the key itself, only its SHA-256. The key is shown once, at creation.
public struct APIKey: Sendable, Equatable {
    /// What the key may do, as the admin API shows it too.
    public typealias Role = APIKeyRole

    public var id: String
    public var tenantId: String
    public var name: String
    public var role: Role
    /// Lower-case hex SHA-256 of the full key text.
    public var hash: String
    /// The first characters of the key (`opk_ab12`), to recognise it in lists.
    public var prefix: String
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?
    public var lastUsedAt: Timestamp?

    public init(
        id: String, tenantId: String, name: String, role: Role, hash: String, prefix: String, createdAt: Timestamp,
        expiresAt: Timestamp? = nil, revokedAt: Timestamp? = nil, lastUsedAt: Timestamp? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.role = role
        self.hash = hash
        self.prefix = prefix
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }

    /// Whether the key authenticates at `now`.
    public func isValid(at now: Timestamp) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }
}
