import Metadata

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the command line prints: one-line errors and warnings on stderr, the summary on stdout.
enum Terminal {
    static func error(_ message: String) {
        writeStandardError("outpost: error: \(message)\n")
    }

    static func warning(_ message: String) {
        writeStandardError("outpost: warning: \(message)\n")
    }

    /// Progress a person watching wants to see (on stderr, so stdout stays the summary).
    static func notice(_ message: String) {
        writeStandardError("outpost: \(message)\n")
    }

    static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    static func summary(manifest: Manifest, folder: String, elapsed: Duration) {
        let counts = manifest.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print(
            "extracted \(manifest.recordCount) records in \(format(elapsed)) into \(folder) "
                + "(\(manifest.files.count) files; \(counts))")
        let incomplete = manifest.completeness.filter { !$0.complete }
        if incomplete.isEmpty {
            print("status: complete")
        } else {
            print("status: partial — \(incomplete.count) incomplete:")
            for entry in incomplete {
                let place = entry.schema.map { "\(entry.database).\($0)" } ?? entry.database
                print("  \(place): \(entry.reason ?? "unknown reason")")
            }
        }
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "\(millis / 1000).\(String(millis % 1000).leftPadded(3))s"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
