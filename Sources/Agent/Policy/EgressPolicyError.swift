/// A rule of the local egress policy that cannot be understood; the message names the rule and the fix.
public struct EgressPolicyError: Error, CustomStringConvertible, Sendable {
    /// The rule as written in the configuration.
    public let rule: String
    public let message: String

    public init(rule: String, _ message: String) {
        self.rule = rule
        self.message = message
    }

    public var description: String { "invalid egress policy rule '\(rule)': \(message)" }
}
