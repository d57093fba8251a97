import Foundation
import OutpostTesting
import Testing

/// Memory must not grow with catalog size: extraction streams, it does not accumulate.
@Suite("Bounded memory")
struct MemoryBoundTests {
    /// Builds a synthetic catalog with the shared benchmark generator; returns the database name.
    static func buildCatalog(_ server: TestPostgres, schemas: Int) throws -> String {
        let generator = BuildProducts.repositoryRoot + "/../shared/bench/gen_catalog.py"
        guard FileManager.default.fileExists(atPath: generator) else {
            throw TestPostgres.Unavailable(description: "\(generator) is missing: ../shared must sit beside the clone")
        }
        let sql = try ChildProcess.run(
            "/usr/bin/env", ["python3", generator, "--schemas", String(schemas), "--seed", "42"])
        guard sql.status == 0 else {
            throw TestPostgres.Unavailable(description: "gen_catalog.py failed: \(sql.standardError)")
        }
        return try server.createDatabase(prefix: "outpost_mem", loading: sql.standardOutput)
    }

    @Test("extracting a catalog ten times larger does not use meaningfully more memory")
    func flatMemory() throws {
        let server = try TestPostgres()
        let small = try Self.buildCatalog(server, schemas: 2)
        defer { server.dropDatabase(small) }
        let large = try Self.buildCatalog(server, schemas: 20)
        defer { server.dropDatabase(large) }
        let directory = try TemporaryDirectory()
        var peaks: [String: Int] = [:]
        var records: [String: Int] = [:]
        for database in [small, large] {
            // Warm-up run, then the measured one, so both measure a steady state.
            for run in ["warm", "measured"] {
                let output = "\(directory.path)/\(database)-\(run)"
                let (result, peak) = try OutpostCLI.runMeasuringMemory(
                    [
                        "extract", "--source", server.url(database: database), "--output", output, "--no-progress",
                        "--chunk-size", "1",
                    ],
                    environment: ["PGPASSWORD": server.password])
                #expect(result.status == 0, "\(result.standardError)")
                peaks[database] = peak
                let summary = result.standardOutput.split(separator: " ")
                records[database] = Int(summary.dropFirst().first ?? "") ?? 0
            }
        }
        let smallPeak = try #require(peaks[small])
        let largePeak = try #require(peaks[large])
        #expect(try #require(records[large]) > 9 * (try #require(records[small])))
        // Ten times the records; allow 20 % for allocator noise, far below what accumulating would cost.
        #expect(
            Double(largePeak) <= Double(smallPeak) * 1.2,
            "peak RSS \(smallPeak) KiB for \(records[small] ?? 0) records vs \(largePeak) KiB for \(records[large] ?? 0)"
        )
    }
}
