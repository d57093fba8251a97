internal import Crypto
internal import SourceURLs
internal import _CryptoExtras

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A Snowflake user's RSA private key, read from PEM, and its public-key fingerprint.
///
/// Accepts what `openssl genrsa`/`openssl pkcs8` write and Snowflake documents: unencrypted PKCS#8
/// (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`), and encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`)
/// protected by PBES2 with PBKDF2 (HMAC-SHA1/224/256/384/512) and AES-CBC (128/192/256). Errors say what is wrong
/// with the key without ever quoting it.
struct SnowflakePrivateKey: Sendable {
    let key: _RSA.Signing.PrivateKey
    /// `SHA256:` + base64 of SHA-256 over the DER SubjectPublicKeyInfo: what `DESC USER` shows as
    /// `RSA_PUBLIC_KEY_FP`.
    let fingerprint: String

    init(pem: String, passphrase: String?) throws {
        let document = try PEMBlock(pem)
        let der: [UInt8]
        switch document.label {
        case "PRIVATE KEY", "RSA PRIVATE KEY":
            if document.encryptedLegacyPEM {
                throw ConnectorError(
                    .invalidSource,
                    "the private key uses legacy PEM encryption (Proc-Type: 4,ENCRYPTED), which is not supported: "
                        + "convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`")
            }
            der = document.der
        case "ENCRYPTED PRIVATE KEY":
            guard let passphrase, !passphrase.isEmpty else {
                throw ConnectorError(
                    .invalidSource,
                    "the private key is encrypted: give its passphrase (--private-key-passphrase-file or a "
                        + "privateKeyPassphrase secret)")
            }
            der = try EncryptedPrivateKeyInfo.decrypt(document.der, passphrase: Array(passphrase.utf8))
        default:
            throw ConnectorError(
                .invalidSource,
                "the private key file holds a '\(document.label)' PEM block; expected PRIVATE KEY, ENCRYPTED PRIVATE "
                    + "KEY or RSA PRIVATE KEY")
        }
        do {
            key = try _RSA.Signing.PrivateKey(derRepresentation: der)
        } catch {
            throw ConnectorError(
                .invalidSource,
                document.label == "ENCRYPTED PRIVATE KEY"
                    ? "the decrypted private key is not an RSA key of at least 2048 bits (or the passphrase is wrong)"
                    : "the private key is not an RSA key of at least 2048 bits; Snowflake key-pair authentication "
                        + "needs RSA 2048 or larger")
        }
        let spki = key.publicKey.derRepresentation
        fingerprint = "SHA256:" + Data(SHA256.hash(data: spki)).base64EncodedString()
    }

    /// An RS256 (PKCS#1 v1.5, SHA-256) signature over `message`.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        let signature = try key.signature(for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
        return Array(signature.rawRepresentation)
    }
}

/// One PEM block: its label and DER bytes. Text around the block is ignored, as OpenSSL does.
struct PEMBlock {
    let label: String
    let der: [UInt8]
    /// True for OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` header.
    let encryptedLegacyPEM: Bool

    init(_ text: String) throws {
        let lines = text.split(whereSeparator: \.isNewline).map { line in
            String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            throw ConnectorError(.invalidSource, "the private key is not PEM text (no -----BEGIN line)")
        }
        let label = String(lines[begin].dropFirst("-----BEGIN ".count).dropLast(5))
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----END \(label)-----") else {
            throw ConnectorError(.invalidSource, "the private key's PEM block '\(label)' has no END line")
        }
        var body = ""
        var legacy = false
        for line in lines[(begin + 1)..<end] {
            if line.contains(":") {
                if line.hasPrefix("Proc-Type:") && line.contains("ENCRYPTED") { legacy = true }
                continue
            }
            body += line
        }
        guard let bytes = Data(base64Encoded: body) else {
            throw ConnectorError(.invalidSource, "the private key's PEM block is not valid base64")
        }
        self.label = label
        self.der = Array(bytes)
        self.encryptedLegacyPEM = legacy
    }
}

