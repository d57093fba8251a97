/// Removes secret values from text before it is logged, shipped or stored.
///
/// It knows every secret resolved for a job and masks each one as written and in the forms it commonly takes
/// when it leaks: base64 (standard and URL-safe, at any alignment, as inside `Basic` credentials),
/// percent-encoded (`%20` and `+` for spaces) and JSON-escaped. Independently of known secrets it masks the
/// password part of URL credentials (`scheme://user:password@host`). Values shorter than four characters are
/// not masked: masking every `a` or `12` would destroy the log and hide nothing.
public struct Redactor: Sendable {
    /// What replaces a secret.
    public static let mask = "***"
    public static let minimumSecretLength = 4

    /// The byte strings to mask, longest first so a longer form wins over a contained shorter one.
    let needles: [[UInt8]]
    /// The longest needle: a stream must hold back this many bytes minus one between chunks.
    public let longestNeedle: Int

    public init(secrets: [String]) {
        var forms = Set<[UInt8]>()
        for secret in secrets where secret.count >= Self.minimumSecretLength {
            for form in Self.encodedForms(of: secret) where form.count >= Self.minimumSecretLength {
                forms.insert(form)
            }
        }
        needles = forms.sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
        longestNeedle = needles.first?.count ?? 0
    }

    /// Redacts one complete piece of text (a log line, an error message).
    public func redact(_ text: String) -> String {
        String(decoding: redact(Array(text.utf8)), as: UTF8.self)
    }

    public func redact(_ bytes: [UInt8]) -> [UInt8] {
        Self.maskURLPasswords(maskNeedles(bytes))
    }

    func maskNeedles(_ bytes: [UInt8]) -> [UInt8] {
        scan(bytes, stopAt: bytes.count).output
    }

