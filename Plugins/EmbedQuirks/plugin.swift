import PackagePlugin

/// Embeds the quirk database (`Quirks/*.toml` at the package root) into the QuirkDB module
/// as Swift string literals, so the database ships inside the binary without Foundation's
/// Bundle and is rebuilt whenever a quirk file changes.
@main
struct EmbedQuirks: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "Quirks")
        let files = try FileManagerShim.tomlFiles(in: directory)
        let output = context.pluginWorkDirectoryURL.appending(path: "BundledQuirks.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) quirk files",
                executable: try context.tool(named: "quirk-embedder").url,
                arguments: [output.path()] + files.map { $0.path() },
                inputFiles: files,
                outputFiles: [output])
        ]
    }
}
