import ControlPlane
import ControlPlaneStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import OutpostProtocol
import Testing

@Suite("Catalog admin API")
struct CatalogAPITests {
    @Test("search and asset queries are validated")
    func parametersAreValidated() async throws {
        try await DeliveryHarness.serve(setup: .router) { harness, client in
            let cases: [(String, String)] = [
                ("/v1/admin/catalog/search?kind=tables", "kind"),
                ("/v1/admin/catalog/search?limit=0", "limit"),
                ("/v1/admin/catalog/search?limit=501", "limit"),
                ("/v1/admin/catalog/search?limit=ten", "limit"),
                ("/v1/admin/catalog/search?q=\(String(repeating: "x", count: 201))", "q"),
                ("/v1/admin/catalog/assets?kind=table&qualifiedName=a", "connectionId"),
                ("/v1/admin/catalog/assets?connectionId=c&qualifiedName=a", "kind"),
                ("/v1/admin/catalog/assets?connectionId=c&kind=table", "qualifiedName"),
            ]
            for (uri, field) in cases {
                let response = try await client.send(.get, uri, key: harness.tenantA.admin)
                #expect(response.status == .badRequest, "\(uri)")
                #expect(response.problem?.field == field, "\(uri)")
            }
            let agent = try await client.send(.get, "/v1/admin/catalog/search?q=a", key: harness.tenantA.agent)
            #expect(agent.status == .forbidden)
            let unknown = try await client.send(
                .get, "/v1/admin/catalog/assets?connectionId=c&kind=table&qualifiedName=a", key: harness.tenantA.admin)
            #expect(unknown.status == .notFound)
        }
    }

    @Test("another tenant sees none of the catalog, even with the connection id and name")
    func catalogIsTenantScoped() async throws {
        try await DeliveryHarness.serve { harness, client in
            let connection = try await client.createConnection(harness, name: "wh")
            let folder = try harness.folder("delivery")
            try DeliveryWriter.write(
                [
                    CatalogRecords.database("wh", "d"), CatalogRecords.schema("wh", "d", "s"),
                    CatalogRecords.table("wh", "d", "s", "t"),
                ],
                connection: "wh",
                completeness: [
                    CatalogRecords.completeness("wh", "d", nil), CatalogRecords.completeness("wh", "d", "s"),
                ],
                into: folder)
            let run = try await client.deliver(
                harness, try await client.startRun(harness, connectionId: connection.id), folder: folder)
            #expect(run.status == .succeeded)
            #expect(try await client.search(harness, "q=t&connectionId=\(connection.id)").map(\.name) == ["t"])
            let database = try await client.asset(harness, connection.id, kind: "database", "wh/d")
            #expect(database.children?.map(\.qualifiedName) == ["wh/d/s"])
            #expect(database.columns == nil)

            #expect(try await client.search(harness, "q=t", tenant: harness.tenantB).isEmpty)
            let foreign = try await client.send(
                .get, "/v1/admin/catalog/assets?connectionId=\(connection.id)&kind=table&qualifiedName=wh%2Fd%2Fs%2Ft",
                key: harness.tenantB.admin)
            #expect(foreign.status == .notFound)
        }
    }
}
