import HTTPTypes
import Hummingbird
import NIOCore
import OutpostProtocol

extension Request {
    /// Collects the body, refusing with 413 anything larger than `limit` bytes.
    ///
    /// A declared `Content-Length` over the limit is refused before a byte is read.
    mutating func collectBody(limit: Int) async throws -> ByteBuffer {
        if let declared = headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError.payloadTooLarge(limit: limit)
        }
        do {
            return try await collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(limit: limit)
        }
    }

    /// Decodes a JSON body of at most `limit` bytes into `type`, refusing unknown fields, wrong types and
    /// malformed JSON with 400 naming the field.
    mutating func decodeJSON<T: Decodable>(
        _ type: T.Type, limit: Int = AgentProtocol.maximumBodyBytes
    ) async throws -> T {
        let body = try await collectBody(limit: limit)
        do {
            return try StrictJSONDecoder().decode(type, from: body.readableBytesView)
        } catch {
            throw APIError.invalidRequest(error.message, field: error.field)
        }
    }
}
