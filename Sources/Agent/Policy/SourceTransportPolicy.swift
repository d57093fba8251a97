internal import Connectors
internal import SourceURLs

/// How the agent reaches a source it sends credentials to: PostgreSQL servers must prove who they are.
///
/// A PostgreSQL source without `sslmode` is reached with `verify-full` (TLS, the certificate chain and the host
/// name checked against the system's roots or `sslrootcert`); `verify-ca` is kept. `disable`, `prefer` and
/// `require` reach a server that proves nothing, so they are allowed only for sources matching
/// `policy.unverifiedSources`, where a URL without `sslmode` gets libpq's default, `prefer`. On a connection that is not encrypted, a server asking for the password in
/// cleartext gets nothing unless the source matches `policy.cleartextPasswordSources`. Sources over a local
/// socket (`?host=/dir`) have no network in between and are left as they are.
struct SourceTransportPolicy {
    private let unverified: EgressPolicy
    private let cleartext: EgressPolicy

    init(unverifiedSources: [String], cleartextPasswordSources: [String]) throws {
        unverified = try EgressPolicy(allowedHosts: [], allowedSources: unverifiedSources)
        cleartext = try EgressPolicy(allowedHosts: [], allowedSources: cleartextPasswordSources)
    }

    /// The connector with the agent's transport rules applied.
    ///
    /// - Throws: `JobRunner.LocalPolicyDenied` for a weaker `sslmode` the policy does not allow for `url`.
    func applied(to connector: any Connector, url: String) throws -> any Connector {
        guard var postgres = connector as? PostgresConnector, postgres.source.socketDirectory == nil else {
            return connector
        }
        if !postgres.source.tlsModeWasGiven {
            // libpq's default (prefer) only where the operator said the server need not prove itself.
            postgres.source.tlsMode = unverified.checkSource(url).allowed ? .prefer : .verifyFull
        }
        switch postgres.source.tlsMode {
        case .verifyFull, .verifyCA:
            break
        case .disable, .prefer, .require:
            let decision = unverified.checkSource(url)
            guard decision.allowed else {
                throw JobRunner.LocalPolicyDenied(
                    reason: "the agent's local policy refuses sslmode=\(postgres.source.tlsMode.rawValue) for "
                        + "\(postgres.source.location): the server would not prove who it is. The agent reaches "
                        + "PostgreSQL with sslmode=verify-full (or verify-ca); policy.unverifiedSources names the "
                        + "sources allowed without")
            }
        }
        postgres.refusesCleartextPassword = !cleartext.checkSource(url).allowed
        return postgres
    }
}
