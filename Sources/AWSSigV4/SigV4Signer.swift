// The AWSSigV4 module signs requests with AWS Signature Version 4, for the S3 API (bucket relay, S3 blob store)
// and AWS Secrets Manager, and with its Google Cloud Storage flavour (GOOG4: the same steps under other names)
// for V4 signed URLs and HMAC-keyed XML API requests. It does no I/O: it turns a request description into
// headers or a pre-signed URL, so it is tested byte for byte against AWS's own test suite, botocore and
// google-cloud-storage.

internal import CivilTime
internal import Crypto

/// AWS credentials. `description` never shows the secret.
public struct AWSCredentials: Sendable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String { "AWSCredentials(accessKeyId: \(accessKeyId), secret: <redacted>)" }
}

/// A request to sign: method, path and query as they go on the wire (before percent-encoding), headers, and the
/// SHA-256 of the payload (or `UNSIGNED-PAYLOAD`).
public struct SigV4Request: Sendable {
    public var method: String
    /// The path, not percent-encoded (`/bucket/key with space`).
    public var path: String
    /// Query parameters, not percent-encoded, in any order; a key may repeat.
    public var query: [(name: String, value: String)]
    /// Headers to sign, names in any case; `host` must be among them.
    public var headers: [(name: String, value: String)]
    /// Lower-case hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public var payloadHash: String

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)], payloadHash: String
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
    }

    /// The SHA-256 of an empty body, for requests without one.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
}

/// Signs requests for one region and service.
public struct SigV4Signer: Sendable {
    /// The names one family of SigV4 signatures uses: AWS4 for AWS, GOOG4 for Google Cloud Storage, whose V4
    /// signing is SigV4 with these parts renamed.
    public struct Flavor: Sendable, Equatable {
        /// `AWS4` / `GOOG4`: the prefix of the algorithm names and of the first signing key.
        public var prefix: String
        /// `aws4_request` / `goog4_request`: the scope's last part.
        public var terminator: String
        /// `X-Amz-` / `X-Goog-`: the prefix of the date header and of the pre-signed URL's parameters.
        public var parameterPrefix: String

        public static let aws = Flavor(prefix: "AWS4", terminator: "aws4_request", parameterPrefix: "X-Amz-")
        public static let google = Flavor(prefix: "GOOG4", terminator: "goog4_request", parameterPrefix: "X-Goog-")

        /// `AWS4-HMAC-SHA256`, `GOOG4-HMAC-SHA256`.
        public var hmacAlgorithm: String { prefix + "-HMAC-SHA256" }
        /// `GOOG4-RSA-SHA256`: Google's signature with a service account's RSA key over the same string to sign.
        public var rsaAlgorithm: String { prefix + "-RSA-SHA256" }
    }

    public var region: String
    public var service: String
    public var flavor: Flavor

    /// - Parameters:
    ///   - region: AWS's region; for Google Cloud Storage the location, `auto`.
    ///   - service: `s3`, `secretsmanager`; `storage` for Google Cloud Storage.
    public init(region: String, service: String, flavor: Flavor = .aws) {
        self.region = region
        self.service = service
        self.flavor = flavor
    }

    /// S3 and Cloud Storage sign the path as given; every other service signs it with dot segments and repeated
    /// slashes removed.
    var normalizesPath: Bool { service != "s3" && flavor != .google }

    // MARK: Header signing

    /// The headers to add to the request: `X-Amz-Date` (`X-Goog-Date`), `X-Amz-Security-Token` (signed) when there
    /// is a session token, and `Authorization`.
    public func sign(
        _ request: SigV4Request, credentials: AWSCredentials, date: AWSTimestamp
    ) -> [(name: String, value: String)] {
        var request = request
        var added: [(name: String, value: String)] = [(flavor.parameterPrefix + "Date", date.basic)]
        if let token = credentials.sessionToken { added.append((flavor.parameterPrefix + "Security-Token", token)) }
        request.headers += added
        let authorization = self.authorization(request, credentials: credentials, date: date)
        return added + [("Authorization", authorization)]
    }