/// PKCS#8 `EncryptedPrivateKeyInfo` with PBES2 (RFC 8018), parsed with a minimal DER reader.
enum EncryptedPrivateKeyInfo {
    static let pbes2 = "1.2.840.113549.1.5.13"
    static let pbkdf2 = "1.2.840.113549.1.5.12"
    static let prfs: [String: KDF.Insecure.PBKDF2.HashFunction] = [
        "1.2.840.113549.2.7": .insecureSHA1,
        "1.2.840.113549.2.8": .insecureSHA224,
        "1.2.840.113549.2.9": .sha256,
        "1.2.840.113549.2.10": .sha384,
        "1.2.840.113549.2.11": .sha512,
    ]
    static let ciphers: [String: Int] = [
        "2.16.840.1.101.3.4.1.2": 16,
        "2.16.840.1.101.3.4.1.22": 24,
        "2.16.840.1.101.3.4.1.42": 32,
    ]
    /// More rounds than this is a hostile or corrupt file, not a real key (OpenSSL writes 2048, Python 'cryptography'
    /// up to a few hundred thousand).
    static let maxRounds = 10_000_000

    /// Decrypts `der` with `passphrase`; returns the inner PKCS#8 `PrivateKeyInfo`.
    static func decrypt(_ der: [UInt8], passphrase: [UInt8]) throws -> [UInt8] {
        let unsupported = { (what: String) in
            ConnectorError(
                .invalidSource,
                "the encrypted private key uses \(what), which is not supported: re-encrypt it with "
                    + "`openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256` (PBES2, PBKDF2, AES-CBC)")
        }
        let salt: [UInt8]
        let rounds: Int
        let keyLength: Int?
        let prf: KDF.Insecure.PBKDF2.HashFunction
        let cipherKeyLength: Int
        let iv: [UInt8]
        let ciphertext: [UInt8]
        do {
            var reader = DERReader(der)
            var outer = try reader.sequence()
            var algorithm = try outer.sequence()
            let scheme = try algorithm.objectIdentifier()
            guard scheme == pbes2 else { throw unsupported("the encryption scheme \(scheme) (PBES1 or PKCS#12)") }
            var parameters = try algorithm.sequence()
            var kdf = try parameters.sequence()
            let kdfOID = try kdf.objectIdentifier()
            guard kdfOID == pbkdf2 else { throw unsupported("the key derivation function \(kdfOID) (e.g. scrypt)") }
            var kdfParameters = try kdf.sequence()
            salt = try kdfParameters.octetString()
            rounds = try kdfParameters.integer()
            var length: Int?
            var prfChoice = KDF.Insecure.PBKDF2.HashFunction.insecureSHA1
            if kdfParameters.peekTag() == DERReader.integerTag {
                length = try kdfParameters.integer()
            }
            if kdfParameters.peekTag() == DERReader.sequenceTag {
                var prfAlgorithm = try kdfParameters.sequence()
                let prfOID = try prfAlgorithm.objectIdentifier()
                guard let known = prfs[prfOID] else { throw unsupported("the PBKDF2 hash \(prfOID)") }
                prfChoice = known
            }
            keyLength = length
            prf = prfChoice
            var cipher = try parameters.sequence()
            let cipherOID = try cipher.objectIdentifier()
            guard let cipherLength = ciphers[cipherOID] else {
                throw unsupported("the cipher \(cipherOID) (e.g. DES-EDE3-CBC)")
            }
            cipherKeyLength = cipherLength
            iv = try cipher.octetString()
            ciphertext = try outer.octetString()
        } catch let error as ConnectorError {
            throw error
        } catch {
            throw ConnectorError(.invalidSource, "the encrypted private key is not valid PKCS#8 (\(error))")
        }
        guard (1...maxRounds).contains(rounds), keyLength == nil || keyLength == cipherKeyLength, iv.count == 16,
            !ciphertext.isEmpty, ciphertext.count % 16 == 0
        else {
            throw ConnectorError(.invalidSource, "the encrypted private key's PBES2 parameters are inconsistent")
        }
        let plaintext: Data
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: passphrase, salt: salt, using: prf, outputByteCount: cipherKeyLength,
                unsafeUncheckedRounds: rounds)
            plaintext = try AES._CBC.decrypt(ciphertext, using: key, iv: AES._CBC.IV(ivBytes: iv))
        } catch {
            throw wrongPassphrase
        }
        // A wrong passphrase almost always breaks the padding; when it does not, the result is not DER.
        var inner = DERReader(Array(plaintext))
        guard (try? inner.sequence()) != nil else { throw wrongPassphrase }
        return Array(plaintext)
    }

    static let wrongPassphrase = ConnectorError(
        .invalidSource, "cannot decrypt the private key: the passphrase is wrong (or the key file is corrupt)")
}

