internal import Foundation
public import OutpostProtocol

/// A job's source approved by the agent's own operator outside the configuration file, for that job only: the
/// quickstart approves the SQLite and PostgreSQL sources its user registers with the control plane it runs on the
/// same machine, so a connection added there can run without editing a policy. The approval is added to the local
/// policy's rules as an exact pattern of the job's source; nothing else about the policy widens.
public struct LocalSourceApproval: Sendable, Equatable {
    /// Allow this source to be reached without verifying its TLS certificate (`policy.unverifiedSources`).
    public var unverifiedTLS: Bool
    /// Allow this source to be sent a password over a connection that is not encrypted
    /// (`policy.cleartextPasswordSources`).
    public var cleartextPassword: Bool

    public init(unverifiedTLS: Bool = false, cleartextPassword: Bool = false) {
        self.unverifiedTLS = unverifiedTLS
        self.cleartextPassword = cleartextPassword
    }

    /// A local-policy pattern that allows exactly this source: the URL without user, password and query, with
    /// the scheme's default port written out. `*` and `?` in a source would read as globs, so such sources are
    /// not approvable this way (nil).
    public static func exactPattern(_ source: String) -> String? {
        guard let colon = source.firstIndex(of: ":"), colon > source.startIndex else { return nil }
        if !source[colon...].hasPrefix("://") {
            // A file source (`sqlite:/PATH`, any characters in the path) is its own pattern; a query or glob
            // character would not read back.
            return source.contains(where: { "*?#".contains($0) }) ? nil : source
        }
        guard var components = URLComponents(string: source), components.host != nil else { return nil }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        if components.port == nil, let scheme = components.scheme {
            components.port = EgressPolicy.defaultPorts[scheme == "postgresql" ? "postgres" : scheme]
        }
        guard let pattern = components.string, !pattern.contains("*") else { return nil }
        return pattern
    }
}

/// Asked once per job before it starts, with the job's spec as the control plane sent it: nil leaves the local
/// policy as configured.
public typealias LocalSourceApprover = @Sendable (JobSpec) async -> LocalSourceApproval?