    /// The `Authorization` header value for a request whose headers already include the date header.
    public func authorization(_ request: SigV4Request, credentials: AWSCredentials, date: AWSTimestamp) -> String {
        let canonical = canonicalRequest(request)
        let signature = self.signature(
            stringToSign: stringToSign(canonicalRequest: canonical, date: date),
            secret: credentials.secretAccessKey, date: date)
        return "\(flavor.hmacAlgorithm) Credential=\(credentials.accessKeyId)/\(scope(date)), "
            + "SignedHeaders=\(signedHeaderNames(request)), Signature=\(signature)"
    }

    // MARK: Pre-signed URLs

    /// A pre-signed URL (query-string authentication), as botocore's `generate_presigned_url` (and for GOOG4
    /// google-cloud-storage's `generate_signed_url` with an HMAC key) makes it.
    ///
    /// - Parameters:
    ///   - endpoint: `https://host[:port]`, no path.
    ///   - headers: extra headers the holder must send exactly (signed), besides `host`.
    ///   - expires: seconds, 1 … 604,800.
    public func presignedURL(
        method: String, endpoint: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], credentials: AWSCredentials, date: AWSTimestamp,
        expires: Int
    ) -> String {
        presignedURL(
            method: method, endpoint: endpoint, path: path, query: query, headers: headers,
            algorithm: flavor.hmacAlgorithm, credential: credentials.accessKeyId,
            sessionToken: credentials.sessionToken,
            date: date, expires: expires
        ) { signature(stringToSign: $0, secret: credentials.secretAccessKey, date: date) }
    }

    /// A pre-signed URL whose signature over the string to sign comes from `sign`: an HMAC key, a service
    /// account's RSA key (`GOOG4-RSA-SHA256`), or a remote signer (IAM Credentials' `signBlob`).
    ///
    /// - Parameters:
    ///   - algorithm: `AWS4-HMAC-SHA256`, `GOOG4-HMAC-SHA256` or `GOOG4-RSA-SHA256`.
    ///   - credential: the access key id, or the service account's email.
    ///   - sign: the lower-case hex signature of the string to sign it is given.
    public func presignedURL(
        method: String, endpoint: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], algorithm: String, credential: String,
        sessionToken: String? = nil, date: AWSTimestamp, expires: Int, sign: (String) throws -> String
    ) rethrows -> String {
        let unsigned = presignedRequest(
            method: method, endpoint: endpoint, path: path, query: query, headers: headers, algorithm: algorithm,
            credential: credential, sessionToken: sessionToken, date: date, expires: expires)
        return unsigned.url + (try sign(unsigned.stringToSign))
    }

    /// A pre-signed URL as `presignedURL` makes it, signed by a remote signer (IAM Credentials' `signBlob`).
    public func presignedURL(
        method: String, endpoint: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], algorithm: String, credential: String, date: AWSTimestamp,
        expires: Int, signRemotely sign: (String) async throws -> String
    ) async rethrows -> String {
        let unsigned = presignedRequest(
            method: method, endpoint: endpoint, path: path, query: query, headers: headers, algorithm: algorithm,
            credential: credential, sessionToken: nil, date: date, expires: expires)
        return unsigned.url + (try await sign(unsigned.stringToSign))
    }

    /// The string a pre-signed URL's signature is over, and the URL up to the signature's value.
    private func presignedRequest(
        method: String, endpoint: String, path: String, query: [(name: String, value: String)],
        headers: [(name: String, value: String)], algorithm: String, credential: String, sessionToken: String?,
        date: AWSTimestamp, expires: Int
    ) -> (stringToSign: String, url: String) {
        let host = Self.host(of: endpoint)
        let prefix = flavor.parameterPrefix
        var allQuery = query
        allQuery.append((prefix + "Algorithm", algorithm))
        allQuery.append((prefix + "Credential", "\(credential)/\(scope(date))"))
        allQuery.append((prefix + "Date", date.basic))
        allQuery.append((prefix + "Expires", String(expires)))
        if let sessionToken { allQuery.append((prefix + "Security-Token", sessionToken)) }
        let signedHeaders = [("host", host)] + headers
        let names = Self.canonicalHeaders(signedHeaders).map(\.name).joined(separator: ";")
        allQuery.append((prefix + "SignedHeaders", names))
        // Google takes a signed `x-goog-content-sha256` as the payload's hash and checks the body against it.
        let payload =
            flavor == .google
            ? headers.first { $0.name.lowercased() == "x-goog-content-sha256" }?.value ?? SigV4Request.unsignedPayload
            : SigV4Request.unsignedPayload
        let request = SigV4Request(
            method: method, path: path, query: allQuery, headers: signedHeaders, payloadHash: payload)
        return (
            stringToSign(canonicalRequest: canonicalRequest(request), date: date, algorithm: algorithm),
            endpoint + canonicalURI(path) + "?" + canonicalQuery(allQuery) + "&\(prefix)Signature="
        )
    }

    // MARK: The steps, public so tests can compare each with AWS's suite

    public func canonicalRequest(_ request: SigV4Request) -> String {
        let headers = Self.canonicalHeaders(request.headers)
        return [
            request.method.uppercased(),
            canonicalURI(request.path),
            canonicalQuery(request.query),
            headers.map { "\($0.name):\($0.value)\n" }.joined(),
            headers.map(\.name).joined(separator: ";"),
            request.payloadHash,
        ].joined(separator: "\n")
    }

    /// - Parameter algorithm: the first line; nil is the flavour's HMAC algorithm.
    public func stringToSign(canonicalRequest: String, date: AWSTimestamp, algorithm: String? = nil) -> String {
        [
            algorithm ?? flavor.hmacAlgorithm, date.basic, scope(date),
            Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
    }

    public func signature(stringToSign: String, secret: String, date: AWSTimestamp) -> String {
        var key = Self.hmac(key: Array("\(flavor.prefix)\(secret)".utf8), Array(date.day.utf8))
        key = Self.hmac(key: key, Array(region.utf8))
        key = Self.hmac(key: key, Array(service.utf8))
        key = Self.hmac(key: key, Array(flavor.terminator.utf8))
        return Self.hex(Self.hmac(key: key, Array(stringToSign.utf8)))
    }

    func scope(_ date: AWSTimestamp) -> String {
        "\(date.day)/\(region)/\(service)/\(flavor.terminator)"
    }

    func signedHeaderNames(_ request: SigV4Request) -> String {
        Self.canonicalHeaders(request.headers).map(\.name).joined(separator: ";")
    }

    func canonicalURI(_ path: String) -> String {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if normalizesPath {
            var output: [String] = []
            for segment in segments.dropFirst() {
                switch segment {
                case "", ".": continue
                case "..": if !output.isEmpty { output.removeLast() }
                default: output.append(segment)
                }
            }
            let trailing = path.count > 1 && (path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/.."))
            segments = [""] + output + (trailing && !output.isEmpty ? [""] : [])
            if output.isEmpty { return "/" }
        }
        let encoded = segments.map { Self.percentEncode($0) }.joined(separator: "/")
        return encoded.isEmpty ? "/" : encoded
    }

    func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (Self.percentEncode($0.name), Self.percentEncode($0.value)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Lower-cased names, sorted; values trimmed with inner runs of spaces collapsed; repeated names joined by `,`.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for header in headers {
            merged[header.name.lowercased(), default: []].append(collapse(header.value))
        }
        return merged.keys.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    private static func collapse(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (`A-Z a-z 0-9 - . _ ~`).
    public static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The `host[:port]` of `scheme://host[:port][/path]`, as the `host` header carries it.
    public static func host(of endpoint: String) -> String {
        guard let range = endpoint.firstRange(of: "://") else { return endpoint }
        let rest = endpoint[range.upperBound...]
        return String(rest.prefix { $0 != "/" })
    }

    static func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    /// Lower-case hex, as signatures are written.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lower-case hex SHA-256, for payload hashes.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }
}

/// A signing time in UTC: `20150830T123600Z` and its day `20150830`.
public struct AWSTimestamp: Sendable, Equatable {
    public let basic: String
    public var day: String { String(basic.prefix(8)) }

    /// From seconds since the Unix epoch.
    public init(secondsSince1970 seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondsOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(daysSince1970: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        basic =
            pad(year, 4) + pad(month, 2) + pad(day, 2) + "T" + pad(secondsOfDay / 3600, 2)
            + pad(secondsOfDay % 3600 / 60, 2) + pad(secondsOfDay % 60, 2) + "Z"
    }

    /// From the basic format (`20150830T123600Z`); nil if malformed.
    public init?(basic: String) {
        guard basic.count == 16, basic.hasSuffix("Z"), basic.dropFirst(8).first == "T" else { return nil }
        self.basic = basic
    }
}