/// Just enough DER to walk PKCS#8 structures: definite lengths, no indefinite forms, bounds checked.
struct DERReader {
    static let integerTag: UInt8 = 0x02
    static let octetStringTag: UInt8 = 0x04
    static let objectIdentifierTag: UInt8 = 0x06
    static let sequenceTag: UInt8 = 0x30

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    private let bytes: [UInt8]
    private var position: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.init(bytes, from: 0, to: bytes.count)
    }

    private init(_ bytes: [UInt8], from start: Int, to end: Int) {
        self.bytes = bytes
        self.position = start
        self.end = end
    }

    func peekTag() -> UInt8? { position < end ? bytes[position] : nil }

    /// Reads one element with `tag`; returns the bounds of its content.
    private mutating func element(_ tag: UInt8) throws -> Range<Int> {
        guard position + 2 <= end else { throw Malformed(description: "truncated") }
        guard bytes[position] == tag else {
            throw Malformed(description: "expected tag \(tag), found \(bytes[position])")
        }
        var index = position + 1
        var length = Int(bytes[index])
        index += 1
        if length & 0x80 != 0 {
            let count = length & 0x7f
            guard (1...4).contains(count), index + count <= end else { throw Malformed(description: "bad length") }
            length = 0
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
        }
        guard length <= end - index else { throw Malformed(description: "length beyond the data") }
        position = index + length
        return index..<(index + length)
    }

    mutating func sequence() throws -> DERReader {
        let range = try element(Self.sequenceTag)
        return DERReader(bytes, from: range.lowerBound, to: range.upperBound)
    }

    mutating func octetString() throws -> [UInt8] {
        Array(bytes[try element(Self.octetStringTag)])
    }

    /// A non-negative INTEGER that fits an `Int` (iteration counts, key lengths).
    mutating func integer() throws -> Int {
        let range = try element(Self.integerTag)
        guard !range.isEmpty, range.count <= 8, bytes[range.lowerBound] & 0x80 == 0 else {
            throw Malformed(description: "integer out of range")
        }
        return bytes[range].reduce(0) { $0 << 8 | Int($1) }
    }

    mutating func objectIdentifier() throws -> String {
        let range = try element(Self.objectIdentifierTag)
        guard !range.isEmpty else { throw Malformed(description: "empty object identifier") }
        var arcs: [Int] = []
        var value = 0
        for byte in bytes[range] {
            guard value < (Int.max >> 7) else { throw Malformed(description: "object identifier arc too large") }
            value = value << 7 | Int(byte & 0x7f)
            if byte & 0x80 == 0 {
                if arcs.isEmpty {
                    arcs += value < 80 ? [value / 40, value % 40] : [2, value - 80]
                } else {
                    arcs.append(value)
                }
                value = 0
            }
        }
        return arcs.map(String.init).joined(separator: ".")
    }
}
