internal import AsyncHTTPClient
internal import NIOCore
internal import NIOSSL

extension HTTPClient {
    /// Executes `request`; a failed TLS handshake with `endpoint` becomes an `ObjectStoreError` `tls`, any other
    /// failure before an answer `network`, both worded as `what` (the operation and its target) failing.
    func execute(
        _ request: HTTPClientRequest, timeout: TimeAmount, failing what: String, endpoint: String
    ) async throws -> HTTPClientResponse {
        do {
            return try await execute(request, timeout: timeout)
        } catch let error as NIOSSLError {
            throw ObjectStoreError(
                .tls, "\(what) failed: the TLS handshake with \(endpoint) failed (\(error))", underlying: error)
        } catch {
            throw ObjectStoreError(.network, "\(what) did not get an answer (\(error))", underlying: error)
        }
    }
}

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
