import Foundation
import Metadata
import OutpostTesting
import Testing

/// `outpost extract` of a Tableau site from the fake Tableau server, as a user runs it.
@Suite("outpost extract of a Tableau site")
struct TableauExtractTests {
    @Test(
        "the token's secret never appears in output, logs or files; a wrong one fails clearly; a hidden project is partial"
    )
    func tokenNeverLeaks() throws {
        let directory = try TemporaryDirectory()
        let canary = "Canary-\(UUID().uuidString)"
        // The hostile site, its first token's secret replaced by the canary.
        var site =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: TestTableau.hostileSite))) as! [String: Any]
        var pats = site["pats"] as! [[String: Any]]
        pats[0]["secret"] = canary
        site["pats"] = pats
        let siteFile = directory.path + "/site.json"
        try JSONSerialization.data(withJSONObject: site).write(to: URL(fileURLWithPath: siteFile))
        let fake = try TestTableau(siteFile: siteFile)
        defer { fake.stop() }

        let output = directory.path + "/out"
        let result = try OutpostCLI.run(
            [
                "extract", "--source", fake.sourceURL(parameters: "&page_size=3"), "--output", output,
                "--pat-name", TestTableau.patName, "--pat-secret", "env:TABLEAU_PAT", "--log-level", "trace",
                "--no-progress", "--connection-name", "bi",
            ],
            environment: ["TABLEAU_PAT": canary])
        #expect(result.status == 2, "the project the token cannot read makes the run partial: \(result.standardError)")
        #expect(result.standardOutput.contains("Restricted"))
        #expect(!result.standardOutput.contains(canary) && !result.standardError.contains(canary))
        for file in try FileManager.default.contentsOfDirectory(atPath: output) {
            let data = try Data(contentsOf: URL(fileURLWithPath: output + "/" + file))
            #expect(data.range(of: Data(canary.utf8)) == nil, "\(file) holds the token's secret")
        }
        let validation = try OutpostCLI.validate(extraction: output)
        #expect(
            validation.status == 0, "the extraction validates against the JSON Schemas: \(validation.standardOutput)")
        let folder = ExtractionFolder(path: output)
        let manifest = try folder.readManifest()
        #expect(manifest.source.kind == "tableau" && manifest.counts["dashboard", default: 0] > 0)
        var kinds: Set<String> = []
        try folder.forEachRecord(in: manifest) { kinds.insert($0.kind.rawValue) }
        #expect(kinds == ["site", "project", "workbook", "sheet", "dashboard", "dataSource", "field", "customSQL"])

        let wrong = try OutpostCLI.run(
            [
                "extract", "--source", fake.sourceURL(), "--output", directory.path + "/w", "--pat-name",
                TestTableau.patName, "--pat-secret", "env:TABLEAU_PAT",
            ],
            environment: ["TABLEAU_PAT": canary + "-wrong"])
        #expect(wrong.status == 1)
        #expect(wrong.standardError.contains("refused personal access token 'outpost-pat'"), "\(wrong.standardError)")
        #expect(!wrong.standardError.contains(canary))

        let missing = try OutpostCLI.run(
            ["extract", "--source", fake.sourceURL(), "--output", directory.path + "/m", "--pat-name", "x"])
        #expect(missing.status == 64 && missing.standardError.contains("--pat-secret"), "\(missing.standardError)")
    }
}
