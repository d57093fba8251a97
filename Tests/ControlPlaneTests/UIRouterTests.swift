import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Metadata
import NIOCore
import OutpostProtocol
import Testing

@Suite("Web UI: routes, sessions, CSRF, headers, escaping")
struct UIRouterTests {
    /// A name meant to break out of text, attributes and scripts, plus quotes and non-ASCII.
    static let hostile = "<script>alert(\"x\")</script> & 'q' <img src=x onerror=alert(1)> Ωmega ünï 😀"

    // MARK: Authentication

    @Test("pages without a session redirect to the sign-in page, and the root redirects to the UI")
    func redirectsWithoutSession() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            for path in ["/ui", "/ui/agents", "/ui/connections", "/ui/runs", "/ui/catalog", "/ui/runs/run_x"] {
                let response = try await client.page(path, session: nil)
                #expect(response.status == .seeOther, "\(path)")
                #expect(response.headers[.location] == "/ui/sign-in", "\(path)")
            }
            let root = try await client.page("/", session: nil)
            #expect(root.status == .seeOther)
            #expect(root.headers[.location] == "/ui")
            // A made-up cookie is no session either.
            let forged = UIBrowserSession(cookie: "outpost_session=" + String(repeating: "a", count: 64), csrf: "")
            #expect(try await client.page("/ui/runs", session: forged).headers[.location] == "/ui/sign-in")
            // A POST without a session is refused, not redirected, so a stale form does not silently vanish.
            let post = try await client.post("/ui/connections", session: nil, fields: [("name", "x")], csrf: nil)
            #expect(post.status == .unauthorized)
            #expect(post.headers[.contentType]?.hasPrefix("text/html") == true)
        }
    }

    @Test("signing in with an admin key starts a server-side session stored only as a hash; sign-out ends it")
    func signInAndOut() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let form = try await client.page("/ui/sign-in", session: nil)
            #expect(form.status == .ok)
            let signInCookie = try #require(UIForms.cookie("outpost_signin", in: form))
            #expect(signInCookie.header.contains("HttpOnly"))
            #expect(signInCookie.header.contains("SameSite=Strict"))
            #expect(!signInCookie.header.contains("Secure"))

            let response = try await client.post(
                "/ui/sign-in", session: nil, fields: [("key", fixture.tenantA.admin)],
                csrf: try UIForms.csrf(in: form.text), cookie: signInCookie.pair)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/ui")
            let cookie = try #require(UIForms.cookie("outpost_session", in: response))
            #expect(cookie.header.contains("HttpOnly"))
            #expect(cookie.header.contains("SameSite=Strict"))
            #expect(cookie.header.contains("Path=/"))
            let token = String(cookie.pair.dropFirst("outpost_session=".count))
            #expect(token.count == 64)
            #expect(!response.text.contains(token))

            // The store knows the token's hash, never the token.
            let now = fixture.clock.now
            let stored = try #require(try await fixture.store.session(hash: APIKey.hash(of: token), now: now))
            #expect(stored.tenantId == fixture.tenantA.tenant.id)
            #expect(try await fixture.store.session(hash: token, now: now) == nil)

            let session = UIBrowserSession(cookie: cookie.pair, csrf: stored.csrfToken)
            let overview = try await client.page("/ui", session: session)
            #expect(overview.status == .ok)
            #expect(overview.text.contains("Recent runs"))
            #expect(try UIForms.csrf(in: overview.text) == stored.csrfToken)
            // Signed in, the sign-in page sends the browser on.
            #expect(try await client.page("/ui/sign-in", session: session).headers[.location] == "/ui")

            // Sign-out needs the token too.
            #expect(try await client.post("/ui/sign-out", session: session, fields: [], csrf: nil).status == .forbidden)
            let out = try await client.post("/ui/sign-out", session: session, fields: [], csrf: session.csrf)
            #expect(out.status == .seeOther)
            #expect(out.headers[.location] == "/ui/sign-in")
            #expect(UIForms.cookie("outpost_session", in: out)?.header.contains("Max-Age=0") == true)
            #expect(try await fixture.store.session(hash: APIKey.hash(of: token), now: now) == nil)
            #expect(try await client.page("/ui", session: session).headers[.location] == "/ui/sign-in")
        }
    }

    @Test("a session ends when it expires or when its key is revoked")
    func sessionEnds() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.uiSessionSeconds = 600 }
        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            fixture.clock.advance(seconds: 599)
            #expect(try await client.page("/ui/runs", session: session).status == .ok)
            fixture.clock.advance(seconds: 1)
            #expect(try await client.page("/ui/runs", session: session).headers[.location] == "/ui/sign-in")

            let minted = try await fixture.mintKey(role: .admin)
            let second = try await client.signIn(key: minted.text)
            #expect(try await client.page("/ui/runs", session: second).status == .ok)
            _ = try await fixture.store.revokeKey(
                tenantId: fixture.tenantA.tenant.id, id: minted.key.id, at: fixture.clock.now)
            #expect(try await client.page("/ui/runs", session: second).headers[.location] == "/ui/sign-in")
        }
    }

    @Test("secureCookies marks both cookies Secure under the __Host- prefix")
    func secureCookies() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.secureCookies = true }
        try await fixture.application().test(.router) { client in
            let form = try await client.page("/ui/sign-in", session: nil)
            let signInCookie = try #require(UIForms.cookie("__Host-outpost_signin", in: form))
            #expect(signInCookie.header.contains("; Secure"))
            let response = try await client.post(
                "/ui/sign-in", session: nil, fields: [("key", fixture.tenantA.admin)],
                csrf: try UIForms.csrf(in: form.text), cookie: signInCookie.pair)
            let cookie = try #require(UIForms.cookie("__Host-outpost_session", in: response))
            #expect(cookie.header.contains("; Secure"))
            #expect(cookie.header.contains("HttpOnly"))
            #expect(cookie.header.contains("Path=/;"))
            #expect(!cookie.header.lowercased().contains("domain="))
        }
    }

    @Test("bad sign-ins are refused with a clear page and count against the failed-authentication limit")
    func failedSignIns() async throws {
        let fixture = try await ControlPlaneFixture.make { $0.failedAuthenticationLimit = 3 }
        try await fixture.application().test(.router) { client in
            func attempt(_ key: String) async throws -> TestResponse {
                let form = try await client.page("/ui/sign-in", session: nil)
                let cookie = try #require(UIForms.cookie("outpost_signin", in: form))
                return try await client.post(
                    "/ui/sign-in", session: nil, fields: [("key", key)], csrf: try UIForms.csrf(in: form.text),
                    cookie: cookie.pair)
            }
            let agentKey = try await attempt(fixture.tenantA.agent)
            #expect(agentKey.status == .forbidden)
            #expect(agentKey.text.contains("not an admin key"))
            #expect(UIForms.cookie("outpost_session", in: agentKey) == nil)

            let wrong = try await attempt("opk_" + String(repeating: "x", count: 43))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("not accepted"))
            #expect(try await attempt("not a key").status == .unauthorized)
            #expect(try await attempt("").status == .unauthorized)

            // Three failures: the address is blocked for keys that do not verify, on the form and the API alike;
            // a valid key still signs in.
            let blocked = try await attempt("opk_" + String(repeating: "y", count: 43))
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] != nil)
            #expect(blocked.text.contains("Too many failed sign-ins"))
            #expect(try await client.send(.get, "/v1/admin/runs", key: "opk_wrong").status == .tooManyRequests)
            #expect(try await client.send(.get, "/v1/admin/runs", key: fixture.tenantA.admin).status == .ok)
            #expect(try await attempt(fixture.tenantA.admin).status == .seeOther)
        }
    }

    // MARK: CSRF

    @Test("the sign-in form is refused without its double-submit cookie, with a wrong token, or from another origin")
    func signInForgery() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let form = try await client.page("/ui/sign-in", session: nil)
            let cookie = try #require(UIForms.cookie("outpost_signin", in: form))
            let token = try UIForms.csrf(in: form.text)
            let key = [("key", fixture.tenantA.admin)]
            let missingCookie = try await client.post("/ui/sign-in", session: nil, fields: key, csrf: token)
            #expect(missingCookie.status == .forbidden)
            let wrongToken = try await client.post(
                "/ui/sign-in", session: nil, fields: key, csrf: String(repeating: "0", count: 64), cookie: cookie.pair)
            #expect(wrongToken.status == .forbidden)
            let foreign = try await client.post(
                "/ui/sign-in", session: nil, fields: key, csrf: token, origin: "https://evil.example",
                cookie: cookie.pair)
            #expect(foreign.status == .forbidden)
            for response in [missingCookie, wrongToken, foreign] {
                #expect(UIForms.cookie("outpost_session", in: response) == nil)
            }
        }
    }

    @Test("every form POST needs the session's token and a same-origin Origin; nothing changes otherwise")
    func formForgery() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let other = try await client.signIn(key: fixture.tenantA.admin)
            #expect(other.csrf != session.csrf)
            let fields = [("name", "shop"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/data/shop.db")]

            let refusals = [
                try await client.post("/ui/connections", session: session, fields: fields, csrf: nil),
                try await client.post("/ui/connections", session: session, fields: fields, csrf: other.csrf),
                try await client.post("/ui/connections", session: session, fields: fields, csrf: "short"),
                try await client.post(
                    "/ui/connections", session: session, fields: fields, csrf: session.csrf,
                    origin: "https://evil.example"),
                try await client.post(
                    "/ui/connections", session: session, fields: fields, csrf: session.csrf, origin: "null"),
            ]
            for response in refusals {
                #expect(response.status == .forbidden)
                #expect(response.headers[.contentSecurityPolicy] != nil)
            }
            #expect(try await fixture.store.connections(tenantId: fixture.tenantA.tenant.id).isEmpty)

            let accepted = try await client.post(
                "/ui/connections", session: session, fields: fields, csrf: session.csrf, origin: "http://localhost")
            #expect(accepted.status == .seeOther)
            let connections = try await fixture.store.connections(tenantId: fixture.tenantA.tenant.id)
            #expect(connections.map(\.name) == ["shop"])
            #expect(accepted.headers[.location] == "/ui/connections/\(connections[0].id)?saved=1")
            // Another port or a look-alike host is another origin; no Origin at all leaves the token to decide.
            for origin in ["http://localhost:8081", "http://localhost.evil.example"] {
                let response = try await client.post(
                    "/ui/connections", session: session, fields: [("name", "x")], csrf: session.csrf, origin: origin)
                #expect(response.status == .forbidden)
            }
            let withoutOrigin = try await client.post(
                "/ui/connections", session: session,
                fields: [("name", "shop2"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/data/shop.db")],
                csrf: session.csrf)
            #expect(withoutOrigin.status == .seeOther)

            // "Run now" is a form too.
            let run = "/ui/connections/\(connections[0].id)/run"
            #expect(try await client.post(run, session: session, fields: [], csrf: nil).status == .forbidden)
            #expect(
                try await fixture.store.runs(tenantId: fixture.tenantA.tenant.id, connectionId: nil, limit: 5).isEmpty)
            let queued = try await client.post(run, session: session, fields: [], csrf: session.csrf)
            #expect(queued.status == .seeOther)
            let runs = try await fixture.store.runs(tenantId: fixture.tenantA.tenant.id, connectionId: nil, limit: 5)
            #expect(runs.map(\.status) == [.queued])
            #expect(queued.headers[.location] == "/ui/runs/\(runs[0].id)")

            // Cancelling is a form too; a queued run ends at once, and a finished one cannot be cancelled.
            let cancel = "/ui/runs/\(runs[0].id)/cancel"
            #expect(try await client.post(cancel, session: session, fields: [], csrf: nil).status == .forbidden)
            #expect(try await client.post(cancel, session: session, fields: [], csrf: session.csrf).status == .seeOther)
            let cancelled = try await fixture.store.run(tenantId: fixture.tenantA.tenant.id, id: runs[0].id)
            #expect(cancelled?.status == .cancelled)
            #expect(cancelled?.cancelReason == "cancelled by an administrator in the web UI")
            let again = try await client.post(cancel, session: session, fields: [], csrf: session.csrf)
            #expect(again.status == .conflict)
            #expect(again.text.contains("has finished already"))

            // A JSON body is not a form.
            var headers: HTTPFields = [.contentType: "application/json", .cookie: session.cookie]
            headers[.origin] = nil
            let json = try await client.executeRequest(
                uri: "/ui/connections", method: .post, headers: headers,
                body: .init(string: "{\"csrf\":\"\(session.csrf)\"}"))
            #expect(json.status == .unsupportedMediaType)
        }
    }

    @Test("the agents page shows status, version, heartbeat and load, and drains an agent by form")
    func agentsPage() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            var heartbeat = HeartbeatRequest(
                agentId: "edge-1", agentName: "edge \"one\" <1>", version: "1.2.3", state: .busy, runningLeases: [],
                freeSlots: 3)
            heartbeat.cpuPercent = 41.6
            heartbeat.memoryBytes = 3 * 1024 * 1024
            heartbeat.lastError = "<b>source unreachable</b>"
            let sent = try await client.send(
                .post, AgentProtocol.Path.heartbeat, key: fixture.tenantA.agent, json: heartbeat)
            #expect(sent.status == .ok, "\(sent.text)")
            fixture.clock.advance(seconds: 90)

            let session = try await client.signIn(key: fixture.tenantA.admin)
            let page = try await client.page("/ui/agents", session: session)
            #expect(page.status == .ok)
            for text in [
                "edge &quot;one&quot; &lt;1&gt;", "edge-1", "1.2.3", "busy", "stale", "1 min ago", "0 running, 3 free",
                "42 %", "3.0 MiB", "&lt;b&gt;source unreachable&lt;/b&gt;",
            ] {
                #expect(page.text.contains(text), "\(text)")
            }
            // The key it called with, by name and prefix; once revoked, the page says so.
            let key = try #require(
                try await fixture.store.key(hash: APIKey.hash(of: fixture.tenantA.agent)))
            #expect(try await fixture.store.agent(tenantId: fixture.tenantA.tenant.id, id: "edge-1")?.keyId == key.id)
            #expect(page.text.contains(HTML.escape(key.name)))
            #expect(page.text.contains(key.prefix + "…"))
            _ = try await fixture.store.revokeKey(
                tenantId: fixture.tenantA.tenant.id, id: key.id, at: fixture.clock.now)
            #expect(try await client.page("/ui/agents", session: session).text.contains(">revoked<"))
            let drain = "/ui/agents/edge-1/drain"
            #expect(page.text.contains("action=\"\(drain)\""))
            #expect(try await client.post(drain, session: session, fields: [], csrf: nil).status == .forbidden)
            #expect(try await client.post(drain, session: session, fields: [], csrf: session.csrf).status == .seeOther)
            let agent = try await fixture.store.agent(tenantId: fixture.tenantA.tenant.id, id: "edge-1")
            #expect(agent?.drainRequested == true)
            #expect(try await client.page("/ui/agents", session: session).text.contains("busy (drain requested)"))
            let other = try await client.signIn(key: fixture.tenantB.admin)
            #expect(!(try await client.page("/ui/agents", session: other).text.contains("edge")))
            #expect(try await client.post(drain, session: other, fields: [], csrf: other.csrf).status == .notFound)
        }
    }

    @Test("the run page opens at the end of a long log on a character boundary; the JSON endpoint follows by offset")
    func logView() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let runId = try await client.queueRun(fixture)
            let tenant = fixture.tenantA.tenant.id
            // One byte, then 70 000 bytes of two-byte characters, then a line with markup: longer than the page's
            // first view, and 64 KiB into it falls inside a character.
            let head = Array(("x" + String(repeating: "é", count: 35_000)).utf8)
            let tail = Array("\n<b>done</b> ✓\n".utf8)
            var next = try await fixture.store.appendLog(tenantId: tenant, runId: runId, offset: 0, text: head)
            next = try await fixture.store.appendLog(tenantId: tenant, runId: runId, offset: next, text: tail)
            let total = Int64(head.count + tail.count)
            #expect(next == total)

            let session = try await client.signIn(key: fixture.tenantA.admin)
            let page = try await client.page("/ui/runs/\(runId)", session: session)
            #expect(page.status == .ok)
            #expect(page.text.contains("&lt;b&gt;done&lt;/b&gt; ✓"))
            #expect(page.text.contains("data-offset=\"\(total)\""))
            #expect(page.text.contains("data-source=\"/ui/runs/\(runId)/log\""))
            #expect(page.text.contains("Showing the log from byte"))
            #expect(!page.text.contains("\u{FFFD}"))

            // A slice never ends inside a character: the split one comes with the next slice.
            let slice = try await client.page("/ui/runs/\(runId)/log?from=0", session: session)
            #expect(slice.status == .ok)
            #expect(slice.headers[.contentType]?.hasPrefix("application/json") == true)
            let first = try slice.decode(UILogSliceView.self)
            #expect(first.nextOffset == 64 * 1024 - 1)
            #expect(first.totalBytes == total)
            #expect(first.finished == false)
            #expect(first.status == "queued")
            #expect(first.text.hasPrefix("xé"))
            #expect(first.text.dropFirst().allSatisfy { $0 == "é" })
            let second = try await client.page("/ui/runs/\(runId)/log?from=\(first.nextOffset)", session: session)
                .decode(UILogSliceView.self)
            #expect(second.nextOffset == total)
            #expect(second.text.hasPrefix("é"))
            #expect(second.text.hasSuffix("<b>done</b> ✓\n"))
            #expect(first.text.utf8.count + second.text.utf8.count == Int(total))
            let end = try await client.page("/ui/runs/\(runId)/log?from=\(total)", session: session)
                .decode(UILogSliceView.self)
            #expect(end.text.isEmpty)
            #expect(end.nextOffset == total)
            #expect(try await client.page("/ui/runs/\(runId)/log?from=-1", session: session).status == .badRequest)
            #expect(try await client.page("/ui/runs/\(runId)/log?from=x", session: session).status == .badRequest)
            // Another tenant's admin cannot read it.
            let other = try await client.signIn(key: fixture.tenantB.admin)
            #expect(try await client.page("/ui/runs/\(runId)/log?from=0", session: other).status == .notFound)
        }
    }

    // MARK: Headers

    @Test("UI pages, errors and redirects carry a strict CSP, nosniff, a referrer policy and no caching")
    func securityHeaders() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let responses = [
                try await client.page("/ui/sign-in", session: nil),
                try await client.page("/ui", session: nil),
                try await client.page("/ui", session: session),
                try await client.page("/ui/runs/run_missing", session: session),
                try await client.page("/ui/static/outpost.js", session: nil),
            ]
            for response in responses {
                let policy = try #require(response.headers[.contentSecurityPolicy])
                #expect(policy.contains("frame-ancestors 'none'"))
                #expect(policy.contains("script-src 'self'"))
                #expect(policy.contains("default-src 'none'"))
                #expect(!policy.contains("unsafe-inline"))
                #expect(!policy.contains("unsafe-eval"))
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin")
            }
            #expect(responses[2].headers[.cacheControl] == "no-store")
            #expect(responses[3].status == .notFound)
            #expect(responses[3].headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(responses[4].headers[.contentType]?.hasPrefix("text/javascript") == true)
            // No page carries inline script or style: scripts come from the served file only.
            for response in responses.prefix(4) {
                #expect(!response.text.contains("<script>"))
                #expect(!response.text.contains(" style="))
                #expect(!response.text.contains(" onclick="))
            }
            #expect(responses[2].text.contains("<script src=\"/ui/static/outpost.js\" defer=\"\"></script>"))
            let css = try await client.page("/ui/static/outpost.css", session: nil)
            #expect(css.status == .ok)
            #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)
        }
    }

    // MARK: Escaping

    @Test("hostile connection names and secret references are shown as text on every page")
    func hostileConnection() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let request = ConnectionRequest(
                name: Self.hostile, sourceKind: "sqlite", sourceURL: "sqlite:/data/\"quoted\" <db>.db",
                secrets: ["password": "env:\"><script>x</script>"])
            let connection = try await client.send(
                .post, "/v1/admin/connections", key: fixture.tenantA.admin, json: request
            )
            .decode(ConnectionResponse.self)
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let runNow = try await client.post(
                "/ui/connections/\(connection.id)/run", session: session, fields: [], csrf: session.csrf)
            let runPath = try #require(runNow.headers[.location])
            let escaped = HTML.escape(Self.hostile)
            #expect(escaped.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"))
            #expect(escaped.contains("Ωmega ünï 😀"))
            for path in ["/ui/connections", "/ui/connections/\(connection.id)", "/ui/runs", runPath, "/ui"] {
                let page = try await client.page(path, session: session)
                #expect(page.status == .ok, "\(path)")
                #expect(!page.text.contains("<script>"), "\(path)")
                #expect(!page.text.contains("<img"), "\(path)")
                #expect(!page.text.contains("\"quoted\""), "\(path)")
                if path != runPath && path != "/ui" {
                    #expect(page.text.contains(escaped), "\(path)")
                }
            }
            let edit = try await client.page("/ui/connections/\(connection.id)", session: session)
            #expect(edit.text.contains("value=\"sqlite:/data/&quot;quoted&quot; &lt;db&gt;.db\""))
            #expect(edit.text.contains("password = env:&quot;&gt;&lt;script&gt;x&lt;/script&gt;"))
        }
    }

    @Test("hostile asset names are escaped in search and on the asset page, whose link round-trips the name")
    func hostileAsset() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let tenant = fixture.tenantA.tenant.id
        let (connection, run) = try await Self.ingestingRun(fixture)
        let name = Self.hostile + " /#?&="
        let database = QualifiedName(["wh", "main"])
        let schema = database.appending("main")
        let table = MetadataRecord.relation(
            Relation(
                kind: .table, qualifiedName: schema.appending(name), name: name, database: database, schema: schema))
        let column = MetadataRecord.column(
            Column(
                qualifiedName: schema.appending(name).appending("<b>col\"</b>"), name: "<b>col\"</b>",
                database: database, schema: schema, table: schema.appending(name), ordinal: 1,
                nativeType: "TEXT <x>", typeFamily: .string, nullable: true))
        var assets: [StagedAsset] = []
        for (record, parent) in [(table, schema.description), (column, schema.appending(name).description)] {
            assets.append(
                StagedAsset(
                    kind: record.kind.rawValue, qualifiedName: record.qualifiedName.description,
                    name: record.kind == .table ? name : "<b>col\"</b>", parent: parent, schema: schema.description,
                    database: database.description, body: Array(try JSONEncoder().encode(record))))
        }
        try await fixture.store.stage(tenantId: tenant, runId: run.id, assets: assets)
        _ = try await fixture.store.publish(
            tenantId: tenant, connectionId: connection.id, runId: run.id,
            scope: PublishScope(completeSchemas: [], completeDatabases: []) { _, _ in false }, now: fixture.clock.now)

        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let search = try await client.page(
                "/ui/catalog?q=\(HTML.percentEncode("onerror"))&kind=table", session: session)
            #expect(search.status == .ok)
            #expect(!search.text.contains("<img"))
            #expect(!search.text.contains("<script>"))
            #expect(search.text.contains(HTML.escape(name)))

            // The link in the result, unescaped as a browser would, opens the asset.
            let marker = "href=\"/ui/catalog/asset?"
            let start = try #require(search.text.range(of: marker))
            let href =
                "/ui/catalog/asset?"
                + search.text[start.upperBound...].prefix { $0 != "\"" }
                .replacingOccurrences(of: "&amp;", with: "&")
            let asset = try await client.page(href, session: session)
            #expect(asset.status == .ok)
            #expect(asset.text.contains("<h1>\(HTML.escape(name))</h1>"))
            #expect(asset.text.contains(HTML.escape("<b>col\"</b>")))
            #expect(asset.text.contains("TEXT &lt;x&gt;"))
            #expect(!asset.text.contains("<b>"))
            #expect(!asset.text.contains("<img"))

            // Tenant B sees none of it.
            let other = try await client.signIn(key: fixture.tenantB.admin)
            #expect(try await client.page(href, session: other).status == .notFound)
            #expect(try await client.page("/ui/runs/\(run.id)", session: other).status == .notFound)
        }
    }

    @Test(
        "the catalog browses a connection's tree with counts, kinds, sorting and pages, and searches words with facets")
    func browseAndSearch() async throws {
        let fixture = try await ControlPlaneFixture.make()
        // 60 tables of 2 columns and 3 views in one schema: more than a page (50).
        let database = QualifiedName(["wh", "main"])
        let schema = database.appending("sales data")
        var records: [MetadataRecord] = [
            .database(Database(qualifiedName: database, name: "main")),
            .schema(Schema(qualifiedName: schema, name: "sales data", database: database)),
        ]
        for number in 1...60 {
            let name = String(format: "table_%02d", number)
            var relation = Relation(
                kind: .table, qualifiedName: schema.appending(name), name: name, database: database, schema: schema)
            relation.comment = number == 7 ? "Quarterly revenue by region" : nil
            records.append(.relation(relation))
            for (ordinal, column) in ["id", "amount"].enumerated() {
                records.append(
                    .column(
                        Column(
                            qualifiedName: schema.appending(name).appending(column), name: column, database: database,
                            schema: schema, table: schema.appending(name), ordinal: ordinal + 1,
                            nativeType: "INTEGER", typeFamily: .integer, nullable: false)))
            }
        }
        for number in 1...3 {
            let name = "view_\(number)"
            records.append(
                .relation(
                    Relation(
                        kind: .view, qualifiedName: schema.appending(name), name: name, database: database,
                        schema: schema)))
        }
        let connection = try await Self.publishedCatalog(fixture, records)

        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            func rows(_ text: String) -> Int { text.components(separatedBy: "<tr>").count - 2 }
            // The landing page offers the connection with its asset count.
            let landing = try await client.page("/ui/catalog", session: session)
            #expect(landing.text.contains("Browse by connection"))
            #expect(landing.text.contains(String(2 + 60 * 3 + 3)))
            // The connection's top level is its database, which holds one schema.
            let top = try await client.page("/ui/catalog/browse?connectionId=\(connection.id)", session: session)
            #expect(top.status == .ok)
            #expect(top.text.contains("1 schema"))
            // The schema: counts by kind, 50 entries, then the next page.
            let browse =
                "/ui/catalog/browse?connectionId=\(connection.id)&parent=\(HTML.percentEncode(schema.description))"
            let first = try await client.page(browse, session: session)
            #expect(first.status == .ok)
            #expect(first.text.contains("All (63)"))
            #expect(first.text.contains("table (60)"))
            #expect(first.text.contains("view (3)"))
            #expect(first.text.contains("1–50 of 63"))
            #expect(rows(first.text) == 50)
            #expect(first.text.contains("2 columns"))
            #expect(first.text.contains("Quarterly revenue by region"))
            #expect(first.text.contains("offset=50"))
            let second = try await client.page(browse + "&offset=50", session: session)
            #expect(second.text.contains("51–63 of 63"))
            #expect(rows(second.text) == 13)
            #expect(second.text.contains("view_3"))
            let reversed = try await client.page(browse + "&order=desc&kind=table", session: session)
            #expect(reversed.text.contains("1–50 of 60"))
            let names = reversed.text.components(separatedBy: "table_").dropFirst().map { $0.prefix(2) }
            #expect(names.first == "60")
            // Breadcrumbs lead back up.
            #expect(first.text.contains("aria-label=\"Breadcrumb\""))
            #expect(first.text.contains(">main</a>"))
            // A container asked for by name opens as its contents.
            let container = try await client.page(
                "/ui/catalog/asset?connectionId=\(connection.id)&qualifiedName=\(HTML.percentEncode(schema.description))",
                session: session)
            #expect(container.status == .seeOther || container.status == .found)

            // Search: every word, in the name, qualified name or comment; `+` is a space; facets count.
            let search = try await client.page("/ui/catalog?q=quarterly+REGION", session: session)
            #expect(search.status == .ok)
            #expect(search.text.contains("1–1 of 1"))
            #expect(search.text.contains("table_07"))
            let columns = try await client.page("/ui/catalog?q=sales+amount", session: session)
            #expect(columns.text.contains("1–50 of 60"))
            #expect(columns.text.contains(">column</a> (60)"))
            let phrase = try await client.page("/ui/catalog?q=%22revenue+by%22", session: session)
            #expect(phrase.text.contains("1–1 of 1"))
            let none = try await client.page("/ui/catalog?q=%22by+revenue%22", session: session)
            #expect(none.text.contains("Nothing matches."))
            let bad = try await client.page("/ui/catalog?q=x&sort=size", session: session)
            #expect(bad.status == .badRequest)
        }
    }

    @Test("the lineage graph of a table read by 1,000 views draws every node and link as SVG, with depth links")
    func lineageGraph() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let database = QualifiedName(["wh", "main"])
        let schema = database.appending("main")
        let table = schema.appending("events <all>")
        var records: [MetadataRecord] = [
            .relation(
                Relation(kind: .table, qualifiedName: table, name: "events <all>", database: database, schema: schema))
        ]
        for number in 1...1000 {
            let view = schema.appending("v\(number)")
            records.append(
                .relation(
                    Relation(kind: .view, qualifiedName: view, name: "v\(number)", database: database, schema: schema)))
            records.append(
                .lineageEdge(
                    LineageEdge(
                        downstream: view, downstreamKind: .view, upstream: table, upstreamSchema: schema,
                        upstreamKind: .table, name: "events <all>", database: database, schema: schema,
                        upstreamColumns: [])))
        }
        let connection = try await Self.publishedCatalog(fixture, records)

        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let graph =
                "/ui/catalog/lineage?connectionId=\(connection.id)&kind=table&qualifiedName=\(HTML.percentEncode(table.description))"
            let page = try await client.page(graph, session: session)
            #expect(page.status == .ok)
            #expect(page.text.contains("<svg"))
            #expect(page.text.components(separatedBy: "<rect").count - 1 == 1001)
            #expect(page.text.components(separatedBy: "<path").count - 1 == 1000)
            #expect(page.text.contains("1001 assets, 1000 links"))
            #expect(page.text.contains("events &lt;all&gt;"))
            #expect(!page.text.contains("<all>"))
            #expect(!page.text.contains("stops at"))
            #expect(page.text.contains("depth=6"))
            // A view's graph: the table to its left; depth is checked.
            let view =
                "/ui/catalog/lineage?connectionId=\(connection.id)&kind=view&qualifiedName=\(HTML.percentEncode(schema.appending("v7").description))"
            #expect(try await client.page(view, session: session).text.contains("2 assets, 1 links"))
            #expect(try await client.page(view + "&depth=9", session: session).status == .badRequest)
        }
    }

    /// A connection `wh` of tenant A with one run ingesting its delivery.
    static func ingestingRun(_ fixture: ControlPlaneFixture) async throws -> (ConnectionRecord, RunRecord) {
        let tenant = fixture.tenantA.tenant.id
        let connection = ConnectionRecord(
            tenantId: tenant, id: Identifier.make("con"), name: "wh", sourceKind: "sqlite", sourceURL: "sqlite:/x.db",
            secrets: [:], filters: JobFilters(), delivery: Delivery(mode: .direct), pool: "default", schedule: nil,
            createdAt: fixture.clock.now, updatedAt: fixture.clock.now)
        try await fixture.store.createConnection(connection)
        let run = RunRecord(
            tenantId: tenant, id: Identifier.make("run"), connectionId: connection.id, status: .ingesting, attempt: 1,
            maxAttempts: 3, leaseId: 1, createdAt: fixture.clock.now)
        try await fixture.store.createRun(run)
        return (connection, run)
    }

    /// A connection `wh` of tenant A whose catalog is `records`, published by one run as ingestion would.
    static func publishedCatalog(
        _ fixture: ControlPlaneFixture, _ records: [MetadataRecord]
    ) async throws -> ConnectionRecord {
        let tenant = fixture.tenantA.tenant.id
        let (connection, run) = try await ingestingRun(fixture)
        try await fixture.store.stage(
            tenantId: tenant, runId: run.id,
            assets: try records.map {
                Ingestor<SQLiteControlPlaneStore, LocalBlobStore>.asset($0, body: Array(try JSONEncoder().encode($0)))
            })
        _ = try await fixture.store.publish(
            tenantId: tenant, connectionId: connection.id, runId: run.id,
            scope: PublishScope(completeSchemas: [], completeDatabases: []) { _, _ in false }, now: fixture.clock.now)
        return connection
    }

    @Test("the keys page creates a key shown once, lists keys without their text, revokes them, and refuses bad input")
    func keys() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let empty = try await client.page("/ui/keys", session: session)
            #expect(empty.status == .ok)
            #expect(empty.text.contains("this session&#39;s key") || empty.text.contains("this session's key"))

            let created = try await client.post(
                "/ui/keys", session: session,
                fields: [("name", "agent <eu-west-1>"), ("role", "agent"), ("expiresInDays", "30")],
                csrf: session.csrf)
            #expect(created.status == .created)
            #expect(created.text.contains("agent &lt;eu-west-1&gt;"))
            let text = try #require(
                created.text.range(of: #"opk_[A-Za-z0-9_-]{43}"#, options: .regularExpression).map {
                    String(created.text[$0])
                })
            // Usable at once by the agent API, shown once: the list never holds the text.
            let minted = try #require(try await fixture.store.key(hash: APIKey.hash(of: text)))
            #expect(minted.role == .agent)
            #expect(minted.expiresAt == fixture.clock.now.adding(seconds: 30 * 86_400))
            let listed = try await client.page("/ui/keys", session: session)
            #expect(!listed.text.contains(text))
            #expect(listed.text.contains(minted.prefix))

            // Bad input is refused with the field named; nothing is created.
            for fields in [
                [("name", ""), ("role", "agent")], [("name", "x"), ("role", "root")],
                [("name", "x"), ("role", "admin"), ("expiresInDays", "-3")],
            ] {
                let refused = try await client.post("/ui/keys", session: session, fields: fields, csrf: session.csrf)
                #expect(refused.status == .badRequest, "\(fields)")
            }
            #expect(try await fixture.store.keys(tenantId: fixture.tenantA.tenant.id).count == 3)
            #expect(
                try await client.post(
                    "/ui/keys", session: session, fields: [("name", "x"), ("role", "admin")], csrf: nil
                ).status == .forbidden)

            // Revoked at once; revoking again is a 404; another tenant's key cannot be revoked.
            let revoke = "/ui/keys/\(minted.id)/revoke"
            #expect(try await client.post(revoke, session: session, fields: [], csrf: session.csrf).status == .seeOther)
            #expect(try await fixture.store.key(hash: APIKey.hash(of: text))?.revokedAt != nil)
            #expect(try await client.page("/ui/keys", session: session).text.contains("revoked"))
            let other = try await client.signIn(key: fixture.tenantB.admin)
            let own = try #require(
                try await fixture.store.keys(tenantId: fixture.tenantA.tenant.id).first { $0.role == .admin })
            #expect(
                try await client.post("/ui/keys/\(own.id)/revoke", session: other, fields: [], csrf: other.csrf).status
                    == .notFound)
            // Revoking the key this session signed in with ends the session.
            let ended = try await client.post(
                "/ui/keys/\(own.id)/revoke", session: session, fields: [], csrf: session.csrf)
            #expect(ended.headers[.location] == "/ui/sign-in")
            #expect(try await client.page("/ui/keys", session: session).status == .seeOther)
        }
    }

    @Test("the connection form shows the API's validation errors and stores nothing, literal secrets included")
    func connectionValidation() async throws {
        let fixture = try await ControlPlaneFixture.make()
        try await fixture.application().test(.router) { client in
            let session = try await client.signIn(key: fixture.tenantA.admin)
            let cases: [([(String, String)], String)] = [
                (
                    [("name", "pg"), ("sourceKind", "postgresql"), ("sourceURL", "postgres://u:hunter2@db/x")],
                    "the URL carries a password"
                ),
                (
                    [
                        ("name", "pg"), ("sourceKind", "postgresql"), ("sourceURL", "postgres://u@db/x"),
                        ("secrets", "password = hunter2"),
                    ],
                    "never the secret itself"
                ),
                ([("name", "pg"), ("sourceKind", "oracle"), ("sourceURL", "x")], "sourceKind must be one of"),
                (
                    [("name", "pg"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/x"), ("secrets", "no equals")],
                    "role = reference"
                ),
                ([("name", ""), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/x")], "name"),
            ]
            for (fields, message) in cases {
                let response = try await client.post(
                    "/ui/connections", session: session, fields: fields, csrf: session.csrf)
                #expect(response.status == .badRequest, "\(fields)")
                #expect(response.text.contains(HTML.escape(message)), "\(fields): \(response.text)")
                #expect(!response.text.contains("hunter2") || fields.contains { $0.1.contains("hunter2") })
            }
            #expect(try await fixture.store.connections(tenantId: fixture.tenantA.tenant.id).isEmpty)

            // Edit: a valid change is saved; a conflicting name is refused.
            let fields = [
                ("name", "a"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/a.db"), ("schedule", "0 3 * * *"),
            ]
            _ = try await client.post("/ui/connections", session: session, fields: fields, csrf: session.csrf)
            _ = try await client.post(
                "/ui/connections", session: session,
                fields: [("name", "b"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/b.db")],
                csrf: session.csrf)
            let stored = try await fixture.store.connections(tenantId: fixture.tenantA.tenant.id)
            let a = try #require(stored.first { $0.name == "a" })
            #expect(a.schedule == "0 3 * * *")
            let renamed = try await client.post(
                "/ui/connections/\(a.id)", session: session,
                fields: [("name", "b"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/a.db")], csrf: session.csrf)
            #expect(renamed.status == .conflict)
            let saved = try await client.post(
                "/ui/connections/\(a.id)", session: session,
                fields: [
                    ("name", "a2"), ("sourceKind", "sqlite"), ("sourceURL", "sqlite:/a.db"),
                    ("includeSchemas", "main\r\nre:^stage_"),
                ],
                csrf: session.csrf)
            #expect(saved.status == .seeOther)
            let updated = try #require(
                try await fixture.store.connection(tenantId: fixture.tenantA.tenant.id, id: a.id))
            #expect(updated.name == "a2")
            #expect(updated.schedule == nil)
            #expect(updated.filters.includeSchemas == ["main", "re:^stage_"])
        }
    }
}

/// The live log view's JSON, as the browser script reads it.
struct UILogSliceView: Decodable {
    var text: String
    var nextOffset: Int64
    var totalBytes: Int64
    var finished: Bool
    var status: String
    var tone: String
}
