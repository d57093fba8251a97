#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A `tableau://HOST[:PORT]/SITE` URL: a site of Tableau Server or Tableau Cloud, read with a personal access token.
///
/// SITE is the site's content URL as it appears in Tableau's own URLs (`/#/site/SITE/…`); nothing after the host
/// names the default site. Parameters: `endpoint=https://HOST[:PORT]` (where requests go instead of HOST: a
/// proxy, a test server), `sslrootcert=PATH` (a private CA's PEM bundle), `api_version=3.N` (the REST API version,
/// default 3.19, Tableau Server 2023.1 and Tableau Cloud), `page_size=N` (Metadata API page size, default 10).
public struct TableauSource: Sendable, CustomStringConvertible {
    /// The server's host as written, lower case: what the catalog shows and content URLs are built on.
    public var host: String
    /// The server's port when given.
    public var port: Int?
    /// The site's content URL; empty for the default site.
    public var site: String
    /// Where requests go: the server itself, or the `endpoint` parameter.
    public var endpoint: SourceEndpoint
    /// A PEM bundle of trusted roots (a TLS-inspecting proxy's or a private CA).
    public var rootCertificatePath: String?
    /// The REST API version in request paths (`3.19`).
    public var apiVersion: String
    /// Nodes per Metadata API page for workbooks and data sources (fields are read in pages ten times as large).
    public var pageSize: Int

    public static let defaultAPIVersion = "3.19"

    /// Parses a `tableau://` URL.
    ///
    /// - Throws: `ConnectorError` `.invalidSource` saying what is wrong and how to write it.
    public init(url text: String) throws {
        let example = "tableau://HOST[:PORT]/SITE (SITE: the site's content URL, nothing for the default site)"
        guard let schemeEnd = text.firstRange(of: "://"), text[..<schemeEnd.lowerBound].lowercased() == "tableau"
        else {
            throw ConnectorError(
                .invalidSource, "'\(PostgresSource.sanitize(text))' is not a Tableau URL: write \(example)")
        }
        let rest = text[schemeEnd.upperBound...]
        let beforeQuery = rest.firstIndex(of: "?").map { rest[..<$0] } ?? rest
        let query = rest.firstIndex(of: "?").map { rest[rest.index(after: $0)...] } ?? ""
        let authority = beforeQuery.firstIndex(of: "/").map { beforeQuery[..<$0] } ?? beforeQuery
        if authority.contains("@") {
            throw ConnectorError(
                .invalidSource,
                "do not put a user or token in a Tableau URL; give the personal access token as patName and patSecret "
                    + "secrets (--pat-name and --pat-secret-file for outpost extract)")
        }
        guard let parsed = URLComponents(string: "https://\(authority)"), let host = parsed.host, !host.isEmpty,
            parsed.path.isEmpty
        else {
            throw ConnectorError(.invalidSource, "'\(authority)' is not a host[:port]: write \(example)")
        }
        if let port = parsed.port, !(1...65535).contains(port) {
            throw ConnectorError(.invalidSource, "the port in the Tableau URL must be between 1 and 65535")
        }
        var site = ""
        if let slash = beforeQuery.firstIndex(of: "/") {
            var path = beforeQuery[beforeQuery.index(after: slash)...]
            if path.hasSuffix("/") { path = path.dropLast() }
            guard let decoded = String(path).percentDecoded, !decoded.contains("/") else {
                throw ConnectorError(
                    .invalidSource,
                    "the site in the Tableau URL must be one content URL (no '/', %-encoded if need be): write \(example)"
                )
            }
            site = decoded
        }
        var bareHost = host.lowercased()
        if bareHost.hasPrefix("[") && bareHost.hasSuffix("]") { bareHost = String(bareHost.dropFirst().dropLast()) }
        self.host = bareHost
        self.port = parsed.port
        self.site = site
        self.endpoint = SourceEndpoint(host: bareHost, port: parsed.port ?? 443)
        self.apiVersion = Self.defaultAPIVersion
        self.pageSize = 10
        var seen: Set<String> = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let (name, rawValue) =
                item.firstIndex(of: "=").map { (String(item[..<$0]), item[item.index(after: $0)...]) }
                ?? (String(item), "")
            guard let value = String(rawValue).replacing("+", with: " ").percentDecoded else {
                throw ConnectorError(.invalidSource, "URL parameter '\(name)' is badly %-encoded")
            }
            guard seen.insert(name).inserted else {
                throw ConnectorError(.invalidSource, "URL parameter '\(name)' is given twice")
            }
            guard !value.isEmpty else { throw ConnectorError(.invalidSource, "URL parameter '\(name)' is empty") }
            try apply(name: name, value: value)
        }
    }

    private mutating func apply(name: String, value: String) throws {
        switch name {
        case "endpoint":
            endpoint = try SourceEndpoint(parsing: value)
        case "sslrootcert":
            rootCertificatePath = value
        case "api_version":
            let parts = value.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && Int($0) != nil })
            else {
                throw ConnectorError(.invalidSource, "api_version must look like 3.19, not '\(value)'")
            }
            apiVersion = value
        case "page_size":
            guard let size = Int(value), (1...1000).contains(size) else {
                throw ConnectorError(.invalidSource, "page_size must be a number between 1 and 1000")
            }
            pageSize = size
        case "token", "pat", "password", "patName", "patSecret", "personalAccessTokenSecret":
            throw ConnectorError(
                .invalidSource,
                "do not put credentials in the Tableau URL ('\(name)'); give them as secret references")
        default:
            throw ConnectorError(
                .invalidSource,
                "unknown URL parameter '\(name)': supported are endpoint, sslrootcert, api_version, page_size")
        }
    }

    /// `host[:port]` of the server (not the endpoint): where the site lives, shown in logs and manifests.
    public var location: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(bracketed):\($0)" } ?? bracketed
    }

    /// The site's address in a browser (`https://host/#/site/SITE`), the base of workbook and view links.
    public var siteURL: String {
        "https://\(location)/#" + (site.isEmpty ? "" : "/site/\(site)")
    }

    public var description: String {
        "tableau://\(location)/\(site)"
    }
}
