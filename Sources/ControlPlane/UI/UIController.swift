import ControlPlaneStorage
import HTTPTypes
import Hummingbird
import Logging
import Metadata
import NIOCore
import OutpostProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `/ui`: the web UI's routes. Each handler reads through the same store calls as the admin API and reuses its
/// rules (`ConnectionValidation`, "run now", agent status, catalog limits), so the UI can never accept what the API
/// refuses.
struct UIController<Store: ControlPlaneStore, Blobs: BlobStore>: Sendable {
    let store: Store
    let blobs: Blobs
    let configuration: ServerConfiguration
    let notifier: RunNotifier
    let clock: WallClock
    let authenticator: Authenticator<Store>

    /// The most log shown when a run page opens (its end); the live view then follows from there.
    static var initialLogBytes: Int { 64 * 1024 }
    /// The most one poll of the live log view returns.
    static var logSliceBytes: Int { 64 * 1024 }
    /// A manifest larger than this is not shown (it still was verified on ingestion).
    static var maximumManifestBytes: Int { 4 * 1024 * 1024 }

    var cookies: UICookies { UICookies(secure: configuration.secureCookies) }
    var connections: ConnectionsController<Store> {
        ConnectionsController(store: store, configuration: configuration, notifier: notifier, clock: clock)
    }

    func addRoutes(to ui: RouterGroup<UIRequestContext>) {
        ui.get("static/outpost.css") { _, _ in UIStaticFiles.stylesheet() }
        ui.get("static/outpost.js") { _, _ in UIStaticFiles.script() }
        ui.get("sign-in", use: signInForm)
        ui.post("sign-in", use: signIn)

        let app = ui.group().add(middleware: UISessionMiddleware(store: store, cookies: cookies, clock: clock))
        app.get(use: overview)
        app.post("sign-out", use: signOut)
        app.get("agents", use: agents)
        app.get("connections", use: connectionList)
        app.get("connections/new", use: newConnection)
        app.post("connections", use: createConnection)
        app.get("connections/{id}", use: connection)
        app.post("connections/{id}", use: updateConnection)
        app.post("connections/{id}/run", use: runNow)
        app.get("runs", use: runList)
        app.get("runs/{id}", use: run)
        app.get("runs/{id}/log", use: runLog)
        app.post("runs/{id}/cancel", use: cancelRun)
        app.post("agents/{id}/drain", use: drainAgent)
        app.get("keys", use: keyList)
        app.post("keys", use: createKey)
        app.post("keys/{id}/revoke", use: revokeKey)
        app.get("catalog", use: catalog)
        app.get("catalog/browse", use: browse)
        app.get("catalog/asset", use: asset)
        app.get("catalog/lineage", use: lineageGraph)
    }

    // MARK: Sign-in and sign-out

    @Sendable func signInForm(_ request: Request, context: UIRequestContext) async throws -> Response {
        if let token = cookies.value(cookies.session, in: request),
            try await store.session(hash: UIToken.hash(token), now: clock.now) != nil
        {
            return UIViews.redirect(to: "/ui")
        }
        return signInPage(error: nil, status: .ok)
    }

    /// Checks the key like the API does (same failure limit per address), then starts a server-side session.
    @Sendable func signIn(_ request: Request, context: UIRequestContext) async throws -> Response {
        var request = request
        let form = try await UISessionMiddleware<Store>.form(of: &request)
        guard UIOrigin.isSameOrigin(request), let expected = cookies.value(cookies.signIn, in: request),
            let sent = form["csrf"], UIToken.equal(sent, expected)
        else {
            return signInPage(
                error: "The sign-in form expired or came from another site. Please try again.", status: .forbidden)
        }
        let identity: Identity
        do {
            identity = try await authenticator.authenticate(
                keyText: form["key"]?.trimmingWhitespace ?? "", clientAddress: context.clientAddress, role: .admin,
                logger: context.logger)
        } catch let error as APIError {
            var response = signInPage(error: Self.signInMessage(error), status: error.status)
            for field in error.headers { response.headers.append(field) }
            return response
        }
        let now = clock.now
        let token = UIToken.make()
        _ = try await store.deleteExpiredSessions(now: now)
        try await store.createSession(
            SessionRecord(
                hash: UIToken.hash(token), tenantId: identity.tenantId, keyId: identity.keyId,
                csrfToken: UIToken.make(), createdAt: now,
                expiresAt: now.adding(seconds: configuration.uiSessionSeconds)))
        context.logger.info(
            "ui.signed_in", metadata: ["tenant.id": .string(identity.tenantId), "key.id": .string(identity.keyId)])
        var response = UIViews.redirect(to: "/ui")
        response.headers.append(
            HTTPField(
                name: .setCookie,
                value: cookies.header(name: cookies.session, value: token, maxAge: configuration.uiSessionSeconds)))
        response.headers.append(
            HTTPField(name: .setCookie, value: cookies.header(name: cookies.signIn, value: "", maxAge: 0)))
        return response
    }

