/// One line of a chunk as a reader that follows the versioning rule sees it: a record of a kind it knows, or a
/// record of a kind added by a later minor version, to be skipped.
///
/// Decoding `MetadataRecord` itself fails on a kind it does not know; readers that must keep working on files of
/// a later 1.x decode this instead and skip `.unknownKind` lines when the manifest's version is later than theirs
/// (`MetadataFormat.isLaterMinorVersion`).
public enum RecordLine: Sendable, Equatable {
    /// A record of a kind this version of the format defines.
    case record(MetadataRecord)
    /// A line whose `kind` this version does not define; nothing else of it was read.
    case unknownKind(String)
}

extension RecordLine: Decodable {
    private enum KindKey: String, CodingKey {
        case kind
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: KindKey.self)
        let kind = try container.decode(String.self, forKey: .kind)
        guard RecordKind(rawValue: kind) != nil else {
            self = .unknownKind(kind)
            return
        }
        self = .record(try MetadataRecord(from: decoder))
    }
}
