internal import Connectors
internal import SourceURLs

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// What a source URL will actually connect to or open, as the egress policy checks it.
struct SourceTarget: CustomStringConvertible {
    var scheme: String
    /// nil for file sources.
    var host: EgressHost?
    var port: Int?
    /// The database path (`/sales`, `/` for every database) or the absolute, symlink-resolved file path.
    var path: String
    /// Snowflake: the account identifier as the connector reads it (lower case), which source rules match; `host`
    /// and `port` are then where the connector connects (the account's host or the `endpoint`).
    var account: String?
    /// Snowflake: the login name, which a source rule may restrict.
    var user: String?

    var description: String {
        guard let host else { return "\(scheme):\(path)" }
        if let account {
            return "\(scheme)://\(user.map { "\($0)@" } ?? "")\(account)\(path) (via \(host)"
                + (port.map { ":\($0)" } ?? "") + ")"
        }
        return "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "") + path
    }

    /// Query parameters that redirect a connection elsewhere in some client libraries.
    private static let targetParameters: Set<String> = ["host", "hostaddr", "server", "address", "port", "service"]

    /// - Parameter resolvingSymlinks: false for a file path the kernel reported for an open file (already
    ///   resolved: resolving it again would check wherever the name points now instead).
    static func parse(_ url: String, resolvingSymlinks: Bool = true) -> Result<SourceTarget, HostProblem> {
        Result { () throws(HostProblem) -> SourceTarget in try parseOrThrow(url, resolvingSymlinks: resolvingSymlinks) }
    }

