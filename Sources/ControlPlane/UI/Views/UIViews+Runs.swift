import ControlPlaneStorage
import Metadata
import OutpostProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// Runs: the list, and one run with its timings, counts, live log and manifest.

extension UIViews {
    /// The end of a run's log as first shown: `text` spans bytes `start ..< next`.
    struct LogExcerpt: Sendable {
        var start: Int64
        var text: String
        var next: Int64
    }

    /// A run's manifest, or why there is none to show.
    enum ManifestState: Sendable {
        case delivered(Manifest)
        case unavailable(String)
    }

    static func runsPage(runs: [RunRecord], names: [String: String], csrf: String) -> Node {
        page(title: "Runs", section: .runs, csrf: csrf) {
            runsTable(runs, names: names)
        }
    }

    /// Runs newest first; `names` maps connection ids to names (empty on a connection's own page).
    static func runsTable(_ runs: [RunRecord], names: [String: String]) -> Node {
        table(
            names.isEmpty
                ? ["Run", "Status", "Queued", "Started", "Duration", "Attempt", "Log", "Catalog"]
                : ["Run", "Connection", "Status", "Queued", "Started", "Duration", "Attempt", "Log", "Catalog"],
            empty: "No runs yet.",
            rows: runs.map { run in
                var cells: [Node] = [
                    HTML.element(
                        "a", Attribute("href", "/ui/runs/\(HTML.percentEncode(run.id))"), Attribute("class", "mono")
                    ) {
                        run.id
                    }
                ]
                if !names.isEmpty {
                    cells.append(
                        link(
                            names[run.connectionId] ?? run.connectionId,
                            to: "/ui/connections/\(HTML.percentEncode(run.connectionId))"))
                }
                cells += [
                    runBadge(run.status),
                    UIFormat.timeNode(run.createdAt),
                    UIFormat.timeNode(run.startedAt),
                    .text(UIFormat.duration(from: run.startedAt, to: run.finishedAt)),
                    .text("\(run.attempt) of \(run.maxAttempts)"),
                    .text(UIFormat.bytes(run.logBytes)),
                    .text(catalogChanges(run.catalogChanges)),
                ]
                return cells
            },
            numeric: names.isEmpty ? [5, 6] : [6, 7])
    }

    /// What a run's publish changed, briefly: `+3 new, 1 changed, −2 removed of 124`.
    static func catalogChanges(_ changes: PublishSummary?) -> String {
        guard let changes else { return "—" }
        let total = changes.created + changes.updated + changes.unchanged
        var parts: [String] = []
        if changes.created > 0 { parts.append("+\(changes.created) new") }
        if changes.updated > 0 { parts.append("\(changes.updated) changed") }
        if changes.deleted > 0 { parts.append("−\(changes.deleted) removed") }
        return (parts.isEmpty ? "no change" : parts.joined(separator: ", ")) + " of \(total)"
    }