    /// Masks needles from the start of `bytes` until the first position at or after `stopAt` that is not inside a
    /// match; returns the output and how many input bytes it covers.
    func scan(_ bytes: [UInt8], stopAt: Int) -> (output: [UInt8], consumed: Int) {
        guard !needles.isEmpty else { return (Array(bytes[..<min(stopAt, bytes.count)]), min(stopAt, bytes.count)) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        let mask = Array(Self.mask.utf8)
        outer: while index < bytes.count && index < stopAt {
            for needle in needles where needle[0] == bytes[index] && index + needle.count <= bytes.count {
                if bytes[index..<index + needle.count].elementsEqual(needle) {
                    out += mask
                    index += needle.count
                    continue outer
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return (out, index)
    }

    // MARK: Encoded forms

    static func encodedForms(of secret: String) -> [[UInt8]] {
        let raw = Array(secret.utf8)
        var forms: [[UInt8]] = [raw, Array(jsonEscaped(secret).utf8)]
        // Encoders differ in what they leave alone (`-._~` or only letters and digits), in hex case, and in how
        // they write spaces: cover each combination.
        for spaceAsPlus in [false, true] {
            for keepPunctuation in [true, false] {
                let encoded = percentEncoded(raw, spaceAsPlus: spaceAsPlus, keepPunctuation: keepPunctuation)
                forms.append(Array(encoded.utf8))
                forms.append(Array(lowercasingHex(encoded).utf8))
            }
        }
        for alignment in 0..<3 {
            let standard = base64Fragment(raw, alignment: alignment)
            forms.append(Array(standard.utf8))
            let urlSafe = standard.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }
            forms.append(Array(String(urlSafe).utf8))
        }
        return forms
    }

    /// The base64 characters that depend only on `raw` when it starts `alignment` bytes into a 3-byte group:
    /// the part of the secret that shows in any base64 text containing it, wherever it starts.
    static func base64Fragment(_ raw: [UInt8], alignment: Int) -> String {
        let encoded = base64([UInt8](repeating: 0, count: alignment) + raw)
        let first = (alignment * 8 + 5) / 6
        let last = ((alignment + raw.count) * 8) / 6
        guard last > first else { return "" }
        let characters = Array(encoded)
        return String(characters[first..<min(last, characters.count)])
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index + 2 < bytes.count {
            let value = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            out += [
                alphabet[value >> 18 & 63], alphabet[value >> 12 & 63], alphabet[value >> 6 & 63], alphabet[value & 63],
            ]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = Int(bytes[index]) << 16
            out += [alphabet[value >> 18 & 63], alphabet[value >> 12 & 63], "=", "="]
        } else if rest == 2 {
            let value = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8
            out += [alphabet[value >> 18 & 63], alphabet[value >> 12 & 63], alphabet[value >> 6 & 63], "="]
        }
        return out
    }

    static func percentEncoded(_ bytes: [UInt8], spaceAsPlus: Bool, keepPunctuation: Bool = true) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                out.append(byte)
            case UInt8(ascii: "-")...UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                if keepPunctuation {
                    out.append(byte)
                } else {
                    out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                }
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `%2F` → `%2f`: the hex digits after each `%` in lower case.
    static func lowercasingHex(_ encoded: String) -> String {
        var out = ""
        var afterPercent = 0
        for character in encoded {
            if character == "%" {
                afterPercent = 2
                out.append(character)
            } else if afterPercent > 0 {
                out += character.lowercased()
                afterPercent -= 1
            } else {
                out.append(character)
            }
        }
        return out
    }

    static func jsonEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "/": out += "\\/"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    // MARK: URL credentials

    /// Masks `password` in every `scheme://user:password@` of the text.
    static func maskURLPasswords(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            // Find "://", then the authority up to '/', '?', '#', whitespace or a quote.
            if index + 3 <= bytes.count, bytes[index] == UInt8(ascii: ":"), bytes[index + 1] == UInt8(ascii: "/"),
                bytes[index + 2] == UInt8(ascii: "/")
            {
                out += bytes[index..<index + 3]
                index += 3
                var end = index
                while end < bytes.count, !isAuthorityEnd(bytes[end]) { end += 1 }
                let authority = Array(bytes[index..<end])
                if let at = authority.lastIndex(of: UInt8(ascii: "@")),
                    let colon = authority[..<at].firstIndex(of: UInt8(ascii: ":"))
                {
                    out += authority[...colon]
                    out += Array(mask.utf8)
                    out += authority[at...]
                } else {
                    out += authority
                }
                index = end
                continue
            }
            out.append(bytes[index])
            index += 1
        }
        return out
    }

    private static func isAuthorityEnd(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") || byte <= 0x20
            || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "<")
            || byte == UInt8(ascii: ">")
    }
}

/// Redacts a byte stream that arrives in arbitrary pieces (a child process's output): a secret split across two
/// pieces is still masked, because the tail that could start a secret is held back until the next piece.
///
/// Output is released line by line where possible, and at the latest when `finish()` is called.
public struct RedactingStream: Sendable {
    public let redactor: Redactor
    private var pending: [UInt8] = []

    public init(redactor: Redactor) {
        self.redactor = redactor
    }

    /// Takes a piece of input; returns the output that is now safe to release.
    public mutating func push(_ bytes: [UInt8]) -> [UInt8] {
        pending += bytes
        // Complete lines are redacted as a whole (URL credentials never span lines); beyond the last newline,
        // hold back enough bytes that any needle straddling the boundary is seen whole next time.
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else {
            return releaseUnterminated()
        }
        let lines = Array(pending[...lastNewline])
        pending.removeFirst(lastNewline + 1)
        return redactor.redact(lines)
    }

    /// Releases whatever is held back (end of stream).
    public mutating func finish() -> [UInt8] {
        defer { pending.removeAll() }
        return redactor.redact(pending)
    }

    /// A long line without a newline: release all but a tail longer than any needle, so memory stays bounded
    /// and a secret straddling the cut is still seen whole.
    private mutating func releaseUnterminated() -> [UInt8] {
        let keep = max(redactor.longestNeedle, 4096)
        guard pending.count > keep * 4 else { return [] }
        var cut = pending.count - keep
        // Prefer to cut after a space, which no URL authority contains.
        if let space = pending[..<cut].lastIndex(of: UInt8(ascii: " ")), space > cut / 2 { cut = space + 1 }
        let (output, consumed) = redactor.scan(pending, stopAt: cut)
        pending.removeFirst(consumed)
        return Redactor.maskURLPasswords(output)
    }
}
