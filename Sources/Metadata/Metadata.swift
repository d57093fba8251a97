// The Metadata module defines Outpost's metadata format v1: the records a connector emits, the qualified
// names that identify them, the gzip-compressed JSON Lines chunks they are written to, and the manifest
// that describes one extraction. Everything that writes or reads delivered metadata goes through here, so
// the agent, `outpost extract` and the control plane's ingestion agree byte for byte.

/// Version constants of the metadata format.
public enum MetadataFormat {
    /// The format version written into every manifest; readers refuse other major versions.
    public static let version = "1.2"
    /// The manifest's file name inside an extraction folder or bucket prefix.
    public static let manifestFileName = "manifest.json"
    /// The default upper bound of one chunk's uncompressed size.
    public static let defaultChunkBytes = 16 * 1024 * 1024

    /// Whether a manifest's `formatVersion` is a later 1.x minor version than this reader's.
    ///
    /// Only such a file may hold records of kinds this reader does not know: readers skip them (a later minor
    /// version may add kinds, see docs/metadata-format.md), while in a file of this or an earlier version an
    /// unknown kind is an invalid record.
    public static func isLaterMinorVersion(_ formatVersion: String) -> Bool {
        func minor(_ text: String) -> Int? {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "1" else { return nil }
            return Int(parts[1])
        }
        guard let theirs = minor(formatVersion), let ours = minor(version) else { return false }
        return theirs > ours
    }
}
