// The catalog half of the conformance suite: staging, publishing and browsing, against both stores.

import Foundation
import Metadata
import OutpostProtocol
import OutpostTesting
import Synchronization
import Testing

@testable import ControlPlane
@testable import ControlPlaneStorage

@Suite("Storage conformance: catalog")
struct StorageCatalogConformanceTests {
    typealias F = StorageFixtures
    typealias C = CatalogFixtures

    // MARK: Publishing

    @Test(
        "staging outlives publish until cleared, and a restart clears only what no ingesting run still needs",
        arguments: StorageBackend.allCases)
    func abandonedStaging(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            // An ingesting run (claimed, then completed), and a published one whose staging was never cleared.
            let ingesting = try await C.run(store, connection, at: 1)
            let lease = try #require(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                    now: F.time(2)
                ).first)
            #expect(lease.id == ingesting.id)
            _ = try await store.updateLeased(
                tenantId: tenant.id, runId: ingesting.id, leaseId: lease.leaseId, now: F.time(3)
            ) { $0.status = .ingesting }
            let published = try await C.run(store, connection, at: 4)
            let assets = [C.database(), C.schema("public"), C.table("orders")]
            try await store.stage(tenantId: tenant.id, runId: ingesting.id, assets: assets)
            try await store.stage(tenantId: tenant.id, runId: published.id, assets: assets)
            _ = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: published.id, scope: C.scope(),
                now: F.time(5))
            // Publishing left the staging in place: staging the same asset again for that run conflicts.
            await #expect(throws: StorageError.self) {
                try await store.stage(tenantId: tenant.id, runId: published.id, assets: [C.table("orders")])
            }

            #expect(try await store.clearAbandonedStaging() == assets.count)
            #expect(try await store.clearAbandonedStaging() == 0)
            // The published run's staging is gone, the ingesting run's is whole.
            try await store.stage(tenantId: tenant.id, runId: published.id, assets: [C.table("orders")])
            try await store.clearStaging(tenantId: tenant.id, runId: published.id)
            for asset in assets {
                await #expect(throws: StorageError.self) {
                    try await store.stage(tenantId: tenant.id, runId: ingesting.id, assets: [asset])
                }
            }
        }
    }

    @Test(
        "publishing is ordered by run creation: an older delivery never replaces a newer one, whatever the clocks said",
        arguments: StorageBackend.allCases)
    func publishingIsOrdered(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            // Created in this order; the second carries an earlier timestamp (a replica whose clock is behind).
            let older = try await C.run(store, connection, at: 10)
            let newer = try await C.run(store, connection, at: 5)
            let newest = try await C.run(store, connection, at: 20)
            func publish(_ run: RunRecord, _ assets: [StagedAsset]) async throws -> PublishSummary {
                try await store.clearStaging(tenantId: tenant.id, runId: run.id)
                try await store.stage(tenantId: tenant.id, runId: run.id, assets: assets)
                return try await store.publish(
                    tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(), now: F.time(30))
            }
            let withoutCustomers = C.shop().filter { !$0.qualifiedName.contains("customers") }
            _ = try await publish(newer, withoutCustomers)
            // The older delivery (which still lists `customers`) comes late: refused, the catalog untouched.
            let refusal = await #expect(throws: StorageError.self) { try await publish(older, C.shop()) }
            #expect(refusal?.code == .superseded)
            #expect(
                try await store.asset(
                    tenantId: tenant.id, connectionId: connection.id, kind: "table",
                    qualifiedName: C.table("customers").qualifiedName) == nil)
            // The same run may publish again (a recovered ingestion of the delivery already published).
            #expect(try await publish(newer, withoutCustomers).unchanged == withoutCustomers.count)
            // A newer one publishes over it, and from then on the one before it is refused too.
            #expect(try await publish(newest, C.shop()).created == 2)
            let second = await #expect(throws: StorageError.self) { try await publish(newer, withoutCustomers) }
            #expect(second?.code == .superseded)
            #expect(
                try await store.asset(
                    tenantId: tenant.id, connectionId: connection.id, kind: "table",
                    qualifiedName: C.table("customers").qualifiedName)?.runId == newest.id)
        }
    }

    @Test("a first publish creates every staged asset", arguments: StorageBackend.allCases)
    func publishCreates(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = try await C.run(store, connection, at: 1)
            let assets = C.shop()
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: assets)
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(), now: F.time(2))
            #expect(summary == PublishSummary(created: assets.count, updated: 0, unchanged: 0, deleted: 0))

            let orders = try #require(
                try await store.asset(
                    tenantId: tenant.id, connectionId: connection.id, kind: "table", qualifiedName: C.orders))
            #expect(orders == C.catalogAsset(C.table("orders"), connection: connection, run: run))
            #expect(
                try await store.asset(
                    tenantId: tenant.id, connectionId: connection.id, kind: "view", qualifiedName: C.orders) == nil)
            let database = try #require(
                try await store.asset(
                    tenantId: tenant.id, connectionId: connection.id, kind: "database", qualifiedName: C.database))
            #expect(database.parent == nil)
        }
    }

    @Test("republishing identical staging leaves everything unchanged", arguments: StorageBackend.allCases)
    func republishUnchanged(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let first = try await C.publish(store, connection, C.shop(), at: 1)
            let second = try await C.run(store, connection, at: 10)
            try await store.stage(tenantId: tenant.id, runId: second.id, assets: C.shop())
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: second.id, scope: C.scope(), now: F.time(11))
            #expect(summary == PublishSummary(created: 0, updated: 0, unchanged: C.shop().count, deleted: 0))
            // The asset still names the run that last changed it.
            let orders = try await store.asset(
                tenantId: tenant.id, connectionId: connection.id, kind: "table", qualifiedName: C.orders)
            #expect(orders?.runId == first.id)
        }
    }

    @Test("an asset whose body changed is updated and names the new run", arguments: StorageBackend.allCases)
    func changedBodyUpdates(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            _ = try await C.publish(store, connection, C.shop(), at: 1)
            let changed = C.shop().map { $0.qualifiedName == C.orders ? C.table("orders", version: 2) : $0 }
            let second = try await C.run(store, connection, at: 10)
            try await store.stage(tenantId: tenant.id, runId: second.id, assets: changed)
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: second.id, scope: C.scope(), now: F.time(11))
            #expect(summary == PublishSummary(created: 0, updated: 1, unchanged: changed.count - 1, deleted: 0))
            let orders = try await store.asset(
                tenantId: tenant.id, connectionId: connection.id, kind: "table", qualifiedName: C.orders)
            #expect(orders == C.catalogAsset(C.table("orders", version: 2), connection: connection, run: second))
        }
    }

    @Test(
        "an asset missing from a complete schema is deleted, from an incomplete one kept",
        arguments: StorageBackend.allCases)
    func deletionOnlyInCompleteSchemas(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let staging = C.table("events", schema: "staging")
            let stagingColumn = C.column("id", table: "events", schema: "staging")
            _ = try await C.publish(
                store, connection, C.shop() + [C.schema("staging"), staging, stagingColumn], at: 1,
                scope: C.scope(schemas: [C.publicSchema, C.schemaName("staging")]))

            // Second delivery: `customers` (and its column) and `staging.events` are gone; only `public` is complete.
            let remaining = C.shop().filter { !$0.qualifiedName.hasPrefix(C.customers) } + [C.schema("staging")]
            let second = try await C.run(store, connection, at: 10)
            try await store.stage(tenantId: tenant.id, runId: second.id, assets: remaining)
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: second.id,
                scope: C.scope(schemas: [C.publicSchema]), now: F.time(11))
            #expect(summary == PublishSummary(created: 0, updated: 0, unchanged: remaining.count, deleted: 2))
            #expect(
                try await C.names(store, connection)
                    == Set(
                        remaining.map(\.qualifiedName) + [
                            staging.qualifiedName, stagingColumn.qualifiedName,
                        ]))
        }
    }

    @Test(
        "a schema that vanished from a complete database is deleted with its contents; the database stays",
        arguments: StorageBackend.allCases)
    func vanishedSchemaInCompleteDatabase(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let other = [C.database("crm"), C.schema("public", database: "crm"), C.table("leads", database: "crm")]
            let archive = [C.schema("archive"), C.table("old", schema: "archive")]
            _ = try await C.publish(store, connection, C.shop() + archive + other, at: 1)

            // `archive` vanished from `shop` (complete), and `crm` (not complete) delivered nothing at all.
            let second = try await C.run(store, connection, at: 10)
            try await store.stage(tenantId: tenant.id, runId: second.id, assets: C.shop())
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: second.id,
                scope: C.scope(schemas: [C.publicSchema], databases: [C.database]), now: F.time(11))
            #expect(summary.deleted == 2)
            #expect(try await C.names(store, connection) == Set((C.shop() + other).map(\.qualifiedName)))

            // Even a complete database's own entry is never deleted by a delivery that lacks it.
            let third = try await C.run(store, connection, at: 20)
            try await store.stage(tenantId: tenant.id, runId: third.id, assets: [])
            let empty = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: third.id,
                scope: C.scope(schemas: [], databases: [C.database]), now: F.time(21))
            #expect(empty.deleted == C.shop().count - 1)
            #expect(try await C.names(store, connection) == Set([C.database] + other.map(\.qualifiedName)))
        }
    }

    @Test("outOfScope is asked about deletion candidates only and protects them", arguments: StorageBackend.allCases)
    func outOfScopeProtects(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let excluded = C.table("tmp_load")
            _ = try await C.publish(store, connection, C.shop() + [excluded], at: 1)

            let asked = Questions()
            let scope = PublishScope(completeSchemas: [C.publicSchema], completeDatabases: []) { kind, name in
                asked.record("\(kind) \(name)")
                return name.hasSuffix("/tmp_load")
            }
            let remaining = C.shop().filter { !$0.qualifiedName.hasPrefix(C.customers) }
            let second = try await C.run(store, connection, at: 10)
            try await store.stage(tenantId: tenant.id, runId: second.id, assets: remaining)
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: second.id, scope: scope, now: F.time(11))
            #expect(summary.deleted == 2)
            #expect(
                asked.all.sorted() == [
                    "column \(C.customers)/id", "table \(C.customers)", "table \(excluded.qualifiedName)",
                ])
            #expect(
                try await store.asset(
                    tenantId: tenant.id, connectionId: connection.id, kind: "table",
                    qualifiedName: excluded.qualifiedName) != nil)
        }
    }

    @Test("a repeated asset in a run's staging is a conflict", arguments: StorageBackend.allCases)
    func duplicateStagedAsset(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = try await C.run(store, connection, at: 1)
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: [C.table("orders")])
            await expectStorageError(.conflict) {
                try await store.stage(tenantId: tenant.id, runId: run.id, assets: [C.table("orders", version: 2)])
            }
            await expectStorageError(.conflict) {
                try await store.stage(
                    tenantId: tenant.id, runId: run.id, assets: [C.table("lines"), C.table("lines", version: 2)])
            }
            // The same name under another kind is another asset.
            var view = C.table("orders")
            view.kind = "view"
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: [view])
            // A failed batch stages nothing of itself.
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(), now: F.time(2))
            #expect(summary.created == 2)
            await expectStorageError(.notFound) {
                try await store.stage(tenantId: tenant.id, runId: "run_missing", assets: [C.table("orders")])
            }
            await expectStorageError(.notFound) {
                _ = try await store.publish(
                    tenantId: tenant.id, connectionId: "con_missing", runId: run.id, scope: C.scope(), now: F.time(3))
            }
        }
    }

    @Test("clearStaging empties a run's staging, however large", arguments: StorageBackend.allCases)
    func stagingCleared(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = try await C.run(store, connection, at: 1)
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: C.shop())
            _ = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(), now: F.time(2))
            try await store.clearStaging(tenantId: tenant.id, runId: run.id)
            // Staging the same assets again is no conflict once cleared; more than one batch of clearStaging.
            let many = (0..<(SliceSize.maximum + 5)).map { C.table("t\($0)") }
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: C.shop() + many)
            try await store.clearStaging(tenantId: tenant.id, runId: run.id)
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: [C.table("orders", version: 3)])
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(schemas: []),
                now: F.time(3))
            #expect(summary == PublishSummary(created: 0, updated: 1, unchanged: 0, deleted: 0))
            try await store.clearStaging(tenantId: tenant.id, runId: run.id)
            let again = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(schemas: []),
                now: F.time(4))
            #expect(again == PublishSummary(created: 0, updated: 0, unchanged: 0, deleted: 0))
        }
    }

    @Test(
        "another tenant's publish, staging and search never touch a tenant's catalog",
        arguments: StorageBackend.allCases)
    func catalogTenantIsolation(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (a, connectionA) = try await F.seed(store)
            let b = F.tenant("intruder")
            try await store.createTenant(b)
            let connectionB = F.connection(b, name: "sales")
            try await store.createConnection(connectionB)
            let runA = try await C.run(store, connectionA, at: 1)
            try await store.stage(tenantId: a.id, runId: runA.id, assets: C.shop())

            // B cannot stage into, clear or publish A's run, nor publish into A's connection.
            await expectStorageError(.notFound) {
                try await store.stage(tenantId: b.id, runId: runA.id, assets: [C.table("planted")])
            }
            try await store.clearStaging(tenantId: b.id, runId: runA.id)
            await expectStorageError(.notFound) {
                _ = try await store.publish(
                    tenantId: b.id, connectionId: connectionA.id, runId: runA.id, scope: C.scope(), now: F.time(2))
            }
            let summaryA = try await store.publish(
                tenantId: a.id, connectionId: connectionA.id, runId: runA.id, scope: C.scope(), now: F.time(3))
            #expect(summaryA.created == C.shop().count)

            // B publishes the same qualified names, complete, into its own connection: A keeps everything.
            let runB = try await C.run(store, connectionB, at: 4)
            try await store.stage(tenantId: b.id, runId: runB.id, assets: [C.database(), C.schema("public")])
            let summaryB = try await store.publish(
                tenantId: b.id, connectionId: connectionB.id, runId: runB.id,
                scope: C.scope(schemas: [C.publicSchema], databases: [C.database]), now: F.time(5))
            #expect(summaryB == PublishSummary(created: 2, updated: 0, unchanged: 0, deleted: 0))
            #expect(try await C.names(store, connectionA) == Set(C.shop().map(\.qualifiedName)))

            #expect(
                try await store.searchAssets(tenantId: b.id, text: "orders", kind: nil, connectionId: nil, limit: 10)
                    == [])
            #expect(
                try await store.searchAssets(
                    tenantId: b.id, text: "", kind: nil, connectionId: connectionA.id, limit: 10) == [])
            #expect(
                try await store.asset(
                    tenantId: b.id, connectionId: connectionA.id, kind: "table", qualifiedName: C.orders)
                    == nil)
            #expect(
                try await store.children(tenantId: b.id, connectionId: connectionA.id, parent: C.publicSchema) == [])
            #expect(
                try await store.searchAssets(tenantId: b.id, text: "", kind: nil, connectionId: nil, limit: 10).map(
                    \.connectionId) == [connectionB.id, connectionB.id])
        }
    }

    @Test("deleting a connection deletes its catalog", arguments: StorageBackend.allCases)
    func deleteConnectionDeletesAssets(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            _ = try await C.publish(store, connection, C.shop(), at: 1)
            #expect(try await store.deleteConnection(tenantId: tenant.id, id: connection.id))
            #expect(
                try await store.searchAssets(tenantId: tenant.id, text: "", kind: nil, connectionId: nil, limit: 10)
                    == [])
        }
    }

    // MARK: Browsing

    @Test(
        "search matches names and qualified names case-insensitively, filters, orders by name and limits",
        arguments: StorageBackend.allCases)
    func search(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, sales) = try await F.seed(store)
            let crm = F.connection(tenant, name: "crm")
            try await store.createConnection(crm)
            _ = try await C.publish(
                store, sales, C.shop() + [C.table("Order_Lines"), C.column("Größe", table: "orders")], at: 1)
            _ = try await C.publish(store, crm, [C.database(), C.schema("public"), C.table("orders")], at: 2)
            func search(
                _ text: String, kind: String? = nil, connection: String? = nil, limit: Int = 50
            )
                async throws -> [String]
            {
                try await store.searchAssets(
                    tenantId: tenant.id, text: text, kind: kind, connectionId: connection, limit: limit
                ).map { "\($0.kind) \($0.name)" }
            }
            // Names sort bytewise once lower-cased: `_` before `s`.
            #expect(try await search("ORDER", kind: "table") == ["table Order_Lines", "table orders", "table orders"])
            #expect(try await search("order", connection: crm.id) == ["table orders"])
            #expect(try await search("order", kind: "table", limit: 1) == ["table Order_Lines"])
            // The qualified name counts too: the columns of orders match.
            #expect(try await search("orders/", kind: "column") == ["column Größe", "column id"])
            #expect(try await search("GRÖ") == ["column Größe"])
            #expect(try await search("id", kind: "column") == ["column id", "column id"])
            #expect(try await search("id", kind: "table") == [])
            #expect(try await search("nothing like it") == [])
            #expect(try await search("orders", limit: 0) == [])
            #expect(try await search("%") == [])
            #expect(try await search("_") == ["table Order_Lines"])
        }
    }

    @Test(
        "listing: every word in name, qualified name or comment; place, database, schema and kinds; orders; pages; facets; child counts",
        arguments: StorageBackend.allCases)
    func listing(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, sales) = try await F.seed(store)
            let crm = F.connection(tenant, name: "crm")
            try await store.createConnection(crm)
            var invoices = C.table("invoices", schema: "billing")
            invoices.comment = "Monthly INVOICES sent to Customers"
            let tables = (1...23).map { C.table(String(format: "t%02d", $0), schema: "bulk") }
            _ = try await C.publish(
                store, sales,
                C.shop() + [C.schema("billing"), invoices, C.schema("bulk")] + tables, at: 1,
                scope: C.scope(schemas: [C.publicSchema, C.schemaName("billing"), C.schemaName("bulk")]))
            _ = try await C.publish(store, crm, [C.database(), C.schema("public"), C.table("orders")], at: 2)
            func list(_ query: CatalogQuery) async throws -> [String] {
                try await store.listAssets(tenantId: tenant.id, query: query).assets.map { "\($0.kind) \($0.name)" }
            }
            // Every word must occur, in any of the three texts, in any case; the comment is searched.
            #expect(try await list(CatalogQuery(terms: ["monthly", "customers"])) == ["table invoices"])
            #expect(try await list(CatalogQuery(terms: ["billing", "invoices"])) == ["table invoices"])
            #expect(try await list(CatalogQuery(terms: ["monthly", "orders"])) == [])
            // Place: top level is the databases; children of a schema; in a schema; kinds.
            #expect(try await list(CatalogQuery(connectionId: sales.id, place: .topLevel)) == ["database shop"])
            #expect(
                try await list(CatalogQuery(connectionId: sales.id, place: .children(of: C.database)))
                    == ["schema billing", "schema bulk", "schema public"])
            #expect(
                try await list(CatalogQuery(kinds: ["column"], schema: C.publicSchema)) == ["column id", "column id"])
            #expect(try await list(CatalogQuery(kinds: ["schema", "database"], connectionId: crm.id)).count == 2)
            #expect(try await list(CatalogQuery(qualifiedName: C.orders)) == ["table orders", "table orders"])
            // Pages: stable, with the total; past the end is empty with the total still right.
            let bulk = C.schemaName("bulk")
            let first = try await store.listAssets(
                tenantId: tenant.id, query: CatalogQuery(place: .children(of: bulk), limit: 10))
            let third = try await store.listAssets(
                tenantId: tenant.id, query: CatalogQuery(place: .children(of: bulk), offset: 20, limit: 10))
            #expect(first.total == 23 && third.total == 23)
            #expect(first.assets.map(\.name) == (1...10).map { String(format: "t%02d", $0) })
            #expect(third.assets.map(\.name) == ["t21", "t22", "t23"])
            let beyond = try await store.listAssets(
                tenantId: tenant.id, query: CatalogQuery(place: .children(of: bulk), offset: 30, limit: 10))
            #expect(beyond == CatalogPage(assets: [], total: 23))
            #expect(
                try await list(CatalogQuery(place: .children(of: bulk), descending: true, limit: 2)) == [
                    "table t23", "table t22",
                ])
            #expect(
                try await list(CatalogQuery(connectionId: sales.id, place: .children(of: C.database), order: .kind))
                    .first == "schema billing")
            // Facets count as if their own filter were not set.
            let facets = try await store.assetFacets(
                tenantId: tenant.id, query: CatalogQuery(terms: ["orders"], kinds: ["table"]), limit: 10)
            #expect(facets.kinds == [.init(value: "table", count: 2), .init(value: "column", count: 1)])
            #expect(Set(facets.connections) == [.init(value: sales.id, count: 1), .init(value: crm.id, count: 1)])
            #expect(facets.databases == [.init(value: C.database, count: 2)])
            #expect(facets.schemas == [.init(value: C.publicSchema, count: 2)])
            let top = try await store.assetFacets(tenantId: tenant.id, query: CatalogQuery(), limit: 1)
            #expect(top.kinds == [.init(value: "table", count: 2 + 1 + 23 + 1)])
            // Child counts by parent and kind.
            let counts = try await store.childCounts(
                tenantId: tenant.id, connectionId: sales.id, parents: [C.publicSchema, bulk, C.orders, "nothing"])
            #expect(counts == [C.publicSchema: ["table": 2], bulk: ["table": 23], C.orders: ["column": 1]])
        }
    }

    @Test(
        "database lineage edges become links: a table's views however deep, a graph walk bounded by depth and limit",
        arguments: StorageBackend.allCases)
    func databaseLineage(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let database = QualifiedName(["sales", "shop"])
            let schema = database.appending("public")
            func relation(_ kind: Relation.Kind, _ name: String) -> MetadataRecord {
                .relation(
                    Relation(
                        kind: kind, qualifiedName: schema.appending(name), name: name, database: database,
                        schema: schema))
            }
            func edge(
                _ upstream: String, _ upstreamKind: RecordKind, to view: String, _ kind: RecordKind
            )
                -> MetadataRecord
            {
                .lineageEdge(
                    LineageEdge(
                        downstream: schema.appending(view), downstreamKind: kind, upstream: schema.appending(upstream),
                        upstreamSchema: schema, upstreamKind: upstreamKind, name: upstream, database: database,
                        schema: schema, upstreamColumns: []))
            }
            let records: [MetadataRecord] = [
                .database(Database(qualifiedName: database, name: "shop")),
                .schema(Schema(qualifiedName: schema, name: "public", database: database)),
                relation(.table, "orders"), relation(.view, "open_orders"), relation(.view, "late_orders"),
                relation(.materializedView, "late_by_day"),
                edge("orders", .table, to: "open_orders", .view),
                edge("open_orders", .view, to: "late_orders", .view),
                edge("late_orders", .view, to: "late_by_day", .materializedView),
            ]
            _ = try await C.publish(
                store, connection,
                try records.map {
                    Ingestor<SQLiteControlPlaneStore, LocalBlobStore>.asset(
                        $0, body: Array(try JSONEncoder().encode($0)))
                },
                at: 1)
            let orders = schema.appending("orders").description
            let built = try await store.lineageAbove(
                tenantId: tenant.id, connectionId: connection.id, kind: "table", qualifiedName: orders, limit: 10)
            #expect(built.assets.map(\.name).sorted() == ["late_by_day", "late_orders", "open_orders"])
            func links(
                _ kind: String, _ name: String, _ direction: LineageDirection, depth: Int, limit: Int = 100
            ) async throws -> ([String], Bool) {
                let walk = try await store.lineageLinks(
                    tenantId: tenant.id, connectionId: connection.id, kind: kind,
                    qualifiedName: schema.appending(name).description, direction: direction, depth: depth, limit: limit)
                return (walk.links.map { "\($0.from.name)→\($0.to.name)" }, walk.truncated)
            }
            #expect(try await links("table", "orders", .above, depth: 1) == (["orders→open_orders"], false))
            #expect(
                try await links("table", "orders", .above, depth: 6).0 == [
                    "late_orders→late_by_day", "open_orders→late_orders", "orders→open_orders",
                ])
            #expect(
                try await links("materializedView", "late_by_day", .below, depth: 2).0 == [
                    "late_orders→late_by_day", "open_orders→late_orders",
                ])
            #expect(try await links("table", "orders", .below, depth: 3) == ([], false))
            #expect(try await links("table", "orders", .above, depth: 6, limit: 2).1)
        }
    }

    @Test("children lists a parent's assets by kind, then name", arguments: StorageBackend.allCases)
    func children(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let run = try await C.publish(store, connection, C.shop() + [C.column("amount", table: "orders")], at: 1)
            let columns = try await store.children(tenantId: tenant.id, connectionId: connection.id, parent: C.orders)
            #expect(columns.map(\.name) == ["amount", "id"])
            #expect(
                columns.first == C.catalogAsset(C.column("amount", table: "orders"), connection: connection, run: run))
            let relations = try await store.children(
                tenantId: tenant.id, connectionId: connection.id, parent: C.publicSchema)
            #expect(relations.map(\.name) == ["customers", "orders"])
            #expect(
                try await store.children(tenantId: tenant.id, connectionId: connection.id, parent: C.database).map(
                    \.name) == ["public"])
            #expect(try await store.children(tenantId: tenant.id, connectionId: connection.id, parent: "x/y") == [])
        }
    }

    // MARK: Run log totals

    @Test(
        "a version 1 database upgrades in place: runs keep their rows and gain empty log totals",
        arguments: StorageBackend.allCases)
    func upgradeFromVersionOne(backend: StorageBackend) async throws {
        try await backend.withVersionOneStore { store, execute in
            let tenant = F.tenant("acme")
            try await store.createTenant(tenant)
            var connection = F.connection(tenant)
            connection.delivery = Delivery(mode: .direct)
            connection.filters = JobFilters()
            connection.secrets = [:]
            let run = F.run(connection, at: 1)
            let filters = try StoredJSON.encode(connection.filters)
            let delivery = try StoredJSON.encode(connection.delivery)
            // Identifiers, numbers and JSON without quotes ' generated by the fixtures: safe to inline.
            try await execute(
                """
                INSERT INTO connections (tenant_id, id, name, source_kind, source_url, secrets, filters, delivery, pool,
                    schedule, created_at, updated_at)
                VALUES ('\(tenant.id)', '\(connection.id)', '\(connection.name)', '\(connection.sourceKind)',
                    '\(connection.sourceURL)', '{}', '\(filters)', '\(delivery)', '\(connection.pool)',
                    '\(connection.schedule ?? "")', \(connection.createdAt.milliseconds),
                    \(connection.updatedAt.milliseconds))
                """)
            try await execute(
                """
                INSERT INTO runs (tenant_id, id, connection_id, status, attempt, max_attempts, lease_id, created_at)
                VALUES ('\(run.tenantId)', '\(run.id)', '\(run.connectionId)', '\(run.status.rawValue)', \(run.attempt),
                    \(run.maxAttempts), \(run.leaseId), \(run.createdAt.milliseconds))
                """)
            try await store.migrate()
            #expect(try await store.connection(tenantId: tenant.id, id: connection.id) == connection)
            #expect(try await appliedMigrations(store) == allMigrationVersions(store))
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == run)
            try await store.stage(tenantId: tenant.id, runId: run.id, assets: C.shop())
            let summary = try await store.publish(
                tenantId: tenant.id, connectionId: connection.id, runId: run.id, scope: C.scope(), now: F.time(2))
            #expect(summary.created == C.shop().count)
        }
    }

    @Test("log totals are stored on create and through updateLeased", arguments: StorageBackend.allCases)
    func logTotals(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            var run = F.run(connection, at: 0)
            #expect(run.logTotalBytes == nil && run.logSHA256 == nil && run.logDroppedBytes == nil)
            run.logDroppedBytes = 3
            try await store.createRun(run)
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == run)
            let lease = try #require(
                try await store.claimRuns(
                    tenantId: tenant.id, agentId: "agent-1", pools: ["default"], limit: 1, ttlSeconds: 60,
                    now: F.time(1)
                ).first)
            let digest = String(repeating: "ab", count: 32)
            let completed = try #require(
                try await store.updateLeased(tenantId: tenant.id, runId: run.id, leaseId: lease.leaseId, now: F.time(2))
                {
                    $0.status = .ingesting
                    $0.logTotalBytes = 1 << 33
                    $0.logSHA256 = digest
                    $0.logDroppedBytes = 0
                })
            #expect(completed.logTotalBytes == 1 << 33)
            #expect(completed.logSHA256 == digest)
            #expect(completed.logDroppedBytes == 0)
            #expect(try await store.run(tenantId: tenant.id, id: run.id) == completed)
            #expect(try await store.runs(tenantId: tenant.id, connectionId: nil, limit: 1) == [completed])
        }
    }

    // MARK: Volume

    @Test(
        "a large staged catalog publishes, then republishes with changes, in batches",
        .timeLimit(.minutes(10)), arguments: StorageBackend.allCases)
    func volume(backend: StorageBackend) async throws {
        try await backend.withStore { store in
            let (tenant, connection) = try await F.seed(store)
            let clock = ContinuousClock()
            var report: [String] = []
            for round in 1...2 {
                let run = try await C.run(store, connection, at: round * 100)
                var expected = VolumeCatalog.Expectation()
                let staging = try await clock.measure {
                    var batch: [StagedAsset] = []
                    batch.reserveCapacity(1000)
                    for index in 0..<VolumeCatalog.count {
                        batch.append(VolumeCatalog.asset(index, round: round, expecting: &expected))
                        if batch.count == 1000 {
                            try await store.stage(tenantId: tenant.id, runId: run.id, assets: batch)
                            batch.removeAll(keepingCapacity: true)
                        }
                    }
                    if !batch.isEmpty { try await store.stage(tenantId: tenant.id, runId: run.id, assets: batch) }
                }
                var summary: PublishSummary?
                let publishing = try await clock.measure {
                    summary = try await store.publish(
                        tenantId: tenant.id, connectionId: connection.id, runId: run.id,
                        scope: PublishScope(
                            completeSchemas: VolumeCatalog.schemas, completeDatabases: [VolumeCatalog.database],
                            outOfScope: { _, _ in false }),
                        now: F.time(round * 100 + 1))
                }
                if round == 1 {
                    #expect(
                        summary == PublishSummary(created: VolumeCatalog.count, updated: 0, unchanged: 0, deleted: 0))
                } else {
                    #expect(
                        summary
                            == PublishSummary(
                                created: expected.replaced, updated: expected.changed,
                                unchanged: VolumeCatalog.count - expected.replaced - expected.changed,
                                deleted: expected.replaced))
                    #expect(
                        expected.changed > VolumeCatalog.count / 280 && expected.replaced > VolumeCatalog.count / 320)
                }
                report.append("round \(round): staged in \(staging), published in \(publishing)")
            }
            let found = try await store.searchAssets(
                tenantId: tenant.id, text: "n_", kind: "column", connectionId: connection.id, limit: 5)
            #expect(found.count == 5)
            print(
                "catalog volume (\(backend.rawValue), \(VolumeCatalog.count) assets): \(report.joined(separator: "; "))"
            )
        }
    }
}