    /// The connection's recent runs as a bar chart, oldest on the left: a bar's height is the run's duration, its
    /// colour its outcome, and it links to the run (its title says what the run changed).
    static func runHistoryChart(_ runs: [RunRecord]) -> Node {
        let finished = runs.filter { $0.startedAt != nil && $0.finishedAt != nil }.prefix(40).reversed()
        guard finished.count > 1 else { return .text("") }
        let durations = finished.map { run in
            max(0, (run.finishedAt?.milliseconds ?? 0) - (run.startedAt?.milliseconds ?? 0))
        }
        let longest = max(durations.max() ?? 1, 1)
        let (barWidth, gap, height) = (14, 4, 64)
        let width = finished.count * (barWidth + gap)
        return HTML.element("figure", Attribute("class", "run-chart")) {
            HTML.element(
                "svg", Attribute("xmlns", "http://www.w3.org/2000/svg"), Attribute("width", String(width)),
                Attribute("height", String(height + 2)), Attribute("viewBox", "0 0 \(width) \(height + 2)"),
                Attribute("role", "img"),
                Attribute("aria-label", "Durations of the last \(finished.count) finished runs, oldest first")
            ) {
                for (index, (run, duration)) in zip(finished, durations).enumerated() {
                    let bar = max(2, Int(Double(height) * Double(duration) / Double(longest)))
                    HTML.element("a", Attribute("href", "/ui/runs/\(HTML.percentEncode(run.id))")) {
                        HTML.element("title") {
                            "\(run.id): \(run.status.rawValue), \(UIFormat.duration(milliseconds: duration)); "
                                + catalogChanges(run.catalogChanges)
                        }
                        HTML.element(
                            "rect", Attribute("x", String(index * (barWidth + gap))),
                            Attribute("y", String(height - bar + 1)), Attribute("width", String(barWidth)),
                            Attribute("height", String(bar)), Attribute("class", "bar \(tone(of: run.status))")
                        ) {}
                    }
                }
            }
            HTML.element("figcaption", Attribute("class", "muted small")) {
                "Durations of the last \(finished.count) finished runs, oldest first; the longest took "
                    + UIFormat.duration(milliseconds: longest) + "."
            }
        }
    }

    static func runPage(
        run: RunRecord, connection: ConnectionRecord?, manifest: ManifestState, log: LogExcerpt, now: Timestamp,
        csrf: String
    ) -> Node {
        let runPath = "/ui/runs/\(HTML.percentEncode(run.id))"
        return page(title: "Run \(run.id)", section: .runs, csrf: csrf) {
            HTML.element("p", Attribute("class", "crumbs")) {
                "Connection "
                if let connection {
                    link(connection.name, to: "/ui/connections/\(HTML.percentEncode(connection.id))")
                } else {
                    HTML.element("code") { run.connectionId }
                }
            }
            if let error = run.error { notice(error) }
            if !run.status.isFinished && !run.cancelRequested {
                // The live view removes the button once the run has ended.
                HTML.element("div", Attribute("class", "toolbar"), Attribute("id", "run-actions")) {
                    actionButton("Cancel run", action: runPath + "/cancel", csrf: csrf, style: "danger")
                }
            }
            // The live view keeps Status, Started, Finished and Duration current (ids below).
            facts([
                ("Status", runBadge(run.status, id: "run-status")),
                ("Queued", UIFormat.timeNode(run.createdAt)),
                ("Started", HTML.element("span", Attribute("id", "run-started")) { UIFormat.timeNode(run.startedAt) }),
                (
                    "Finished",
                    HTML.element("span", Attribute("id", "run-finished")) { UIFormat.timeNode(run.finishedAt) }
                ),
                (
                    "Duration",
                    HTML.element("span", Attribute("id", "run-duration")) { runDuration(run, now: now) }
                ),
                ("Attempt", .text("\(run.attempt) of \(run.maxAttempts)")),
                ("Agent", .text(run.leaseAgentId ?? "—")),
                ("Cancellation", .text(run.cancelRequested ? "requested: \(run.cancelReason ?? "")" : "—")),
                ("Log", .text(logSummary(run))),
                ("Catalog", .text(catalogChanges(run.catalogChanges))),
            ])
            countsSection(manifest)
            HTML.element("div", Attribute("class", "log-head")) {
                HTML.element("h2") { "Log" }
                HTML.element("span", Attribute("id", "log-state"), Attribute("aria-live", "polite")) {
                    run.status.isFinished ? "Run finished." : ""
                }
                link("Refresh", to: runPath)
            }
            if log.start > 0 {
                HTML.element("p", Attribute("class", "muted")) {
                    "Showing the log from byte \(log.start); the first \(UIFormat.bytes(log.start)) are not shown here."
                }
            }
            HTML.element(
                "pre", Attribute("class", "log"), Attribute("id", "log"), Attribute("data-source", runPath + "/log"),
                Attribute("data-offset", String(log.next)),
                Attribute("data-finished", run.status.isFinished ? "true" : "false"), Attribute("tabindex", "0")
            ) { log.text }
            manifestSection(manifest)
        }
    }

