public import Connectors
internal import SourceURLs

/// The proxy a job uses for the HTTPS APIs it calls itself (a Snowflake account, AWS Secrets Manager): the agent's
/// own `network.proxy` and `network.noProxy` (or `HTTPS_PROXY` / `NO_PROXY`), handed over in the job envelope.
public struct ProxySettings: Codable, Sendable, Equatable {
    /// Nil: no proxy, every host is reached directly.
    public var proxy: OutboundNetwork.Proxy?
    public var noProxy: [String]

    public init(proxy: OutboundNetwork.Proxy?, noProxy: [String]) {
        self.proxy = proxy
        self.noProxy = noProxy
    }

    /// The settings `HTTPS_PROXY` / `NO_PROXY` (either casing, or `ALL_PROXY`) give, as for `outpost extract`.
    /// - Throws: `AgentError` `.invalidConfiguration` for a proxy URL that is not `http://[user:password@]host:port`.
    public init(environment: [String: String]) throws {
        let text =
            environment["HTTPS_PROXY"] ?? environment["https_proxy"] ?? environment["ALL_PROXY"]
            ?? environment["all_proxy"]
        proxy = try text.flatMap { $0.isEmpty ? nil : try OutboundNetwork.parseProxy($0) }
        noProxy = OutboundNetwork.noProxyList(environment["NO_PROXY"] ?? environment["no_proxy"] ?? "")
    }

    /// The proxy to reach `host` through, or nil when there is none or `NO_PROXY` exempts the host.
    public func proxy(for host: String) -> OutboundNetwork.Proxy? {
        guard let proxy, !OutboundNetwork.bypassesProxy(host: host, noProxy: noProxy) else { return nil }
        return proxy
    }

    /// `connector` set to reach its source through the proxy when it speaks HTTPS itself (Snowflake) and `NO_PROXY`
    /// does not exempt the source's host; any other connector as it is.
    public func applied(to connector: any Connector) -> any Connector {
        if var snowflake = connector as? SnowflakeConnector {
            snowflake.proxy = proxy(for: snowflake.source.host)?.configuration
            return snowflake
        }
        if var tableau = connector as? TableauConnector {
            tableau.proxy = proxy(for: tableau.source.endpoint.host)?.configuration
            return tableau
        }
        return connector
    }
}
