public import HTTPTypes
public import Hummingbird

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A JSON body with a status, for any `Encodable` value: wire types live in `OutpostProtocol`, which knows
/// nothing of Hummingbird, so they are wrapped here rather than made `ResponseEncodable`.
public struct JSONResponse<Value: Encodable & Sendable>: ResponseGenerator, Sendable {
    public var status: HTTPResponse.Status
    public var value: Value
    public var headers: HTTPFields

    public init(_ value: Value, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) {
        self.status = status
        self.value = value
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONResponse.make(value, status: status, headers: headers)
    }

    /// Encodes `value` into a response; sorted keys keep bodies stable for tests and diffs.
    static func make(
        _ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]
    ) throws
        -> Response
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.contentLength] = String(data.count)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