/// What a `PublishScope.outOfScope` closure was asked, from whichever thread the store calls it on.
final class Questions: Sendable {
    private let asked = Mutex<[String]>([])

    func record(_ question: String) {
        asked.withLock { $0.append(question) }
    }

    var all: [String] { asked.withLock { $0 } }
}

/// Small catalogs for the catalog tests: connection `sales`, database `shop`, schema `public` with `orders` and
/// `customers`, each with an `id` column.
enum CatalogFixtures {
    static let database = "sales/shop"
    static let publicSchema = "sales/shop/public"
    static let orders = "sales/shop/public/orders"
    static let customers = "sales/shop/public/customers"

    static func schemaName(_ schema: String, database: String = "shop") -> String { "sales/\(database)/\(schema)" }

    static func database(_ name: String = "shop") -> StagedAsset {
        asset("database", "sales/\(name)", name: name, parent: nil, schema: nil, database: "sales/\(name)")
    }

    static func schema(_ name: String, database: String = "shop") -> StagedAsset {
        let qualified = schemaName(name, database: database)
        return asset(
            "schema", qualified, name: name, parent: "sales/\(database)", schema: qualified,
            database: "sales/\(database)")
    }

    static func table(
        _ name: String, schema: String = "public", database: String = "shop", version: Int = 1
    ) -> StagedAsset {
        let schemaName = schemaName(schema, database: database)
        return asset(
            "table", "\(schemaName)/\(name)", name: name, parent: schemaName, schema: schemaName,
            database: "sales/\(database)", version: version)
    }

