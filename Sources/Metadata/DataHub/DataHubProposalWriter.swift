/// Streams DataHub metadata change proposals into a JSON array file, the format DataHub's `file` source reads:
/// `[`, one compact proposal per line separated by `,`, `]`.
///
/// Each proposal is `{"entityType", "entityUrn", "changeType": "UPSERT", "aspectName", "aspect": {"json": …}}`,
/// the "simplified" form DataHub's own file sink writes. The file is written under a temporary name and renamed
/// when complete, so a reader never ingests half an export; memory is one buffer of encoded proposals.
final class DataHubProposalWriter {
    private struct Proposal<Aspect: DataHubAspectValue>: Encodable {
        struct Body: Encodable {
            var json: Aspect
        }

        var entityType: String
        var entityUrn: String
        var changeType = "UPSERT"
        var aspectName: String
        var aspect: Body
    }

    /// The file written when `finish` succeeds.
    let path: String
    /// Proposals written so far.
    private(set) var count = 0
    /// Proposals written so far, per aspect name.
    private(set) var countsByAspect: [String: Int] = [:]

    private let file: OutputFile
    private let encoder = JSONLineEncoder()
    private var buffer: [UInt8] = []
    private var closed = false

    /// Creates the temporary file next to `path`; an existing file at `path` is replaced only by `finish`.
    init(path: String) throws {
        self.path = path
        FileSystem.remove(path + ".tmp")
        file = try OutputFile(creating: path + ".tmp")
        buffer.reserveCapacity(256 * 1024)
        buffer.append(contentsOf: "[\n".utf8)
    }

    deinit {
        if !closed { discard() }
    }

    /// Appends one UPSERT proposal of `aspect` for `entity`.
    func write<Aspect: DataHubAspectValue>(_ aspect: Aspect, for entity: DataHubNaming.Entity) throws {
        if count > 0 { buffer.append(contentsOf: ",\n".utf8) }
        let proposal = Proposal(
            entityType: entity.type, entityUrn: entity.urn, aspectName: Aspect.aspectName, aspect: .init(json: aspect))
        do {
            try encoder.encode(proposal, into: &buffer)
        } catch {
            throw MetadataError(
                .invalidRecord, "cannot encode the \(Aspect.aspectName) aspect of \(entity.urn): \(error)",
                underlying: error)
        }
        count += 1
        countsByAspect[Aspect.aspectName, default: 0] += 1
        if buffer.count >= 256 * 1024 { try flush() }
    }

    /// Closes the array, flushes to disk and moves the file into place.
    func finish() throws {
        buffer.append(contentsOf: (count > 0 ? "\n]\n" : "]\n").utf8)
        try flush()
        try file.close()
        try FileSystem.rename(file.path, to: path)
        closed = true
    }

    /// Removes the temporary file: the export failed.
    func discard() {
        closed = true
        try? file.close()
        FileSystem.remove(file.path)
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try file.write($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
