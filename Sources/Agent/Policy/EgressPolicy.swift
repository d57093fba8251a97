internal import Connectors
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The agent's local egress policy: which sources it may extract and which hosts it may connect to, configured on
/// the agent's machine so that the control plane cannot widen it.
///
/// **Hosts** (`allowedHosts`): `HOST[:PORT]` where HOST is a name (`cp.example.com`), a name with leading wildcard
/// labels (`*.example.com`: exactly one more label; `**.example.com`: one or more), an IPv4 or bracketed IPv6
/// address, or a CIDR block (`10.0.0.0/8`, `[fd00::]/8`); PORT is a number or `*`, and omitted means any port.
///
/// **Sources** (`allowedSources`): URL patterns. Network sources are `SCHEME://HOST[:PORT][/PATH]` with HOST as
/// above (CIDR blocks in brackets: `postgres://[10.0.0.0/8]/*`); an omitted port is the scheme's default (5432
/// for postgres) and `*` allows any; an omitted path allows any database. File sources are `sqlite:/PATH`. In
/// paths `*` matches within one segment (not `/`) and `**` matches across segments. `postgresql` is `postgres`.
/// Snowflake sources are `snowflake://[USER@]ACCOUNT[/DATABASE]` with globs (`snowflake://*@MYORG-*`) over the user
/// and the account identifier, both case-insensitive; the host the connector then connects to (the account's
/// `….snowflakecomputing.com` or the URL's `endpoint`) must also be one of `allowedHosts`.
///
/// Checking parses the way connections are made: the host after the last `@` of the authority (so
/// `postgres://good.host@evil` is `evil`), percent-escapes decoded once, names lower-cased and a trailing dot
/// dropped, numeric hosts read as the addresses the resolver makes of them, PostgreSQL's `?host=`, `?port=` and
/// `?dbname=` overrides applied, and the PostgreSQL connector's own parse of the URL cross-checked; SQLite paths are
/// made absolute with symbolic links resolved. Anything ambiguous (several hosts, backslashes, zone ids, sockets)
/// is denied. Host rules match names literally: a CIDR block matches addresses, not names that resolve into it.
public struct EgressPolicy: Sendable {
    /// The host rules as configured.
    public let allowedHosts: [String]
    /// The source patterns as configured.
    public let allowedSources: [String]
    private let hostRules: [HostRule]
    private let sourceRules: [SourceRule]

    /// Schemes whose sources are local files rather than network services.
    static let fileSchemes: Set<String> = ["sqlite"]

    /// Default ports of the network schemes.
    static let defaultPorts: [String: Int] = [
        "postgres": 5432, "mysql": 3306, "mariadb": 3306, "sqlserver": 1433, "oracle": 1521, "redshift": 5439,
        "snowflake": 443, "tableau": 443, "https": 443, "http": 80, "mongodb": 27017,
    ]

    /// - Throws: `EgressPolicyError` naming the first rule that cannot be understood.
    public init(allowedHosts: [String], allowedSources: [String]) throws {
        self.allowedHosts = allowedHosts
        self.allowedSources = allowedSources
        hostRules = try allowedHosts.map(HostRule.init(parsing:))
        sourceRules = try allowedSources.map(SourceRule.init(parsing:))
    }

    /// Whether the agent may open a connection to `host:port` (the control plane, a bucket, a secret store).
    public func checkHost(host: String, port: Int) -> PolicyDecision {
        let target: EgressHost
        switch EgressHost.parse(host) {
        case .success(let parsed): target = parsed
        case .failure(let problem):
            return .deny("the agent's local policy refuses host '\(host)': \(problem.text)")
        }
        let subject = "host \(target):\(port)"
        for rule in hostRules where rule.host.matches(target) && (rule.port == nil || rule.port == port) {
            return .allow(rule: rule.text, subject: subject)
        }
        return .deny(
            "the agent's local policy refuses \(subject): it matches none of the \(hostRules.count) allowed hosts "
                + "in the agent's configuration")
    }

    /// Whether the agent may request `url` (`scheme://host[:port]/…`, the port the scheme's when omitted): an API
    /// endpoint a secret store's client found (a kubeconfig's server, a token endpoint).
    public func checkURL(_ url: String) -> PolicyDecision {
        let components = URLComponents(string: url)
        return checkHost(
            host: components?.plainHost ?? url, port: components?.port ?? (components?.scheme == "http" ? 80 : 443))
    }

    /// Whether the agent may extract the source at `url`.
    public func checkSource(_ url: String) -> PolicyDecision {
        checkSource(url, resolvingSymlinks: true)
    }

    /// Checks the file a source actually opened, by the absolute path the kernel reported for it (not resolved
    /// again: the name may point elsewhere by now, the open file cannot).
    public func checkOpenedFile(scheme: String, path: String) -> PolicyDecision {
        checkSource(scheme + ":" + path, resolvingSymlinks: false)
    }