    static func column(_ name: String, table: String, schema: String = "public") -> StagedAsset {
        let schemaName = schemaName(schema)
        return asset(
            "column", "\(schemaName)/\(table)/\(name)", name: name, parent: "\(schemaName)/\(table)",
            schema: schemaName, database: "sales/shop")
    }

    /// The database, `public`, `orders` and `customers` with their `id` columns.
    static func shop() -> [StagedAsset] {
        [
            database(), schema("public"), table("orders"), column("id", table: "orders"), table("customers"),
            column("id", table: "customers"),
        ]
    }

    static func asset(
        _ kind: String, _ qualifiedName: String, name: String, parent: String?, schema: String?, database: String,
        version: Int = 1
    ) -> StagedAsset {
        StagedAsset(
            kind: kind, qualifiedName: qualifiedName, name: name, parent: parent, schema: schema, database: database,
            body: Array(#"{"kind":"\#(kind)","qualifiedName":"\#(qualifiedName)","version":\#(version)}"#.utf8))
    }

    static func scope(schemas: Set<String> = [publicSchema], databases: Set<String> = []) -> PublishScope {
        PublishScope(completeSchemas: schemas, completeDatabases: databases) { _, _ in false }
    }

    static func catalogAsset(_ asset: StagedAsset, connection: ConnectionRecord, run: RunRecord) -> CatalogAsset {
        CatalogAsset(
            connectionId: connection.id, kind: asset.kind, qualifiedName: asset.qualifiedName, name: asset.name,
            parent: asset.parent, body: asset.body, runId: run.id)
    }

    /// A stored run of `connection`, for staging.
    static func run(
        _ store: any ControlPlaneStore, _ connection: ConnectionRecord, at seconds: Int
    ) async throws
        -> RunRecord
    {
        let run = StorageFixtures.run(connection, at: seconds)
        try await store.createRun(run)
        return run
    }

    /// Stages `assets` for a new run and publishes them; returns the run.
    @discardableResult
    static func publish(
        _ store: any ControlPlaneStore, _ connection: ConnectionRecord, _ assets: [StagedAsset], at seconds: Int,
        scope: PublishScope = scope()
    ) async throws -> RunRecord {
        let run = try await run(store, connection, at: seconds)
        try await store.stage(tenantId: connection.tenantId, runId: run.id, assets: assets)
        _ = try await store.publish(
            tenantId: connection.tenantId, connectionId: connection.id, runId: run.id, scope: scope,
            now: StorageFixtures.time(seconds))
        return run
    }

    /// The qualified names of every asset of `connection`.
    static func names(_ store: any ControlPlaneStore, _ connection: ConnectionRecord) async throws -> Set<String> {
        Set(
            try await store.searchAssets(
                tenantId: connection.tenantId, text: "", kind: nil, connectionId: connection.id, limit: 10_000
            ).map(\.qualifiedName))
    }
}

/// A generated catalog of exactly `count` small assets: one database, 50 schemas, tables of nine columns each.
/// Round 2 changes the body of every 250th asset and replaces every 250th column (shifted by one) with a new one.
enum VolumeCatalog {
    // Large enough to prove staging and publishing are set-based and batched; the 250,000-record figure is a
    // benchmark matter, not a test (see the issue notes).
    static let count = 50_000
    static let schemaCount = 50
    static let database = "vol/db"
    static let schemas = Set((0..<schemaCount).map { "vol/db/s\($0)" })

    struct Expectation {
        var changed = 0
        var replaced = 0
    }

    static func asset(_ index: Int, round: Int, expecting expected: inout Expectation) -> StagedAsset {
        if index == 0 {
            return make("database", database, name: "db", parent: nil, schema: nil, version: 1)
        }
        if index <= schemaCount {
            let schema = "vol/db/s\(index - 1)"
            return make("schema", schema, name: "s\(index - 1)", parent: database, schema: schema, version: 1)
        }
        let position = index - schemaCount - 1
        let schema = "vol/db/s\(position % schemaCount)"
        let inSchema = position / schemaCount
        let table = "\(schema)/t\(inSchema / 10)"
        var version = 1
        if round == 2, index % 250 == 0 {
            version = 2
            expected.changed += 1
        }
        if inSchema % 10 == 0 {
            return make("table", table, name: "t\(inSchema / 10)", parent: schema, schema: schema, version: version)
        }
        var name = "c\(inSchema % 10)"
        if round == 2, index % 250 == 1 {
            name = "n_\(index)"
            expected.replaced += 1
        }
        return make("column", "\(table)/\(name)", name: name, parent: table, schema: schema, version: version)
    }

    private static func make(
        _ kind: String, _ qualifiedName: String, name: String, parent: String?, schema: String?, version: Int
    ) -> StagedAsset {
        StagedAsset(
            kind: kind, qualifiedName: qualifiedName, name: name, parent: parent, schema: schema, database: database,
            body: Array(#"{"kind":"\#(kind)","qualifiedName":"\#(qualifiedName)","v":\#(version)}"#.utf8))
    }
}

extension StorageBackend {
    /// Runs `body` with a store whose database holds schema version 1 only, and a way to run SQL on it (to insert
    /// rows in that version's columns); `body` migrates it further itself.
    func withVersionOneStore(
        _ body: (any ControlPlaneStore, _ execute: (String) async throws -> Void) async throws -> Void
    ) async throws {
        switch self {
        case .sqlite:
            let directory = try TemporaryDirectory()
            let store = try SQLiteControlPlaneStore(path: directory.path + "/outpost.sqlite")
            try await store.migrate(through: 1)
            try await body(store) { sql in try await store.executeForTest(sql) }
            try await store.close()
        case .postgres:
            try await StoragePostgres.withDatabase { url in
                let database = String(try #require(URLComponents(string: url)).path.dropFirst())
                try await StoragePostgres.withStore(url: url) { store in
                    try await store.migrate(through: 1)
                    try await body(store) { sql in try TestPostgres().psql(sql, database: database) }
                }
            }
        }
    }
}

extension SQLiteControlPlaneStore {
    fileprivate func executeForTest(_ sql: String) throws {
        try database.executeScript(sql)
    }
}
