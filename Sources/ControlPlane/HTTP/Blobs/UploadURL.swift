/// The pre-signed upload URLs of direct ingestion: what `POST /v1/runs/{id}/uploads` hands out and
/// `PUT /v1/blobs/{run}/{file}` accepts.
///
/// `<base>/v1/blobs/<run>/<file>?tenant=…&bytes=…&sha256=…&expires=…&signature=…`: every value the signature covers
/// travels in the URL, so the server needs no state per grant, and changing any of them breaks the signature. The
/// tenant is in the URL because runs are looked up per tenant; it is an identifier, not a secret.
enum UploadURL {
    /// The header an upload carries its SHA-256 in (lower-case hex), so a wrong file is refused before it is read.
    static let checksumHeader = "x-outpost-sha256"

    /// The longest file name a grant is given for, in UTF-8 bytes.
    static let maximumFileNameBytes = 255

    /// Whether `name` may be a delivered file's name: `manifest.json` or a chunk name such as
    /// `records-00001.jsonl.gz`.
    ///
    /// Letters, digits, `.`, `_` and `-` only, not starting with `.`: such a name is one path segment that needs
    /// no escaping in a URL, cannot climb out of the run's folder of the blob store, and matches what the
    /// agent's chunk writer produces.
    static func isSafeFileName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= maximumFileNameBytes, bytes.first != UInt8(ascii: ".") else {
            return false
        }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }

    /// The URL of `grant`, signed with `signature`.
    static func make(baseURL: String, grant: UploadSigner.Grant, signature: String) -> String {
        "\(baseURL)/v1/blobs/\(grant.runId)/\(grant.path)?tenant=\(escape(grant.tenantId))&bytes=\(grant.bytes)"
            + "&sha256=\(grant.sha256)&expires=\(grant.expires)&signature=\(signature)"
    }

    /// The grant an upload request claims to carry, and its signature; nil when a value is missing or malformed
    /// (the caller answers `invalid_signature`, since nothing can be verified).
    static func grant(
        runId: String, path: String, query: (String) -> String?
    ) -> (grant: UploadSigner.Grant, signature: String)? {
        guard let tenantId = query("tenant"), !tenantId.isEmpty,
            let bytes = query("bytes").flatMap({ Int64($0) }),
            let sha256 = query("sha256"),
            let expires = query("expires").flatMap({ Int64($0) }),
            let signature = query("signature")
        else { return nil }
        let grant = UploadSigner.Grant(
            tenantId: tenantId, runId: runId, path: path, bytes: bytes, sha256: sha256, expires: expires)
        return (grant, signature)
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                result.unicodeScalars.append("%")
                result.unicodeScalars.append(hex[Int(byte >> 4)])
                result.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return result
    }
}