    @Sendable func signOut(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        _ = try await store.deleteSession(hash: session.hash)
        var response = UIViews.redirect(to: "/ui/sign-in")
        response.headers.append(
            HTTPField(name: .setCookie, value: cookies.header(name: cookies.session, value: "", maxAge: 0)))
        return response
    }

    /// The sign-in page with a fresh double-submit token in its form and cookie.
    private func signInPage(error: String?, status: HTTPResponse.Status) -> Response {
        let token = UIToken.make()
        var response = UIViews.response(UIViews.signInPage(csrf: token, error: error), status: status)
        response.headers.append(
            HTTPField(name: .setCookie, value: cookies.header(name: cookies.signIn, value: token, maxAge: 3600)))
        return response
    }

    static func signInMessage(_ error: APIError) -> String {
        switch error.status {
        case .tooManyRequests: "Too many failed sign-ins from this address. Wait a minute and try again."
        case .forbidden: "That key is not an admin key. Sign in with a key of the admin role."
        default: "That key was not accepted: it is unknown, revoked or expired."
        }
    }

    // MARK: Overview and agents

    @Sendable func overview(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let now = clock.now
        let agents = try await agentStatuses(tenantId: session.tenantId, now: now)
        let connections = try await store.connections(tenantId: session.tenantId)
        let runs = try await store.runs(tenantId: session.tenantId, connectionId: nil, limit: 10)
        return UIViews.response(
            UIViews.overviewPage(
                agents: agents, connections: connections, runs: runs, names: Self.names(connections),
                csrf: session.csrfToken))
    }

