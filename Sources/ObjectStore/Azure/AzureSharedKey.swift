internal import Crypto
internal import Foundation

/// Azure Storage's Shared Key authorization: an HMAC-SHA256, keyed with the storage account key, over a canonical
/// form of the request (version 2009-09-19 and later).
///
/// The string to sign is the verb; eleven standard headers (`Content-Length` empty when 0, `Date` empty when
/// `x-ms-date` is sent); every `x-ms-*` header, lower-cased, in the service's collation; and the canonicalized
/// resource: `/ACCOUNT` with the path as sent, then each query parameter, decoded and sorted by lower-cased name.
/// Byte for byte what azure-storage-blob signs. `description` never shows the key.
public struct AzureSharedKey: Sendable, CustomStringConvertible {
    public let account: String
    private let key: [UInt8]

    /// The standard headers, in the order they are signed.
    static let standardHeaders = [
        "content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
        "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
    ]

    /// - Throws: `ObjectStoreError` `.credentials` when the key is not base64, never showing it.
    public init(account: String, base64Key: String) throws {
        guard let bytes = Data(base64Encoded: base64Key), !bytes.isEmpty else {
            throw ObjectStoreError(.credentials, "the key of storage account \(account) is not base64")
        }
        self.account = account
        key = Array(bytes)
    }

    /// The `Authorization` header: `SharedKey ACCOUNT:SIGNATURE`.
    ///
    /// - Parameters:
    ///   - path: the request's path as sent, percent-encoded (`/container/blob%20name`; with a path-style endpoint
    ///     the account too: `/account/container/blob`).
    ///   - query: the query's name/value pairs as sent (percent-encoded).
    ///   - headers: every header the request carries, `x-ms-date` and `x-ms-version` among them.
    public func authorization(
        method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)]
    ) -> String {
        "SharedKey \(account):" + signature(stringToSign(method: method, path: path, query: query, headers: headers))
    }

    public func stringToSign(
        method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)]
    ) -> String {
        var byName: [String: String] = [:]
        for header in headers where byName[header.name.lowercased()] == nil {
            byName[header.name.lowercased()] = header.value
        }
        var lines = [method.uppercased()]
        for name in Self.standardHeaders {
            var value = byName[name] ?? ""
            if name == "content-length" && value == "0" { value = "" }
            if name == "date" && byName["x-ms-date"] != nil { value = "" }
            lines.append(value)
        }
        var text = lines.joined(separator: "\n") + "\n"
        var service: [String: String] = [:]
        for header in headers {
            let name = header.name.lowercased()
            guard name.hasPrefix("x-ms-") else { continue }
            service[name] = service[name].map { $0 + "," + header.value } ?? header.value
        }
        for name in service.keys.sorted(by: Self.collatesBefore) { text += "\(name):\(service[name]!)\n" }
        text += "/\(account)\(path)"
        var parameters: [String: [String]] = [:]
        for item in query {
            let name = (item.name.removingPercentEncoding ?? item.name).lowercased()
            parameters[name, default: []].append(item.value.removingPercentEncoding ?? item.value)
        }
        for name in parameters.keys.sorted() {
            text += "\n\(name):" + parameters[name]!.sorted().joined(separator: ",")
        }
        return text
    }

    /// Base64 HMAC-SHA256 of `text` with the account key: the signature of Shared Key and of a service SAS.
    public func signature(_ text: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
            .base64EncodedString()
    }

    /// The order the service sorts `x-ms-*` names in (a culture-aware collation, not code points): hyphens are
    /// ignored at first, `_` sorts before digits and digits before letters; among names equal that way, the one
    /// whose hyphens come later sorts first. Modelled for letters, digits, `-` and `_`, which is what header names
    /// hold.
    static func collatesBefore(_ left: String, _ right: String) -> Bool {
        func primary(_ name: String) -> [Int] {
            name.unicodeScalars.compactMap { scalar -> Int? in
                switch scalar {
                case "-": nil
                case "a"..."z": 2 << 21 | Int(scalar.value)
                case "0"..."9": 1 << 21 | Int(scalar.value)
                default: Int(scalar.value)
                }
            }
        }
        func hyphens(_ name: String) -> [Int] {
            name.unicodeScalars.enumerated().filter { $0.element == "-" }.map { -$0.offset }
        }
        let (a, b) = (primary(left), primary(right))
        if a != b { return a.lexicographicallyPrecedes(b) }
        return hyphens(left).lexicographicallyPrecedes(hyphens(right))
    }

    public var description: String { "AzureSharedKey(\(account), key: <redacted>)" }
}
