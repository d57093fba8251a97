import ControlPlaneStorage
import HTTPTypes
import OutpostProtocol

// Sign-in, overview, agents and connections.

extension UIViews {
    static func signInPage(csrf: String, error: String?) -> Node {
        page(title: "Sign in", section: nil, csrf: nil) {
            HTML.element("div", Attribute("class", "signin")) {
                if let error { notice(error) }
                HTML.element(
                    "form", Attribute("method", "post"), Attribute("action", "/ui/sign-in"),
                    Attribute("class", "stacked")
                ) {
                    csrfField(csrf)
                    HTML.element("label", Attribute("for", "key")) { "Admin API key" }
                    HTML.void(
                        "input", Attribute("type", "password"), Attribute("id", "key"), Attribute("name", "key"),
                        Attribute("autocomplete", "current-password"), Attribute("required", ""),
                        Attribute("autofocus", ""), Attribute("placeholder", "opk_…"))
                    HTML.element("p", Attribute("class", "hint")) {
                        "A key of the admin role. It is checked once; the browser then holds only a session cookie."
                    }
                    HTML.element("div", Attribute("class", "actions")) {
                        HTML.element("button", Attribute("type", "submit"), Attribute("class", "primary")) {
                            "Sign in"
                        }
                    }
                }
            }
        }
    }

    static func overviewPage(
        agents: [(AgentRecord, AgentResponse.Status)], connections: [ConnectionRecord], runs: [RunRecord],
        names: [String: String], csrf: String
    ) -> Node {
        let active = agents.filter { $0.1 == .active }.count
        let failed = runs.filter { $0.status == .failed }.count
        return page(title: "Overview", section: .overview, csrf: csrf) {
            HTML.element("div", Attribute("class", "cards")) {
                card(value: "\(active) / \(agents.count)", label: "agents active", href: "/ui/agents")
                card(value: "\(connections.count)", label: "connections", href: "/ui/connections")
                card(value: "\(failed)", label: "failed among the last \(runs.count) runs", href: "/ui/runs")
            }
            HTML.element("h2") { "Recent runs" }
            runsTable(runs, names: names)
        }
    }

    private static func card(value: String, label: String, href: String) -> Node {
        HTML.element("a", Attribute("class", "card"), Attribute("href", href)) {
            HTML.element("div", Attribute("class", "value")) { value }
            HTML.element("div", Attribute("class", "label")) { label }
        }
    }

    static func agentsPage(
        agents: [(AgentRecord, AgentResponse.Status)], keys: [String: APIKey] = [:], now: Timestamp, csrf: String
    ) -> Node {
        page(title: "Agents", section: .agents, csrf: csrf) {
            table(
                [
                    "Agent", "Status", "State", "Version", "Key", "Last heartbeat", "Load", "CPU", "Memory", "Spool",
                    "Audit ledger", "Last error",
                ],
                empty: "No agent has connected yet. Start one with `outpost agent` and an agent key.",
                rows: agents.map { agent, status in
                    [
                        HTML.element("div") {
                            HTML.element("strong") { agent.name }
                            HTML.element("div", Attribute("class", "muted mono")) { agent.id }
                        },
                        badge(status.rawValue, tone: status == .active ? "good" : status == .stale ? "warn" : "bad"),
                        .text(agent.drainRequested ? "\(agent.state) (drain requested)" : agent.state),
                        HTML.element("code") { agent.version },
                        agentKeyCell(agent.keyId.flatMap { keys[$0] }, now: now),
                        HTML.element("span", Attribute("title", UIFormat.time(agent.lastSeenAt))) {
                            UIFormat.ago(agent.lastSeenAt, now: now)
                        },
                        .text("\(agent.runningLeases) running, \(agent.freeSlots) free"),
                        .text(agent.cpuPercent.map { "\(Int($0.rounded())) %" } ?? "—"),
                        .text(UIFormat.bytes(agent.memoryBytes)),
                        .text(UIFormat.bytes(agent.spoolBacklogBytes)),
                        auditCell(agent),
                        .text(agent.lastError ?? "—"),
                        agent.drainRequested
                            ? .text("")
                            : actionButton(
                                "Drain", action: "/ui/agents/\(HTML.percentEncode(agent.id))/drain", csrf: csrf,
                                style: "secondary"),
                    ]
                })
        }
    }

    /// The key the agent last called with: its name and prefix (a link to the keys page), and whether it still
    /// works.
    private static func agentKeyCell(_ key: APIKey?, now: Timestamp) -> Node {
        guard let key else { return .text("—") }
        let status = keyStatus(key, now: now)
        return HTML.element("span") {
            HTML.element("a", Attribute("href", "/ui/keys")) { key.name }
            HTML.element("div", Attribute("class", "muted mono")) { key.prefix + "…" }
            if status.text != "active" { badge(status.text, tone: status.tone) }
            if let expiresAt = key.expiresAt, status.text == "active" {
                HTML.element("div", Attribute("class", "muted small")) { "expires \(UIFormat.time(expiresAt))" }
            }
        }
    }