    @Sendable func agents(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let now = clock.now
        let agents = try await agentStatuses(tenantId: session.tenantId, now: now)
        let keys = Dictionary(
            try await store.keys(tenantId: session.tenantId).map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first })
        return UIViews.response(UIViews.agentsPage(agents: agents, keys: keys, now: now, csrf: session.csrfToken))
    }

    /// Asks the agent to stop claiming and exit once its jobs finish, like `POST /v1/admin/agents/{id}/drain`.
    @Sendable func drainAgent(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let id = try context.parameters.require("id")
        guard try await store.requestDrain(tenantId: session.tenantId, id: id) else {
            throw APIError.notFound("There is no agent \(id).")
        }
        context.logger.info("agent.drain_requested", metadata: ["agent.id": .string(id)])
        return UIViews.redirect(to: "/ui/agents")
    }

    private func agentStatuses(tenantId: String, now: Timestamp) async throws -> [(AgentRecord, AgentResponse.Status)] {
        let rules = AgentsController(store: store, configuration: configuration, clock: clock)
        return try await store.agents(tenantId: tenantId).map { ($0, rules.status(of: $0, now: now)) }
    }

    // MARK: Keys

    var keys: KeysController<Store> { KeysController(store: store, clock: clock) }

    @Sendable func keyList(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        return UIViews.response(try await keysPage(session: session))
    }

    /// Mints a key like `POST /v1/admin/keys`; its text is shown on the page that answers, once.
    @Sendable func createKey(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = context.form
        do {
            guard let role = form["role"].flatMap(APIKeyRole.init(rawValue:)) else {
                throw APIError.invalidRequest("choose the key's role", field: "role")
            }
            var expiresAt: Timestamp?
            switch form["expiresInDays"] ?? "" {
            case "": break
            case let text:
                guard let days = Int(text), (1...3650).contains(days) else {
                    throw APIError.invalidRequest("the expiry is 1–3650 days, or never", field: "expiresInDays")
                }
                expiresAt = clock.now.adding(seconds: days * 86_400)
            }
            let minted = try await keys.mint(
                name: form["name"]?.trimmingWhitespace ?? "", role: role, expiresAt: expiresAt,
                tenantId: session.tenantId, now: clock.now, logger: context.logger)
            return UIViews.response(try await keysPage(session: session, created: minted), status: .created)
        } catch let error as APIError where error.status == .badRequest {
            return UIViews.response(try await keysPage(session: session, error: error), status: .badRequest)
        }
    }

    /// Revokes a key at once, like `DELETE /v1/admin/keys/{id}`; revoking the key this session signed in with ends
    /// the session.
    @Sendable func revokeKey(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let id = try context.parameters.require("id")
        guard try await store.revokeKey(tenantId: session.tenantId, id: id, at: clock.now) else {
            throw APIError.notFound("There is no active key \(id).")
        }
        context.logger.info("key.revoked", metadata: ["key.id": .string(id)])
        return UIViews.redirect(to: id == session.keyId ? "/ui/sign-in" : "/ui/keys")
    }

    private func keysPage(
        session: SessionRecord, created: MintedAPIKey? = nil, error: APIError? = nil
    ) async throws -> Node {
        UIViews.keysPage(
            keys: try await store.keys(tenantId: session.tenantId), sessionKeyId: session.keyId, created: created,
            error: error, now: clock.now, csrf: session.csrfToken)
    }

    // MARK: Connections

    @Sendable func connectionList(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let connections = try await store.connections(tenantId: session.tenantId)
        return UIViews.response(UIViews.connectionsPage(connections: connections, csrf: session.csrfToken))
    }

    @Sendable func newConnection(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        return UIViews.response(
            UIViews.connectionFormPage(
                form: ConnectionForm(), connection: nil, runs: [], error: nil, csrf: session.csrfToken))
    }

    @Sendable func createConnection(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = ConnectionForm(context.form)
        do {
            let now = clock.now
            let record = try ConnectionValidation.record(
                from: try form.request(), tenantId: session.tenantId, id: Identifier.make("con"), createdAt: now,
                now: now)
            do {
                try await store.createConnection(record)
            } catch let error as StorageError where error.code == .conflict {
                throw APIError.conflict("a connection named '\(record.name)' exists already", field: "name")
            }
            context.logger.info("connection.created", metadata: ["connection.id": .string(record.id)])
            return UIViews.redirect(to: "/ui/connections/\(HTML.percentEncode(record.id))?saved=1")
        } catch let error as APIError where error.status.code < 500 {
            return UIViews.response(
                UIViews.connectionFormPage(
                    form: form, connection: nil, runs: [], error: error, csrf: session.csrfToken),
                status: error.status)
        }
    }

    @Sendable func connection(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let connection = try await existingConnection(context)
        let runs = try await store.runs(tenantId: session.tenantId, connectionId: connection.id, limit: 20)
        return UIViews.response(
            UIViews.connectionFormPage(
                form: ConnectionForm(connection), connection: connection, runs: runs, error: nil,
                saved: request.uri.queryParameters.get("saved") == "1", csrf: session.csrfToken))
    }

    /// Replaces every setting, like `PUT /v1/admin/connections/{id}`.
    @Sendable func updateConnection(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let current = try await existingConnection(context)
        let form = ConnectionForm(context.form)
        do {
            let record = try ConnectionValidation.record(
                from: try form.request(), tenantId: current.tenantId, id: current.id, createdAt: current.createdAt,
                now: clock.now)
            let updated: Bool
            do {
                updated = try await store.updateConnection(record)
            } catch let error as StorageError where error.code == .conflict {
                throw APIError.conflict("a connection named '\(record.name)' exists already", field: "name")
            }
            guard updated else { throw APIError.notFound("no connection \(current.id)") }
            return UIViews.redirect(to: "/ui/connections/\(HTML.percentEncode(record.id))?saved=1")
        } catch let error as APIError where error.status.code < 500 && error.status != .notFound {
            let runs = try await store.runs(tenantId: session.tenantId, connectionId: current.id, limit: 20)
            return UIViews.response(
                UIViews.connectionFormPage(
                    form: form, connection: current, runs: runs, error: error, csrf: session.csrfToken),
                status: error.status)
        }
    }

    @Sendable func runNow(_ request: Request, context: UIRequestContext) async throws -> Response {
        let connection = try await existingConnection(context)
        let run = try await connections.queueRun(of: connection, logger: context.logger)
        return UIViews.redirect(to: "/ui/runs/\(HTML.percentEncode(run.id))")
    }

    private func existingConnection(_ context: UIRequestContext) async throws -> ConnectionRecord {
        let session = try context.requireSession()
        let id = try context.parameters.require("id")
        guard let connection = try await store.connection(tenantId: session.tenantId, id: id) else {
            throw APIError.notFound("There is no connection \(id).")
        }
        return connection
    }

    // MARK: Runs

    @Sendable func runList(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let query = request.uri.queryParameters
        let connectionId = query.get("connectionId").flatMap { $0.isEmpty ? nil : $0 }
        let runs = try await store.runs(tenantId: session.tenantId, connectionId: connectionId, limit: 100)
        let connections = try await store.connections(tenantId: session.tenantId)
        return UIViews.response(
            UIViews.runsPage(runs: runs, names: Self.names(connections), csrf: session.csrfToken))
    }

    @Sendable func run(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let run = try await existingRun(context)
        let connection = try await store.connection(tenantId: session.tenantId, id: run.connectionId)
        let manifest = await manifest(of: run, connection: connection)
        let log = try await initialLog(of: run)
        return UIViews.response(
            UIViews.runPage(
                run: run, connection: connection, manifest: manifest, log: log, now: clock.now,
                csrf: session.csrfToken))
    }

    /// `?from=N`: the log bytes after offset N as JSON, for the live view; never splits a UTF-8 character.
    @Sendable func runLog(_ request: Request, context: UIRequestContext) async throws -> Response {
        let run = try await existingRun(context)
        let from = try RunsController<Store>.integer(request.uri.queryParameters.get("from"), field: "from", default: 0)
        guard from >= 0 else { throw APIError.invalidRequest("from must not be negative", field: "from") }
        var bytes =
            Int64(from) < run.logBytes
            ? try await store.readLog(
                tenantId: run.tenantId, runId: run.id, from: Int64(from), limit: Self.logSliceBytes)
            : []
        bytes.removeLast(RunsController<Store>.incompleteUTF8Suffix(bytes))
        let slice = UILogSlice(
            text: String(decoding: bytes, as: UTF8.self), nextOffset: Int64(from + bytes.count),
            totalBytes: run.logBytes, finished: run.status.isFinished, status: run.status.rawValue,
            tone: UIViews.tone(of: run.status), startedAt: run.startedAt.map { UIFormat.time($0) },
            finishedAt: run.finishedAt.map { UIFormat.time($0) }, duration: UIViews.runDuration(run, now: clock.now),
            cancellable: !run.status.isFinished && !run.cancelRequested)
        var response = try JSONResponse<UILogSlice>.make(slice, status: .ok)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// Cancels a queued run at once; a running one learns it on its agent's next lease renewal.
    @Sendable func cancelRun(_ request: Request, context: UIRequestContext) async throws -> Response {
        let run = try await existingRun(context)
        let rules = RunsController(store: store, clock: clock)
        _ = try await rules.cancel(run, reason: "cancelled by an administrator in the web UI", logger: context.logger)
        return UIViews.redirect(to: "/ui/runs/\(HTML.percentEncode(run.id))")
    }

    private func existingRun(_ context: UIRequestContext) async throws -> RunRecord {
        let session = try context.requireSession()
        let id = try context.parameters.require("id")
        guard let run = try await store.run(tenantId: session.tenantId, id: id) else {
            throw APIError.notFound("There is no run \(id).")
        }
        return run
    }

    /// The end of the run's log (at most `initialLogBytes`), starting on a character boundary.
    private func initialLog(of run: RunRecord) async throws -> UIViews.LogExcerpt {
        var start = max(0, run.logBytes - Int64(Self.initialLogBytes))
        guard run.logBytes > 0 else { return UIViews.LogExcerpt(start: 0, text: "", next: 0) }
        var bytes = try await store.readLog(
            tenantId: run.tenantId, runId: run.id, from: start, limit: Int(run.logBytes - start))
        if start > 0 {
            let skip = bytes.prefix(3).prefix { $0 & 0xC0 == 0x80 }.count
            bytes.removeFirst(skip)
            start += Int64(skip)
        }
        bytes.removeLast(RunsController<Store>.incompleteUTF8Suffix(bytes))
        return UIViews.LogExcerpt(
            start: start, text: String(decoding: bytes, as: UTF8.self), next: start + Int64(bytes.count))
    }

    /// The delivered manifest, for direct-ingestion runs that delivered one; a note saying why not otherwise.
    private func manifest(of run: RunRecord, connection: ConnectionRecord?) async -> UIViews.ManifestState {
        let key = Ingestor<Store, Blobs>.blobKey(
            tenantId: run.tenantId, runId: run.id, file: MetadataFormat.manifestFileName)
        var bytes: [UInt8] = []
        do {
            try await blobs.read(key: key) { piece in
                bytes += piece
                guard bytes.count <= Self.maximumManifestBytes else {
                    throw BlobError(.tooLarge, "manifest too large to show")
                }
            }
        } catch let error as BlobError where error.code == .notFound {
            if connection?.delivery.mode == .relay {
                return .unavailable("This connection delivers to its own bucket; the manifest stays there.")
            }
            return .unavailable(run.status.isFinished ? "No manifest was delivered." : "Not delivered yet.")
        } catch let error as BlobError where error.code == .tooLarge {
            return .unavailable("The manifest is larger than 4 MiB and is not shown here.")
        } catch {
            return .unavailable("The manifest could not be read.")
        }
        do {
            return .delivered(try JSONDecoder().decode(Manifest.self, from: Data(bytes)))
        } catch {
            return .unavailable("The delivered manifest is not a valid v1 manifest.")
        }
    }

    // MARK: Catalog

    /// The catalog: its connections to browse; with words or filters, the matching assets with facets, sorted and
    /// paged (the admin API's search and its rules).
    @Sendable func catalog(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let fields = Self.queryFields(request)
        let connections = try await store.connections(tenantId: session.tenantId)
        let listing: CatalogListing
        do {
            listing = try CatalogListing(fields: fields, store: Store.self)
        } catch let refusal as APIError where refusal.status == .badRequest {
            var fallback = CatalogListing()
            fallback.text = fields["q"] ?? ""
            return UIViews.response(
                UIViews.catalogSearchPage(
                    listing: fallback, results: CatalogPage(assets: [], total: 0), facets: nil,
                    names: Self.names(connections), error: refusal.problem.message, csrf: session.csrfToken),
                status: .badRequest)
        }
        guard listing.isNarrowed else {
            let counts = try await store.assetFacets(
                tenantId: session.tenantId, query: CatalogQuery(), limit: max(connections.count, 1),
                dimensions: [.connection])
            return UIViews.response(
                UIViews.catalogLandingPage(
                    connections: connections,
                    assetCounts: Dictionary(counts.connections.map { ($0.value, $0.count) }, uniquingKeysWith: +),
                    csrf: session.csrfToken))
        }
        let query = listing.query()
        let results = try await store.listAssets(tenantId: session.tenantId, query: query)
        let facets = try await store.assetFacets(
            tenantId: session.tenantId, query: query, limit: CatalogController<Store>.facetLimit)
        return UIViews.response(
            UIViews.catalogSearchPage(
                listing: listing, results: results, facets: facets, names: Self.names(connections), error: nil,
                csrf: session.csrfToken))
    }

    /// `?connectionId=&parent=`: one level of a connection's tree (its top level without `parent`), with the kinds
    /// it holds, what each entry contains, sorted and paged.
    @Sendable func browse(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let listing = try CatalogListing(fields: Self.queryFields(request), store: Store.self)
        guard let connectionId = listing.connectionId else {
            throw APIError.invalidRequest("connectionId is required", field: "connectionId")
        }
        guard let connection = try await store.connection(tenantId: session.tenantId, id: connectionId) else {
            throw APIError.notFound("There is no connection \(connectionId).")
        }
        var here: CatalogAsset?
        var trail: [CatalogAsset] = []
        if let parent = listing.parent {
            guard let found = try await assetNamed(parent, connectionId: connectionId, tenantId: session.tenantId)
            else { throw APIError.notFound("There is no \(parent) in this catalog.") }
            here = found
            trail = try await ancestors(of: found, tenantId: session.tenantId)
        }
        var levelQuery = listing.query(browsing: true)
        let results = try await store.listAssets(tenantId: session.tenantId, query: levelQuery)
        levelQuery.kinds = []
        let kinds = try await store.assetFacets(
            tenantId: session.tenantId, query: levelQuery, limit: 50, dimensions: [.kind]
        ).kinds
        let contents = try await store.childCounts(
            tenantId: session.tenantId, connectionId: connectionId, parents: results.assets.map(\.qualifiedName))
        return UIViews.response(
            UIViews.catalogBrowsePage(
                listing: listing, connection: connection, trail: trail, here: here, kinds: kinds, results: results,
                contents: contents, csrf: session.csrfToken))
    }

    /// The asset a qualified name names in a connection, whatever its kind: a relation before other kinds of the
    /// same name (a table and its primary key may share one).
    private func assetNamed(
        _ qualifiedName: String, connectionId: String, tenantId: String
    ) async throws
        -> CatalogAsset?
    {
        let found = try await store.listAssets(
            tenantId: tenantId,
            query: CatalogQuery(connectionId: connectionId, qualifiedName: qualifiedName, order: .kind, limit: 20)
        ).assets
        let preferred = CatalogController<Store>.relationKinds.union(UIViews.browsedKinds)
        return found.first { preferred.contains($0.kind) } ?? found.first
    }

    /// The assets above `asset`, outermost first (database, schema, table): at most a few lookups.
    private func ancestors(of asset: CatalogAsset, tenantId: String) async throws -> [CatalogAsset] {
        var trail: [CatalogAsset] = []
        var next = asset.parent
        while let parent = next, trail.count < 8,
            let found = try await assetNamed(parent, connectionId: asset.connectionId, tenantId: tenantId)
        {
            trail.insert(found, at: 0)
            next = found.parent
        }
        return trail
    }

    /// The request's query string read as a form (`+` is a space), as the search form sends it.
    static func queryFields(_ request: Request) -> FormFields {
        FormFields(parsing: Array((request.uri.query ?? "").utf8))
    }

    /// `?connectionId=&kind=&qualifiedName=`: one asset with its columns, keys, indexes and lineage, or children, and
    /// its lineage across connections (a BI asset's sources down to the warehouse, a table's users up to the
    /// dashboards).
    @Sendable func asset(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let query = Self.queryFields(request)
        guard let connectionId = query["connectionId"], !connectionId.isEmpty,
            let qualifiedName = query["qualifiedName"], !qualifiedName.isEmpty
        else { throw APIError.invalidRequest("connectionId and qualifiedName are required") }
        let asset: CatalogAsset
        if let kind = try CatalogController<Store>.kind(query["kind"]) {
            guard
                let found = try await store.asset(
                    tenantId: session.tenantId, connectionId: connectionId, kind: kind, qualifiedName: qualifiedName)
            else { throw APIError.notFound("There is no \(kind) \(qualifiedName) in this catalog.") }
            asset = found
        } else {
            guard
                let found = try await assetNamed(qualifiedName, connectionId: connectionId, tenantId: session.tenantId)
            else { throw APIError.notFound("There is no \(qualifiedName) in this catalog.") }
            asset = found
        }
        // A container opens as its contents, unless its record is asked for.
        if UIViews.browsedKinds.contains(asset.kind) && query["record"] != "1" {
            return UIViews.redirect(to: UIViews.openLink(asset))
        }
        // A container's contents are paged on its browse page, never listed whole here.
        let children =
            UIViews.browsedKinds.contains(asset.kind)
            ? []
            : try await store.children(
                tenantId: session.tenantId, connectionId: connectionId, parent: asset.qualifiedName)
        let connection = try await store.connection(tenantId: session.tenantId, id: connectionId)
        let decoder = JSONDecoder()
        func record(_ asset: CatalogAsset) -> MetadataRecord? {
            try? decoder.decode(MetadataRecord.self, from: Data(asset.body))
        }
        // A column's page shows the keys and indexes of its table that it is part of.
        var tableParts: [(CatalogAsset, MetadataRecord?)] = []
        if asset.kind == RecordKind.column.rawValue, let table = asset.parent {
            tableParts = try await store.children(
                tenantId: session.tenantId, connectionId: connectionId, parent: table
            ).filter { $0.kind != RecordKind.column.rawValue }.map { ($0, record($0)) }
        }
        let lineage = try await CatalogLineage(store: store).view(of: asset, tenantId: session.tenantId)
        let names = lineage.isEmpty ? [:] : Self.names(try await store.connections(tenantId: session.tenantId))
        return UIViews.response(
            UIViews.assetPage(
                asset: asset, record: record(asset), connectionName: connection?.name,
                trail: try await ancestors(of: asset, tenantId: session.tenantId),
                children: children.map { ($0, record($0)) }, tableParts: tableParts, lineage: lineage,
                connectionNames: names, csrf: session.csrfToken))
    }

    /// `?connectionId=&kind=&qualifiedName=&depth=`: the asset's lineage inside its connection as a graph, `depth`
    /// (1–6) steps each way.
    @Sendable func lineageGraph(_ request: Request, context: UIRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let query = Self.queryFields(request)
        guard let connectionId = query["connectionId"], !connectionId.isEmpty,
            let kind = try CatalogController<Store>.kind(query["kind"]),
            let qualifiedName = query["qualifiedName"], !qualifiedName.isEmpty
        else { throw APIError.invalidRequest("connectionId, kind and qualifiedName are required") }
        let depth = try RunsController<Store>.integer(
            query["depth"], field: "depth", default: LineageGraph.defaultDepth)
        guard (1...LineageGraph.maximumDepth).contains(depth) else {
            throw APIError.invalidRequest("depth is 1–\(LineageGraph.maximumDepth)", field: "depth")
        }
        guard
            let asset = try await store.asset(
                tenantId: session.tenantId, connectionId: connectionId, kind: kind, qualifiedName: qualifiedName)
        else { throw APIError.notFound("There is no \(kind) \(qualifiedName) in this catalog.") }
        func walk(_ direction: LineageDirection) async throws -> (links: [LineageLink], truncated: Bool) {
            try await store.lineageLinks(
                tenantId: session.tenantId, connectionId: connectionId, kind: kind, qualifiedName: qualifiedName,
                direction: direction, depth: depth, limit: LineageGraph.linkLimit)
        }
        let (below, above) = (try await walk(.below), try await walk(.above))
        let graph = LineageGraph(
            center: LineageAsset(
                connectionId: asset.connectionId, kind: asset.kind, qualifiedName: asset.qualifiedName,
                name: asset.name, parent: asset.parent, runId: asset.runId),
            below: below.links, above: above.links, depth: depth, truncated: below.truncated || above.truncated)
        let connection = try await store.connection(tenantId: session.tenantId, id: connectionId)
        return UIViews.response(
            UIViews.lineageGraphPage(
                graph: graph, connectionName: connection?.name, depth: depth, csrf: session.csrfToken))
    }

    static func names(_ connections: [ConnectionRecord]) -> [String: String] {
        Dictionary(connections.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }
}

/// What the live log view receives per poll.
struct UILogSlice: Codable, Sendable, Equatable {
    var text: String
    var nextOffset: Int64
    /// The log's stored length so far.
    var totalBytes: Int64
    var finished: Bool
    /// The run's status, so the page's badge follows along.
    var status: String
    /// The badge's tone class for `status`.
    var tone: String
    /// When the run started and finished, as the page writes times; nil while it has not.
    var startedAt: String?
    var finishedAt: String?
    /// How long it took, or has taken so far.
    var duration: String
    /// Whether the page still offers to cancel it.
    var cancellable: Bool
}