    private static func logSummary(_ run: RunRecord) -> String {
        var text = "\(UIFormat.bytes(run.logBytes)) stored"
        if let total = run.logTotalBytes, total != run.logBytes {
            text += "; the agent reported \(UIFormat.bytes(total)), so part of the log is missing"
        }
        if let dropped = run.logDroppedBytes, dropped > 0 {
            text += "; \(UIFormat.bytes(dropped)) dropped by the agent"
        }
        if run.logAttemptOffset > 0 {
            text += "; attempt \(run.attempt)'s log starts after the first \(UIFormat.bytes(run.logAttemptOffset))"
        }
        return text
    }

    private static func countsSection(_ manifest: ManifestState) -> Node {
        HTML.element("section") {
            HTML.element("h2") { "Counts" }
            switch manifest {
            case .delivered(let manifest):
                table(
                    ["Kind", "Records"], empty: "The delivery holds no records.",
                    rows: manifest.counts.sorted { $0.key < $1.key }.map { kind, count in
                        [.text(kind), .text(String(count))]
                    } + [
                        [HTML.element("strong") { "Total" }, HTML.element("strong") { String(manifest.recordCount) }]
                    ],
                    numeric: [1])
            case .unavailable(let reason):
                HTML.element("p", Attribute("class", "empty")) { reason }
            }
        }
    }

    private static func manifestSection(_ manifest: ManifestState) -> Node {
        HTML.element("section") {
            HTML.element("h2") { "Manifest" }
            switch manifest {
            case .delivered(let manifest):
                facts([
                    ("Extraction", HTML.element("code") { manifest.extractionId }),
                    ("Status", .text(manifest.status.rawValue)),
                    ("Connector", .text("\(manifest.connector.name) \(manifest.connector.version)")),
                    ("Source", .text(manifest.source.kind + (manifest.source.serverVersion.map { " \($0)" } ?? ""))),
                    ("Extracted", .text("\(manifest.startedAt) – \(manifest.finishedAt)")),
                    ("Format", .text(manifest.formatVersion)),
                ])
                HTML.element("h2") { "Files" }
                table(
                    ["File", "Records", "Compressed", "Uncompressed", "SHA-256"], empty: "No files.",
                    rows: manifest.files.map { file in
                        [
                            HTML.element("code") { file.path }, .text(String(file.records)),
                            .text(UIFormat.bytes(file.bytes)), .text(UIFormat.bytes(file.uncompressedBytes)),
                            HTML.element("code") { file.sha256 },
                        ]
                    },
                    numeric: [1, 2, 3])
                HTML.element("h2") { "Completeness" }
                table(
                    ["Scope", "Complete", "Reason"], empty: "No scopes recorded.",
                    rows: manifest.completeness.map { scope in
                        [
                            HTML.element("code") { scope.qualifiedName.description },
                            badge(scope.complete ? "complete" : "incomplete", tone: scope.complete ? "good" : "warn"),
                            .text(scope.reason ?? "—"),
                        ]
                    })
                HTML.element("details") {
                    HTML.element("summary") { "manifest.json" }
                    HTML.element("pre") { prettyJSON(manifest) }
                }
            case .unavailable(let reason):
                HTML.element("p", Attribute("class", "empty")) { reason }
            }
        }
    }

    static func prettyJSON(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// How long the run took, or has taken so far.
    static func runDuration(_ run: RunRecord, now: Timestamp) -> String {
        run.finishedAt == nil && run.startedAt != nil
            ? UIFormat.duration(from: run.startedAt, to: now) + " so far"
            : UIFormat.duration(from: run.startedAt, to: run.finishedAt)
    }

}