    private func checkSource(_ url: String, resolvingSymlinks: Bool) -> PolicyDecision {
        let target: SourceTarget
        switch SourceTarget.parse(url, resolvingSymlinks: resolvingSymlinks) {
        case .success(let parsed): target = parsed
        case .failure(let problem):
            return .deny(
                "the agent's local policy refuses source \(AuditEntry.withoutCredentials(url)): \(problem.text)")
        }
        for rule in sourceRules where rule.matches(target) {
            if target.account != nil, let host = target.host, let port = target.port {
                // A Snowflake source is allowed by account; where its requests go must be allowed as a host too.
                let hostDecision = checkHost(host: host.description, port: port)
                guard hostDecision.allowed else {
                    return .deny(
                        "the agent's local policy refuses source \(target): rule \(rule.text) allows the account, "
                            + "but \(hostDecision.reason)")
                }
            }
            return .allow(rule: rule.text, subject: "source \(target)")
        }
        let what = target.host.map { "host \($0)" + (target.port.map { " port \($0)" } ?? "") } ?? "path \(target.path)"
        return .deny(
            "the agent's local policy refuses source \(target): \(what) matches none of the \(sourceRules.count) "
                + "allowed sources in the agent's configuration")
    }
}

/// One entry of `allowedHosts`.
struct HostRule {
    let text: String
    let host: HostPattern
    /// nil: any port.
    let port: Int?

    init(parsing text: String) throws {
        self.text = text
        do {
            let (hostText, port) = try RuleSyntax.splitHostPort(Substring(text))
            host = try HostPattern.parse(hostText)
            switch port {
            case .any, .unspecified: self.port = nil
            case .number(let number): self.port = number
            }
        } catch {
            throw EgressPolicyError(rule: text, error.text)
        }
    }
}

/// One entry of `allowedSources`.
struct SourceRule {
    let text: String
    let scheme: String
    /// nil for file sources.
    let host: HostPattern?
    /// nil: any port.
    let port: Int?
    let path: [UInt8]
    /// Snowflake: globs over the lower-cased account identifier and user (nil: any user).
    let account: [UInt8]?
    let user: [UInt8]?

    init(parsing text: String) throws {
        self.text = text
        do {
            guard let colon = text.firstIndex(of: ":") else {
                throw HostProblem("write SCHEME://HOST[:PORT][/PATH] or sqlite:/PATH")
            }
            scheme = try RuleSyntax.scheme(text[..<colon])
            var rest = text[text.index(after: colon)...]
            if scheme == "snowflake" {
                guard rest.hasPrefix("//"), !rest.contains("?"), !rest.contains("#") else {
                    throw HostProblem("write snowflake://[USER@]ACCOUNT[/DATABASE], e.g. snowflake://*@MYORG-*")
                }
                rest = rest.dropFirst(2)
                let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
                var authority = rest[..<pathStart]
                var userGlob: [UInt8]?
                if let at = authority.lastIndex(of: "@") {
                    userGlob = Array(authority[..<at].lowercased().utf8)
                    authority = authority[authority.index(after: at)...]
                }
                let accountGlob = Array(authority.lowercased().utf8)
                guard !accountGlob.isEmpty,
                    accountGlob.allSatisfy({ Set("abcdefghijklmnopqrstuvwxyz0123456789-_.*".utf8).contains($0) })
                else {
                    throw HostProblem("the account pattern is letters, digits, '-', '_', '.' and '*'")
                }
                guard accountGlob.contains(where: { $0 >= UInt8(ascii: "0") && $0 != UInt8(ascii: "_") }) else {
                    throw HostProblem("the account pattern would allow every account: name the organisation or locator")
                }
                try RuleSyntax.checkGlob(accountGlob)
                if let userGlob { try RuleSyntax.checkGlob(userGlob) }
                let pathText = rest[pathStart...]
                path = pathText.isEmpty ? Array("/**".utf8) : Array(pathText.utf8)
                try RuleSyntax.checkGlob(path)
                account = accountGlob
                user = userGlob
                host = nil
                port = nil
                return
            }
            account = nil
            user = nil
            guard !rest.contains("?"), !rest.contains("#"), !rest.contains("@") else {
                throw HostProblem("patterns hold no user, query or fragment")
            }
            if EgressPolicy.fileSchemes.contains(scheme) {
                if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
                guard rest.hasPrefix("/") else { throw HostProblem("a file pattern needs an absolute path") }
                host = nil
                port = nil
                path = Array(rest.utf8)
                try RuleSyntax.checkGlob(path)
                return
            }
            guard rest.hasPrefix("//") else { throw HostProblem("write \(scheme)://HOST[:PORT][/PATH]") }
            rest = rest.dropFirst(2)
            var authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                authorityEnd = rest[close...].firstIndex(of: "/") ?? rest.endIndex
            }
            let (hostText, portSpec) = try RuleSyntax.splitHostPort(rest[..<authorityEnd])
            host = try HostPattern.parse(hostText)
            switch portSpec {
            case .any: port = nil
            case .number(let number): port = number
            case .unspecified:
                guard let number = EgressPolicy.defaultPorts[scheme] else {
                    throw HostProblem("\(scheme) has no default port here: write :PORT, or :* for any port")
                }
                port = number
            }
            let pathText = rest[authorityEnd...]
            path = pathText.isEmpty ? Array("/**".utf8) : Array(pathText.utf8)
            try RuleSyntax.checkGlob(path)
        } catch let problem as HostProblem {
            throw EgressPolicyError(rule: text, problem.text)
        }
    }

    func matches(_ target: SourceTarget) -> Bool {
        guard target.scheme == scheme else { return false }
        if let account {
            guard let targetAccount = target.account,
                Glob.matches(account[...], Array(targetAccount.lowercased().utf8)[...])
            else { return false }
            if let user {
                guard Glob.matches(user[...], Array((target.user ?? "").lowercased().utf8)[...]) else { return false }
            }
            return Glob.matches(path[...], Array(target.path.utf8)[...])
        }
        if let host {
            guard let targetHost = target.host, host.matches(targetHost) else { return false }
            if let port, target.port != port { return false }
        } else if target.host != nil {
            return false
        }
        return Glob.matches(path[...], Array(target.path.utf8)[...])
    }
}

