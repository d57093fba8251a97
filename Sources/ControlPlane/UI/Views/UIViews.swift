import ControlPlaneStorage
import HTTPTypes
import Hummingbird
import NIOCore
import OutpostProtocol

/// The pages of the web UI as functions from data to `Node`s, and the layout they share.
///
/// Views never read the store: controllers fetch, views render. Everything shown goes through `Node.text` or an
/// attribute value, so it is escaped.
enum UIViews {
    /// The sections in the navigation bar.
    enum Section: String, CaseIterable {
        case overview, agents, connections, runs, catalog, keys

        var title: String {
            switch self {
            case .overview: "Overview"
            case .agents: "Agents"
            case .connections: "Connections"
            case .runs: "Runs"
            case .catalog: "Catalog"
            case .keys: "Keys"
            }
        }

        var path: String { self == .overview ? "/ui" : "/ui/\(rawValue)" }
    }

    /// An HTML response with the right content type; security headers are added by `UIResponseMiddleware`.
    static func response(_ page: Node, status: HTTPResponse.Status = .ok) -> Response {
        let text = HTML.document(page)
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A `303 See Other` to `location` (after a successful POST, so reloading does not send the form again).
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// The frame of every page: header with navigation and sign-out, then `content` under a title.
    static func page(
        title: String, section: Section?, csrf: String?, @HTMLBuilder content: () -> [Node]
    ) -> Node {
        HTML.element("html", Attribute("lang", "en")) {
            HTML.element("head") {
                HTML.void("meta", Attribute("charset", "utf-8"))
                HTML.void(
                    "meta", Attribute("name", "viewport"), Attribute("content", "width=device-width, initial-scale=1"))
                HTML.element("title") { "\(title) · Outpost" }
                HTML.void("link", Attribute("rel", "stylesheet"), Attribute("href", UIStaticFiles.stylesheetPath))
                HTML.element("script", Attribute("src", UIStaticFiles.scriptPath), Attribute("defer", ""))
            }
            HTML.element("body") {
                HTML.element("header", Attribute("class", "top")) {
                    HTML.element("a", Attribute("class", "brand"), Attribute("href", "/ui")) { "Outpost" }
                    if let csrf {
                        HTML.element("nav") {
                            for item in Section.allCases {
                                HTML.element(
                                    "a", Attribute("href", item.path),
                                    Attribute("aria-current", item == section ? "page" : nil)
                                ) { item.title }
                            }
                        }
                        HTML.element(
                            "form", Attribute("method", "post"), Attribute("action", "/ui/sign-out"),
                            Attribute("class", "sign-out")
                        ) {
                            csrfField(csrf)
                            HTML.element("button", Attribute("type", "submit"), Attribute("class", "link")) {
                                "Sign out"
                            }
                        }
                    }
                }
                HTML.element("main") {
                    HTML.element("h1") { title }
                    content()
                }
            }
        }
    }

    /// The hidden field carrying the session's synchronizer token.
    static func csrfField(_ token: String) -> Node {
        HTML.void("input", Attribute("type", "hidden"), Attribute("name", "csrf"), Attribute("value", token))
    }

    /// A one-button form posting to `action` (run now, cancel, drain).
    static func actionButton(_ label: String, action: String, csrf: String, style: String = "primary") -> Node {
        HTML.element("form", Attribute("method", "post"), Attribute("action", action), Attribute("class", "inline")) {
            csrfField(csrf)
            HTML.element("button", Attribute("type", "submit"), Attribute("class", style)) { label }
        }
    }

    static func link(_ text: String, to href: String) -> Node {
        HTML.element("a", Attribute("href", href)) { text }
    }

    /// A table with a header row; `rows` empty shows `empty` instead.
    static func table(
        _ headers: [String], empty: String, rows: [[Node]], numeric: Set<Int> = []
    ) -> Node {
        if rows.isEmpty {
            return HTML.element("p", Attribute("class", "empty")) { empty }
        }
        return HTML.element("div", Attribute("class", "table-wrap")) {
            HTML.element("table") {
                HTML.element("thead") {
                    HTML.element("tr") {
                        for (index, header) in headers.enumerated() {
                            HTML.element(
                                "th", Attribute("scope", "col"),
                                Attribute("class", numeric.contains(index) ? "num" : nil)
                            ) {
                                header
                            }
                        }
                    }
                }
                HTML.element("tbody") {
                    for row in rows {
                        HTML.element("tr") {
                            for (index, cell) in row.enumerated() {
                                HTML.element("td", Attribute("class", numeric.contains(index) ? "num" : nil)) { cell }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A definition list of label/value pairs.
    static func facts(_ pairs: [(String, Node)]) -> Node {
        HTML.element("dl", Attribute("class", "facts")) {
            for (label, value) in pairs {
                HTML.element("dt") { label }
                HTML.element("dd") { value }
            }
        }
    }

    /// A coloured status label.
    static func badge(_ text: String, tone: String) -> Node {
        HTML.element("span", Attribute("class", "badge \(tone)")) { text }
    }

    /// A run's status; `id` marks the one badge the live view updates.
    static func runBadge(_ status: RunRecord.Status, id: String? = nil) -> Node {
        HTML.element("span", Attribute("class", "badge \(tone(of: status))"), Attribute("id", id)) {
            status.rawValue
        }
    }

    /// The badge colour of a run status.
    static func tone(of status: RunRecord.Status) -> String {
        switch status {
        case .succeeded: "good"
        case .partial: "warn"
        case .failed: "bad"
        case .cancelled, .superseded: "muted"
        case .queued, .leased, .running, .ingesting: "busy"
        }
    }

    static func notice(_ message: String, tone: String = "bad") -> Node {
        HTML.element("p", Attribute("class", "notice \(tone)"), Attribute("role", tone == "bad" ? "alert" : nil)) {
            message
        }
    }

    static func errorPage(status: HTTPResponse.Status, message: String) -> Node {
        page(title: "\(status.code) \(status.reasonPhrase)", section: nil, csrf: nil) {
            notice(message)
            HTML.element("p") {
                link("Back to the overview", to: "/ui")
                " · "
                link("Sign in", to: "/ui/sign-in")
            }
        }
    }
}

/// Times, durations and sizes as people read them.
enum UIFormat {
    /// `2025-01-01 12:34:56 UTC`.
    static func time(_ timestamp: Timestamp?) -> String {
        guard let timestamp else { return "—" }
        let text = timestamp.rfc3339
        // RFC 3339 `2025-01-01T12:34:56.789Z` → a calmer form for tables.
        let date = text.prefix(10)
        let clock = text.dropFirst(11).prefix(8)
        return "\(date) \(clock) UTC"
    }

    /// A `<time>` element with the exact instant as its machine-readable value.
    static func timeNode(_ timestamp: Timestamp?) -> Node {
        guard let timestamp else { return .text("—") }
        return HTML.element("time", Attribute("datetime", timestamp.rfc3339)) { time(timestamp) }
    }

    /// `1 h 02 min`, `3 min 05 s`, `12.3 s`.
    static func duration(milliseconds: Int64) -> String {
        if milliseconds < 60_000 {
            let tenths = (milliseconds + 50) / 100
            return "\(tenths / 10).\(tenths % 10) s"
        }
        let seconds = milliseconds / 1000
        if seconds < 3600 { return "\(seconds / 60) min \(pad(seconds % 60)) s" }
        return "\(seconds / 3600) h \(pad(seconds / 60 % 60)) min"
    }

    static func duration(from start: Timestamp?, to end: Timestamp?) -> String {
        guard let start, let end, end >= start else { return "—" }
        return duration(milliseconds: end.milliseconds - start.milliseconds)
    }

    /// `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`.
    static func ago(_ timestamp: Timestamp, now: Timestamp) -> String {
        let seconds = max(0, (now.milliseconds - timestamp.milliseconds) / 1000)
        if seconds < 60 { return "\(seconds) s ago" }
        if seconds < 3600 { return "\(seconds / 60) min ago" }
        if seconds < 86_400 { return "\(seconds / 3600) h ago" }
        return "\(seconds / 86_400) d ago"
    }

    /// `512 B`, `1.5 KiB`, `3.2 GiB`.
    static func bytes(_ count: Int64?) -> String {
        guard let count else { return "—" }
        if count < 1024 { return "\(count) B" }
        var value = Double(count)
        for unit in ["KiB", "MiB", "GiB", "TiB"] {
            value /= 1024
            if value < 1024 || unit == "TiB" {
                let tenths = Int64((value * 10).rounded())
                return "\(tenths / 10).\(tenths % 10) \(unit)"
            }
        }
        return "\(count) B"
    }

    private static func pad(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
