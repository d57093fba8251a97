import ArgumentParser
import Metadata

/// `outpost export`: converts an extraction folder into another catalog's format.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Convert an extraction folder into another catalog's format.",
        subcommands: [DataHubExportCommand.self]
    )
}

/// `outpost export datahub`: a DataHub metadata file that DataHub's `file` source ingests.
struct DataHubExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datahub",
        abstract: "Write an extraction as a DataHub metadata file (MCP JSON), checked by `datahub check metadata-file`."
    )

    @Option(name: .long, help: "The extraction folder (holding manifest.json).")
    var input: String

    @Option(name: .long, help: "The DataHub metadata file to write.")
    var output: String

    @Option(name: .long, help: "The DataHub environment of every entity (PROD, DEV, …).")
    var env: String = "PROD"

    @Option(name: .long, help: "A DataHub platform instance, for several servers of one platform.")
    var platformInstance: String?

    func run() throws {
        guard let environment = DataHubExporter.Environment(rawValue: env.uppercased()) else {
            let known = DataHubExporter.Environment.allCases.map(\.rawValue).joined(separator: ", ")
            Terminal.error("unknown DataHub environment '\(env)': use one of \(known)")
            throw ExitCode(ExitStatus.usage)
        }
        try DataHubExport.write(
            folder: ExtractionFolder(path: input), to: output,
            exporter: DataHubExporter(environment: environment, platformInstance: platformInstance))
    }
}

/// The export step shared by `outpost export datahub` and `outpost extract --datahub-file`.
enum DataHubExport {
    static func write(folder: ExtractionFolder, to path: String, exporter: DataHubExporter = DataHubExporter()) throws {
        do {
            let summary = try exporter.export(folder: folder, to: path)
            let bi =
                summary.charts + summary.dashboards > 0
                ? "\(summary.charts) charts, \(summary.dashboards) dashboards, " : ""
            print(
                "wrote DataHub metadata file \(path): \(summary.datasets) datasets, \(summary.containers) containers, "
                    + bi + "\(summary.aspects) aspects")
        } catch {
            Terminal.error("DataHub export failed: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
    }
}