    private static func parseOrThrow(_ url: String, resolvingSymlinks: Bool) throws(HostProblem) -> SourceTarget {
        guard !url.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw HostProblem("the URL contains control characters")
        }
        guard let colon = url.firstIndex(of: ":") else { throw HostProblem("the URL has no scheme") }
        let scheme = try RuleSyntax.scheme(url[..<colon])
        var rest = url[url.index(after: colon)...]
        if EgressPolicy.fileSchemes.contains(scheme) {
            if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
            guard !rest.isEmpty else { throw HostProblem("the URL names no file") }
            let path = resolvingSymlinks ? resolvedPath(String(rest)) : String(rest)
            return SourceTarget(scheme: scheme, host: nil, port: nil, path: path)
        }
        guard rest.hasPrefix("//") else { throw HostProblem("write \(scheme)://HOST[:PORT][/PATH]") }
        if scheme == "snowflake" { return try parseSnowflake(url) }
        if scheme == "tableau" { return try parseTableau(url) }
        rest = rest.dropFirst(2)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        guard !authority.contains("\\") else { throw HostProblem("backslashes in the host part are ambiguous") }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        guard !authority.contains(",") else {
            throw HostProblem("several hosts in one URL are not allowed: name one host per source")
        }
        var hostText: String
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw HostProblem("unbalanced brackets") }
            hostText = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw HostProblem("unexpected text after ']'") }
                port = try parsePort(after.dropFirst())
            }
        } else if let portColon = authority.lastIndex(of: ":") {
            hostText = String(authority[..<portColon])
            port = try parsePort(authority[authority.index(after: portColon)...])
        } else {
            hostText = String(authority)
        }
        guard let decodedHost = percentDecoded(hostText) else {
            throw HostProblem("the host has a malformed %-escape or is not UTF-8")
        }
        hostText = decodedHost
        let afterAuthority = rest[authorityEnd...]
        let pathEnd = afterAuthority.firstIndex { $0 == "?" || $0 == "#" } ?? afterAuthority.endIndex
        guard var path = percentDecoded(String(afterAuthority[..<pathEnd])) else {
            throw HostProblem("the path has a malformed %-escape or is not UTF-8")
        }
        var queryText = afterAuthority[pathEnd...]
        if queryText.hasPrefix("?") {
            queryText = queryText.dropFirst()
            if let hash = queryText.firstIndex(of: "#") { queryText = queryText[..<hash] }
        } else {
            queryText = ""
        }
        for item in queryText.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecoded(String(parts[0])),
                let value = percentDecoded(parts.count > 1 ? String(parts[1]) : "")
            else {
                throw HostProblem("a query parameter has a malformed %-escape")
            }
            guard scheme == "postgres" else {
                if targetParameters.contains(name.lowercased()) {
                    throw HostProblem("the query parameter '\(name)' would redirect the connection")
                }
                continue
            }
            // PostgreSQL's connector honours these, so they decide where it connects.
            switch name {
            case "host":
                guard !value.hasPrefix("/") else {
                    throw HostProblem("Unix-socket connections (host=\(value)) are outside the egress policy")
                }
                hostText = value
            case "port": port = try parsePort(Substring(value))
            case "dbname": path = "/" + value
            case "hostaddr", "service":
                throw HostProblem("the query parameter '\(name)' would redirect the connection")
            default: continue
            }
        }
        if scheme == "postgres" && hostText.isEmpty { hostText = "localhost" }
        let host: EgressHost
        switch EgressHost.parse(hostText) {
        case .success(let parsed): host = parsed
        case .failure(let problem): throw HostProblem("host '\(hostText)': \(problem.text)")
        }
        let target = SourceTarget(
            scheme: scheme, host: host, port: port ?? EgressPolicy.defaultPorts[scheme],
            path: path.isEmpty ? "/" : path)
        if scheme == "postgres" { try crossCheckPostgres(url, target) }
        return target
    }

    /// A Snowflake source as its connector reads it, so that the policy checks exactly what will be connected to: the
    /// account identifier and user (for source rules) and the connection host, the `endpoint` if the URL has one.
    private static func parseSnowflake(_ url: String) throws(HostProblem) -> SourceTarget {
        let source: SnowflakeSource
        do {
            source = try SnowflakeSource(url: url)
        } catch {
            throw HostProblem("it is not a URL the Snowflake connector accepts: \(error)")
        }
        let host: EgressHost
        switch EgressHost.parse(source.host) {
        case .success(let parsed): host = parsed
        case .failure(let problem): throw HostProblem("host '\(source.host)': \(problem.text)")
        }
        return SourceTarget(
            scheme: "snowflake", host: host, port: source.port, path: "/" + (source.database ?? ""),
            account: source.account, user: source.user)
    }

    /// A Tableau source as its connector reads it: where requests go (the server, or the `endpoint` if the URL has
    /// one) and the site, `/SITE` (`/` for the default site), which source rules match as the path.
    private static func parseTableau(_ url: String) throws(HostProblem) -> SourceTarget {
        let source: TableauSource
        do {
            source = try TableauSource(url: url)
        } catch {
            throw HostProblem("it is not a URL the Tableau connector accepts: \(error)")
        }
        let host: EgressHost
        switch EgressHost.parse(source.endpoint.host) {
        case .success(let parsed): host = parsed
        case .failure(let problem): throw HostProblem("host '\(source.endpoint.host)': \(problem.text)")
        }
        return SourceTarget(scheme: "tableau", host: host, port: source.endpoint.port, path: "/" + source.site)
    }

    /// Denies a PostgreSQL URL that the connector's own parser reads differently: a parser differential is how a
    /// URL passes a policy for one host and connects to another.
    private static func crossCheckPostgres(_ url: String, _ target: SourceTarget) throws(HostProblem) {
        let source: PostgresSource
        do {
            source = try PostgresSource(url: url)
        } catch {
            throw HostProblem("it is not a URL the PostgreSQL connector accepts: \(error)")
        }
        guard source.socketDirectory == nil else {
            throw HostProblem("Unix-socket connections are outside the egress policy")
        }
        let connectorHost = try? EgressHost.parse(source.host).get()
        guard connectorHost == target.host, source.port == target.port,
            "/" + (source.database ?? "") == target.path
        else {
            throw HostProblem("the URL is ambiguous: the PostgreSQL connector would read it as a different target")
        }
    }

    private static func parsePort(_ text: Substring) throws(HostProblem) -> Int? {
        if text.isEmpty { return nil }
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let number = Int(text),
            (1...65535).contains(number)
        else {
            throw HostProblem("the port '\(text)' is not a number 1…65535")
        }
        return number
    }

    /// `%XX` decoded once, as the PostgreSQL connector decodes; nil when an escape is malformed or the result is
    /// not UTF-8 without NUL.
    static func percentDecoded(_ text: String) -> String? {
        guard let decoded = text.percentDecoded, !decoded.utf8.contains(0) else { return nil }
        return decoded
    }

    /// The absolute path a file source opens, with `.`/`..` and symbolic links resolved as far as the file system
    /// allows (a missing file is resolved through its directory).
    static func resolvedPath(_ path: String) -> String {
        var absolute = path
        if !absolute.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                absolute =
                    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    + "/" + path
            }
        }
        if let real = realPath(absolute) { return real }
        if let slash = absolute.lastIndex(of: "/"), slash != absolute.startIndex,
            let directory = realPath(String(absolute[..<slash]))
        {
            let name = String(absolute[absolute.index(after: slash)...])
            if name != ".." && name != "." { return lexicallyNormalized(directory + "/" + name) }
        }
        return lexicallyNormalized(absolute)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func lexicallyNormalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }
}