/// Shared pieces of rule syntax.
enum RuleSyntax {
    enum Port {
        case unspecified
        case any
        case number(Int)
    }

    /// Lower-cased, validated, `postgresql` folded into `postgres`.
    static func scheme(_ text: Substring) throws(HostProblem) -> String {
        let scheme = text.lowercased()
        guard let first = scheme.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            scheme.utf8.allSatisfy({
                EgressHost.isNameByte($0) && $0 != UInt8(ascii: "_") || $0 == UInt8(ascii: "+")
                    || $0 == UInt8(ascii: ".")
            })
        else {
            throw HostProblem("'\(text)' is not a URL scheme")
        }
        return scheme == "postgresql" ? "postgres" : scheme
    }

    /// Splits `host[:port]`, `[v6][:port]`, `[v6/len][:port]`, `[v6]/len[:port]`, or a bare IPv6 address/block.
    static func splitHostPort(_ text: Substring) throws(HostProblem) -> (String, Port) {
        guard !text.isEmpty else { throw HostProblem("the host is missing") }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw HostProblem("unbalanced brackets") }
            host = text[text.index(after: text.startIndex)..<close]
            var rest = text[text.index(after: close)...]
            if rest.hasPrefix("/") {
                let end = rest.firstIndex(of: ":") ?? rest.endIndex
                host = Substring(String(host) + rest[..<end])
                rest = rest[end...]
            }
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw HostProblem("unexpected text after ']'") }
                portText = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count >= 2 {
            host = text
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
        }
        guard let portText else { return (String(host), .unspecified) }
        if portText == "*" { return (String(host), .any) }
        guard let number = Int(portText), (1...65535).contains(number), portText.allSatisfy(\.isASCII) else {
            throw HostProblem("the port must be a number 1…65535 or *")
        }
        return (String(host), .number(number))
    }

    static func checkGlob(_ pattern: [UInt8]) throws(HostProblem) {
        guard pattern.filter({ $0 == UInt8(ascii: "*") }).count <= 16 else {
            throw HostProblem("a path pattern may hold at most 16 '*'")
        }
        guard !pattern.contains(where: { $0 == 0 || $0 == UInt8(ascii: "\\") }) else {
            throw HostProblem("a path pattern may not hold NUL or backslashes")
        }
    }
}

/// Path patterns: `*` any run of characters other than `/`, `**` any run of characters; the rest literal.
enum Glob {
    static func matches(_ pattern: ArraySlice<UInt8>, _ path: ArraySlice<UInt8>) -> Bool {
        var pattern = pattern
        var path = path
        let star = UInt8(ascii: "*")
        while let head = pattern.first {
            if head == star {
                let crossesSegments = pattern.dropFirst().first == star
                let rest = pattern.dropFirst(crossesSegments ? 2 : 1)
                var index = path.startIndex
                while true {
                    if matches(rest, path[index...]) { return true }
                    if index == path.endIndex { return false }
                    if !crossesSegments && path[index] == UInt8(ascii: "/") { return false }
                    index += 1
                }
            }
            guard let next = path.first, next == head else { return false }
            pattern = pattern.dropFirst()
            path = path.dropFirst()
        }
        return path.isEmpty
    }
}