    /// The agent's audit ledger as the control plane saw it: its length, or the problem found with it.
    private static func auditCell(_ agent: AgentRecord) -> Node {
        if let problem = agent.auditProblem {
            return HTML.element("span", Attribute("class", "badge bad"), Attribute("title", problem)) {
                "tampered: \(problem)"
            }
        }
        return .text(agent.auditHead.map { "\($0.sequence) entries" } ?? "—")
    }

    static func connectionsPage(connections: [ConnectionRecord], csrf: String) -> Node {
        page(title: "Connections", section: .connections, csrf: csrf) {
            HTML.element("div", Attribute("class", "toolbar")) {
                HTML.element("a", Attribute("href", "/ui/connections/new"), Attribute("class", "button")) {
                    "New connection"
                }
            }
            table(
                ["Name", "Source", "Delivery", "Pool", "Schedule", ""],
                empty: "No connections yet.",
                rows: connections.map { connection in
                    [
                        link(connection.name, to: "/ui/connections/\(HTML.percentEncode(connection.id))"),
                        HTML.element("div") {
                            HTML.element("span", Attribute("class", "badge")) { connection.sourceKind }
                            " "
                            HTML.element("code") { connection.sourceURL }
                        },
                        .text(connection.delivery.mode.rawValue),
                        .text(connection.pool),
                        HTML.element("code") { connection.schedule ?? "—" },
                        actionButton(
                            "Run now", action: "/ui/connections/\(HTML.percentEncode(connection.id))/run", csrf: csrf),
                    ]
                })
        }
    }

