import Agent
import ControlPlane
import Foundation
import OutpostProtocol
import OutpostTesting
import Testing

@Suite("Tableau runs through the agent", .serialized)
struct TableauAgentRunTests {
    @Test("two runs with the same Tableau token take turns: no session is broken, and the run that waits says so")
    func sameTokenRunsTakeTurns() async throws {
        let fake = try TestTableau(options: ["--max-page-size", "3"])
        defer { fake.stop() }
        try await withControlPlane { controlPlane in
            let setup = try AgentSetup(
                controlPlane: controlPlane, concurrency: 2, extraPolicy: "    - \"tableau://127.0.0.1:*/**\"")
            let nameFile = setup.directory.path + "/pat-name"
            let secretFile = setup.directory.path + "/pat-secret"
            try Data(TestTableau.patName.utf8).write(to: URL(fileURLWithPath: nameFile))
            try Data(TestTableau.patSecret.utf8).write(to: URL(fileURLWithPath: secretFile))
            var runs: [String] = []
            for name in ["tableau-a", "tableau-b"] {
                let connection = try await controlPlane.createConnection(
                    ConnectionRequest(
                        name: name, sourceKind: "tableau", sourceURL: fake.sourceURL(parameters: "&page_size=2"),
                        secrets: ["patName": "file:\(nameFile)", "patSecret": "file:\(secretFile)"]))
                runs.append(try await controlPlane.runNow(connection.id).id)
            }
            let queued = runs
            try await withAgent(setup) { _ in
                for runId in queued {
                    let run = try await controlPlane.finished(runId, within: .seconds(120))
                    #expect(run.status == .partial, "the project the token cannot read: \(run.error ?? "")")
                }
            }
            var waited = 0
            for runId in queued {
                let log = try await controlPlane.log(runId)
                #expect(!log.contains(TestTableau.patSecret))
                if log.contains("run.waiting") && log.contains("same Tableau personal access token") { waited += 1 }
            }
            #expect(waited == 1, "one run waited for the other")
            let stats = try fake.stats()
            #expect(stats["signIns"] as? Int == 2 && stats["signOuts"] as? Int == 2)
            #expect(stats["unauthorized"] as? Int == 0, "no run's session was ended by the other's sign-in")
        }
    }
}
