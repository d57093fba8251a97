/// The answer of the local egress policy for one source or host.
public struct PolicyDecision: Sendable, Equatable, CustomStringConvertible {
    /// Whether the connection may be made.
    public var allowed: Bool
    /// The configured rule that allowed it (nil when denied).
    public var rule: String?
    /// Why: the matching rule, or what was refused and why, naming the host — safe to log and to report.
    public var reason: String

    /// An allowing decision by `rule`.
    public static func allow(rule: String, subject: String) -> PolicyDecision {
        PolicyDecision(allowed: true, rule: rule, reason: "\(subject) is allowed by the local policy rule '\(rule)'")
    }

    /// A denying decision.
    public static func deny(_ reason: String) -> PolicyDecision {
        PolicyDecision(allowed: false, rule: nil, reason: reason)
    }

    public var description: String { reason }
}
