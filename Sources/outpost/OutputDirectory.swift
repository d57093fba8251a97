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

    /// The folder to write into, and the directories `prepare` created for it (deepest last).
    struct Prepared {
        var folder: ExtractionFolder
        var created: [String]

        /// After a failed extraction: removes the directories `prepare` created, those left empty.
        func removeCreated() {
            for directory in created.reversed() where rmdir(directory) != 0 { break }
        }
    }

    /// Creates `path` (and parents) if missing, refuses one that holds anything but an earlier extraction (and
    /// that only with `overwrite`, which removes its manifest and chunks first), and proves it writable by creating
    /// and removing a probe file.
    static func prepare(_ path: String, overwrite: Bool = false) throws -> Prepared {
        var built = path.hasPrefix("/") ? "" : "."
        var created: [String] = []
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o755) == 0 {
                created.append(built)
            } else if errno != EEXIST {
                Prepared(folder: ExtractionFolder(path: path), created: created).removeCreated()
                throw Failure(
                    description: "output directory \(path) is not writable: cannot create \(built): \(errorText())")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Failure(description: "output path \(path) exists and is not a directory")
        }
        let prepared = Prepared(folder: ExtractionFolder(path: path), created: created)
        let probe = path + "/" + probePrefix + "\(getpid())"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            let text = errorText()
            prepared.removeCreated()
            throw Failure(description: "output directory \(path) is not writable: \(text)")
        }
        close(descriptor)
        unlink(probe)
        let (earlier, others) = try entries(of: path)
        if let other = others.first {
            throw Failure(
                description: "output directory \(path) holds other files (\(other)): choose an empty or new directory")
        }
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
        return prepared
    }

    private static let probePrefix = ".outpost-write-probe-"

    /// What the folder holds: an earlier extraction's manifest and chunk files (finished or temporary), manifest
    /// first, and any other entry (a write probe of another `outpost extract` aside).
    private static func entries(of path: String) throws -> (extraction: [String], others: [String]) {
        guard let directory = opendir(path) else { return ([], []) }
        defer { closedir(directory) }
        var names: [String] = []
        var others: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." || name.hasPrefix(probePrefix) { continue }
            if name.hasPrefix(MetadataFormat.manifestFileName) || name.hasPrefix("records-") {
                names.append(name)
            } else {
                others.append(name)
            }
        }
        return (names.sorted { lhs, rhs in lhs.hasPrefix("manifest") && !rhs.hasPrefix("manifest") }, others.sorted())
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
