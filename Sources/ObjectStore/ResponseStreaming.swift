internal import AsyncHTTPClient
internal import NIOCore

extension HTTPClientResponse {
    /// Hands the body to `receive` piece by piece as it arrives; a connection that breaks off becomes an
    /// `ObjectStoreError` `network` naming `target`. What `receive` throws is rethrown unchanged.
    func stream(downloading target: String, _ receive: (ByteBuffer) async throws -> Void) async throws {
        var iterator = body.makeAsyncIterator()
        while true {
            let piece: ByteBuffer?
            do {
                piece = try await iterator.next()
            } catch {
                throw ObjectStoreError(
                    .network, "the download of \(target) broke off (\(error))", underlying: error)
            }
            guard let piece else { return }
            try await receive(piece)
        }
    }
}
