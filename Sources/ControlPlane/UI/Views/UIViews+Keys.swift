import ControlPlaneStorage
import OutpostProtocol

// API keys: create with a role and an expiry (the text shown once), list, revoke.

extension UIViews {
    /// The expiries the form offers, in days (nil: never).
    static let keyExpiries: [(label: String, days: Int?)] = [
        ("30 days", 30), ("90 days", 90), ("1 year", 365), ("7 days", 7), ("Never", nil),
    ]

    static func keysPage(
        keys: [APIKey], sessionKeyId: String, created: MintedAPIKey?, error: APIError?,
        now: Timestamp, csrf: String
    ) -> Node {
        page(title: "API keys", section: .keys, csrf: csrf) {
            HTML.element("p", Attribute("class", "muted")) {
                "Agents sign in with agent keys; automation and this web UI with admin keys. "
                "A key's text is shown once, when it is created; only its hash is kept."
            }
            if let created {
                HTML.element("div", Attribute("class", "notice good"), Attribute("role", "status")) {
                    HTML.element("p") {
                        "Created the \(created.key.role.rawValue) key "
                        HTML.element("strong") { created.key.name }
                        ". Copy it now: it is not shown again."
                    }
                    HTML.element(
                        "pre", Attribute("class", "secret"), Attribute("id", "new-key"), Attribute("tabindex", "0")
                    ) { created.text }
                }
            }
            if let error {
                notice(error.problem.field.map { "\($0): \(error.problem.message)" } ?? error.problem.message)
            }
            HTML.element("h2") { "Create a key" }
            HTML.element(
                "form", Attribute("method", "post"), Attribute("action", "/ui/keys"), Attribute("class", "stacked")
            ) {
                csrfField(csrf)
                HTML.element("label", Attribute("for", "key-name")) { "Name" }
                HTML.void(
                    "input", Attribute("type", "text"), Attribute("id", "key-name"), Attribute("name", "name"),
                    Attribute("required", ""), Attribute("maxlength", "200"),
                    Attribute("placeholder", "agent in eu-west-1"),
                    Attribute("class", error?.problem.field == "name" ? "field-error" : nil))
                HTML.element("label", Attribute("for", "key-role")) { "Role" }
                HTML.element("select", Attribute("id", "key-role"), Attribute("name", "role")) {
                    HTML.element("option", Attribute("value", APIKeyRole.agent.rawValue)) {
                        "agent — runs extractions (outpost agent)"
                    }
                    HTML.element("option", Attribute("value", APIKeyRole.admin.rawValue)) {
                        "admin — the admin API and this web UI"
                    }
                }
                HTML.element("label", Attribute("for", "key-expiry")) { "Expires after" }
                HTML.element("select", Attribute("id", "key-expiry"), Attribute("name", "expiresInDays")) {
                    for expiry in keyExpiries {
                        HTML.element("option", Attribute("value", expiry.days.map(String.init) ?? "")) {
                            expiry.label
                        }
                    }
                }
                HTML.element("div", Attribute("class", "actions")) {
                    HTML.element("button", Attribute("type", "submit"), Attribute("class", "primary")) {
                        "Create key"
                    }
                }
            }
            HTML.element("h2") { "Keys" }
            table(
                ["Name", "Role", "Key", "Created", "Expires", "Last used", "Status", ""],
                empty: "No keys.",
                rows: keys.map { key in
                    let status = keyStatus(key, now: now)
                    return [
                        HTML.element("span") {
                            HTML.element("strong") { key.name }
                            if key.id == sessionKeyId {
                                HTML.element("div", Attribute("class", "muted small")) { "this session's key" }
                            }
                        },
                        badge(key.role.rawValue, tone: "muted"),
                        HTML.element("code") { key.prefix + "…" },
                        UIFormat.timeNode(key.createdAt),
                        UIFormat.timeNode(key.expiresAt),
                        key.lastUsedAt.map { used in
                            HTML.element("span", Attribute("title", UIFormat.time(used))) {
                                UIFormat.ago(used, now: now)
                            }
                        } ?? .text("never"),
                        badge(status.text, tone: status.tone),
                        status.text == "active"
                            ? actionButton(
                                "Revoke", action: "/ui/keys/\(HTML.percentEncode(key.id))/revoke", csrf: csrf,
                                style: "danger")
                            : .text(""),
                    ]
                })
        }
    }

    static func keyStatus(_ key: APIKey, now: Timestamp) -> (text: String, tone: String) {
        if key.revokedAt != nil { return ("revoked", "bad") }
        if let expiresAt = key.expiresAt, expiresAt <= now { return ("expired", "warn") }
        return ("active", "good")
    }
}
