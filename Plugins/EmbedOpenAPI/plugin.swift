import PackagePlugin

/// Embeds `openapi/outpost-v1.yaml` — the one source of the control plane's OpenAPI document — into the target as
/// `OpenAPIDocument.yaml`, regenerated whenever the YAML changes, so the server serves exactly the document in the
/// repository.
@main
struct EmbedOpenAPI: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "openapi").appending(path: "outpost-v1.yaml")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenAPIDocument+YAML.swift")
        return [
            .buildCommand(
                displayName: "Embedding openapi/outpost-v1.yaml", executable: try context.tool(named: "EmbedText").url,
                arguments: [input.path(), output.path(), "OpenAPIDocument", "yaml"], inputFiles: [input],
                outputFiles: [output])
        ]
    }
}