    /// The new-connection form, or an existing connection's page: its form, "run now" and its recent runs.
    static func connectionFormPage(
        form: ConnectionForm, connection: ConnectionRecord?, runs: [RunRecord], error: APIError?,
        saved: Bool = false, csrf: String
    ) -> Node {
        let action = connection.map { "/ui/connections/\(HTML.percentEncode($0.id))" } ?? "/ui/connections"
        let field = error?.problem.field
        func invalid(_ name: String) -> String? {
            field.map { $0 == name || $0.hasPrefix(name + ".") } == true ? "field-error" : nil
        }
        return page(title: connection?.name ?? "New connection", section: .connections, csrf: csrf) {
            if let connection {
                HTML.element("div", Attribute("class", "toolbar")) {
                    actionButton(
                        "Run now", action: "/ui/connections/\(HTML.percentEncode(connection.id))/run", csrf: csrf)
                    link("All runs of this connection", to: HTML.link("/ui/runs", ["connectionId": connection.id]))
                    HTML.element("span", Attribute("class", "muted mono")) { connection.id }
                }
            }
            if saved { notice("Saved.", tone: "good") }
            if let error {
                notice(error.problem.field.map { "\($0): \(error.problem.message)" } ?? error.problem.message)
            }
            HTML.element(
                "form", Attribute("method", "post"), Attribute("action", action), Attribute("class", "stacked")
            ) {
                csrfField(csrf)
                HTML.element("label", Attribute("for", "name")) { "Name" }
                HTML.void(
                    "input", Attribute("type", "text"), Attribute("id", "name"), Attribute("name", "name"),
                    Attribute("value", form.name), Attribute("required", ""), Attribute("maxlength", "200"),
                    Attribute("class", invalid("name")))
                HTML.element("label", Attribute("for", "sourceKind")) { "Source type" }
                HTML.element(
                    "select", Attribute("id", "sourceKind"), Attribute("name", "sourceKind"),
                    Attribute("class", invalid("sourceKind"))
                ) {
                    for kind in ConnectionValidation.sourceKinds {
                        HTML.element(
                            "option", Attribute("value", kind),
                            Attribute("selected", kind == form.sourceKind ? "" : nil)
                        ) {
                            switch kind {
                            case "postgresql": "PostgreSQL"
                            case "snowflake": "Snowflake"
                            case "tableau": "Tableau"
                            default: "SQLite"
                            }
                        }
                    }
                }
                HTML.element("label", Attribute("for", "sourceURL")) { "Source URL" }
                HTML.void(
                    "input", Attribute("type", "text"), Attribute("id", "sourceURL"), Attribute("name", "sourceURL"),
                    Attribute("value", form.sourceURL), Attribute("required", ""),
                    Attribute(
                        "placeholder",
                        "postgres://reader@db.internal:5432/sales, snowflake://OUTPOST_SVC@myorg-myacct?warehouse=WH, "
                            + "tableau://tableau.example.com/sales, or sqlite:/data/shop.db"),
                    Attribute("class", invalid("sourceURL")))
                HTML.element("p", Attribute("class", "hint")) {
                    "Without a password: the agent resolves credentials from its own secret stores."
                }
                HTML.element("label", Attribute("for", "secrets")) { "Secret references" }
                HTML.element(
                    "textarea", Attribute("id", "secrets"), Attribute("name", "secrets"),
                    Attribute("class", invalid("secrets"))
                ) {
                    form.secrets
                }
                HTML.element("p", Attribute("class", "hint")) {
                    "One per line: role = reference, e.g. password = aws-sm:prod/pg#password (env:, file:, aws-sm:, vault:, command:, k8s:, gcp-sm:, azure-kv:); PostgreSQL also takes username; Snowflake takes privateKey, privateKeyPassphrase or token. Never the secret itself."
                }
                HTML.element("label", Attribute("for", "pool")) { "Agent pool" }
                HTML.void(
                    "input", Attribute("type", "text"), Attribute("id", "pool"), Attribute("name", "pool"),
                    Attribute("value", form.pool), Attribute("class", invalid("pool")))
                HTML.element("label", Attribute("for", "schedule")) { "Schedule" }
                HTML.void(
                    "input", Attribute("type", "text"), Attribute("id", "schedule"), Attribute("name", "schedule"),
                    Attribute("value", form.schedule),
                    Attribute("placeholder", "cron, e.g. 0 3 * * * (empty: run now only)"),
                    Attribute("class", invalid("schedule")))
                HTML.element("fieldset") {
                    HTML.element("legend") { "Delivery" }
                    HTML.element("label", Attribute("for", "deliveryMode")) { "Mode" }
                    HTML.element("select", Attribute("id", "deliveryMode"), Attribute("name", "deliveryMode")) {
                        HTML.element(
                            "option", Attribute("value", "direct"),
                            Attribute("selected", form.deliveryMode == "direct" ? "" : nil)
                        ) {
                            "Direct ingestion (pre-signed uploads to this server)"
                        }
                        HTML.element(
                            "option", Attribute("value", "relay"),
                            Attribute("selected", form.deliveryMode == "relay" ? "" : nil)
                        ) {
                            "Bucket relay (your own S3 or Cloud Storage bucket, or Azure container)"
                        }
                    }
                    for (name, label, value) in [
                        ("relayKind", "Bucket store (relay): s3, gcs or azure-blob", form.relayKind),
                        ("relayBucket", "Bucket (relay; the container for Azure)", form.relayBucket),
                        ("relayAccount", "Storage account (relay, azure-blob only)", form.relayAccount),
                        ("relayRegion", "Region (relay, s3 only)", form.relayRegion),
                        ("relayPrefix", "Prefix (relay)", form.relayPrefix),
                        ("relayEndpoint", "Endpoint (relay, optional)", form.relayEndpoint),
                        (
                            "relayEncryption", "Server-side encryption (relay, s3): AES256 or aws:kms",
                            form.relayEncryption
                        ),
                        ("relayKMSKeyId", "KMS key id (relay, aws:kms only)", form.relayKMSKeyId),
                        ("relayKMSKeyName", "Cloud KMS key name (relay, gcs, optional)", form.relayKMSKeyName),
                        (
                            "relayEncryptionScope", "Encryption scope (relay, azure-blob, optional)",
                            form.relayEncryptionScope
                        ),
                    ] {
                        HTML.element("label", Attribute("for", name)) { label }
                        HTML.void(
                            "input", Attribute("type", "text"), Attribute("id", name), Attribute("name", name),
                            Attribute("value", value), Attribute("class", invalid("delivery")))
                    }
                }
                HTML.element("fieldset") {
                    HTML.element("legend") { "Filters (one pattern per line; re: for a regular expression)" }
                    for filter in ConnectionForm.filterFields {
                        HTML.element("label", Attribute("for", filter.name)) { filter.label }
                        HTML.element(
                            "textarea", Attribute("id", filter.name), Attribute("name", filter.name),
                            Attribute("class", invalid("filters.\(filter.name)"))
                        ) { form.filters[filter.name] ?? "" }
                    }
                }
                HTML.element("div", Attribute("class", "actions")) {
                    HTML.element("button", Attribute("type", "submit"), Attribute("class", "primary")) {
                        connection == nil ? "Create connection" : "Save changes"
                    }
                    link("Cancel", to: "/ui/connections")
                }
            }
            if connection != nil {
                HTML.element("h2") { "Recent runs" }
                runHistoryChart(runs)
                runsTable(runs, names: [:])
            }
        }
    }
}
