import Metadata

#if canImport(CDispatch)
    // `struct stat` is attributed to the C module of Dispatch on Linux: importing it makes its fields visible.
    import CDispatch
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks and creates the folder `outpost extract` writes into, before any source is contacted.
enum OutputDirectory {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Creates `path` (and parents) if missing, refuses one that already holds an extraction, and proves it
    /// writable by creating and removing a probe file.
    /// With `overwrite`, an earlier extraction's manifest and chunks are removed first (nothing else is touched).
    static func prepare(_ path: String, overwrite: Bool = false) throws -> ExtractionFolder {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o755) != 0 && errno != EEXIST {
                throw Failure(
                    description: "output directory \(path) is not writable: cannot create \(built): \(errorText())")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Failure(description: "output path \(path) exists and is not a directory")
        }
        let earlier = try extractionFiles(in: path)
        if !earlier.isEmpty {
            guard overwrite else {
                throw Failure(
                    description: "output directory \(path) already holds an extraction (\(earlier[0])): choose an "
                        + "empty directory or pass --overwrite")
            }
            for name in earlier where unlink(path + "/" + name) != 0 {
                throw Failure(description: "cannot remove \(path)/\(name): \(errorText())")
            }
        }
        let probe = path + "/.outpost-write-probe-\(getpid())"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw Failure(description: "output directory \(path) is not writable: \(errorText())")
        }
        close(descriptor)
        unlink(probe)
        return ExtractionFolder(path: path)
    }

    /// The manifest and chunk files (finished or temporary) of an earlier extraction, manifest first.
    private static func extractionFiles(in path: String) throws -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(MetadataFormat.manifestFileName) || name.hasPrefix("records-") { names.append(name) }
        }
        return names.sorted { lhs, rhs in lhs.hasPrefix("manifest") && !rhs.hasPrefix("manifest") }
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
