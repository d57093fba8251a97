// The Metadata module defines Outpost's metadata format v1: the records a connector emits, the qualified
// names that identify them, the gzip-compressed JSON Lines chunks they are written to, and the manifest
// that describes one extraction. Everything that writes or reads delivered metadata goes through here, so
// the agent, `outpost extract` and the control plane's ingestion agree byte for byte.

/// Version constants of the metadata format.
public enum MetadataFormat {
    /// The format version written into every manifest; readers refuse other major versions.
    public static let version = "1.1"
    /// The manifest's file name inside an extraction folder or bucket prefix.
    public static let manifestFileName = "manifest.json"
    /// The default upper bound of one chunk's uncompressed size.
    public static let defaultChunkBytes = 16 * 1024 * 1024
}
