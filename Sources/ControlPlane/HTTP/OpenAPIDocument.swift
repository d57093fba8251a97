// The document itself, `OpenAPIDocument.yaml`, is embedded from openapi/outpost-v1.yaml at build time by the
// EmbedOpenAPI plugin (Plugins/EmbedOpenAPI): the YAML is the only copy there is.

import Hummingbird

/// The OpenAPI 3.1 document of the control plane's HTTP API (agent API v1, uploads, admin API), compiled into the
/// server so that `GET /openapi.yaml` serves exactly the document the running server was built and tested with.
/// `yaml` (the text) is generated from `openapi/outpost-v1.yaml` when the target builds.
public enum OpenAPIDocument {
    /// `GET /openapi.yaml`: the document as `application/yaml`, without authentication.
    static var response: Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/yaml", .contentLength: String(body.readableBytes)],
            body: ResponseBody(byteBuffer: body))
    }

    private static let body = ByteBuffer(string: yaml)
}
