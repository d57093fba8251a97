import Foundation
import Secrets
import Testing

/// A fixed-seed generator so property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Redactor")
struct RedactorTests {
    static let secret = "Canary-p@ss w0rd/+=\"é"

    @Test("a secret is masked as written and in its encoded forms")
    func encodedForms() {
        let redactor = Redactor(secrets: [Self.secret])
        let raw = Array(Self.secret.utf8)
        let forms = [
            Self.secret,
            Data(raw).base64EncodedString(),
            Self.secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
            String(decoding: try! JSONEncoder().encode(Self.secret), as: UTF8.self).dropFirst().dropLast().description,
            Data("user:\(Self.secret)".utf8).base64EncodedString(),
            Data("ab:\(Self.secret)".utf8).base64EncodedString(),
            Data("x\(Self.secret)".utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"),
        ]
        for form in forms {
            let line = "before \(form) after"
            let redacted = redactor.redact(line)
            #expect(!redacted.contains(form), "\(form) survived as \(redacted)")
            #expect(redacted.hasPrefix("before ") && redacted.hasSuffix(" after"))
        }
    }

    @Test("URL credentials are masked even for unknown passwords")
    func urlCredentials() {
        let redactor = Redactor(secrets: [])
        #expect(
            redactor.redact("connect postgres://app:hunter2@db:5432/x failed")
                == "connect postgres://app:***@db:5432/x failed")
        #expect(redactor.redact("see https://example.com/a:b@c") == "see https://example.com/a:b@c")
        #expect(redactor.redact("s3://bucket/key") == "s3://bucket/key")
    }

    @Test("values shorter than four characters are not masked blindly")
    func shortValues() {
        let redactor = Redactor(secrets: ["abc", "12"])
        #expect(redactor.redact("abc 12 abcd") == "abc 12 abcd")
    }

    @Test("property: for random secrets, text and chunking, no form of a secret survives and other text does")
    func property() {
        var random = SplitMix64(state: 42)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_./:@+=\"é表\n")
        for _ in 0..<300 {
            let secret = String(
                (0..<Int.random(in: 4...24, using: &random)).map { _ in
                    alphabet.randomElement(using: &random)!
                }
            ).replacingOccurrences(of: "\n", with: "x")
            let raw = Array(secret.utf8)
            let forms = [secret, Data(raw).base64EncodedString(), Data(("u:" + secret).utf8).base64EncodedString()]
            var text = ""
            var inserted: [String] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                text += String(
                    (0..<Int.random(in: 0...40, using: &random)).map { _ in
                        "lorem ipsum dolor.".randomElement(using: &random)!
                    })
                let form = forms.randomElement(using: &random)!
                inserted.append(form)
                text += form
                text += Bool.random(using: &random) ? "\n" : " "
            }
            let redactor = Redactor(secrets: [secret])
            var stream = RedactingStream(redactor: redactor)
            var output: [UInt8] = []
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let size = Int.random(in: 1...17, using: &random)
                output += stream.push(Array(bytes.prefix(size)))
                bytes = bytes.dropFirst(size)
            }
            output += stream.finish()
            let result = String(decoding: output, as: UTF8.self)
            #expect(!result.contains(secret), "secret \(secret) survived in \(result)")
            #expect(!result.contains(Data(raw).base64EncodedString()))
            #expect(result.contains(Redactor.mask))
            #expect(result == redactor.redact(text), "streamed and whole redaction differ")
        }
    }

    @Test("a stream without newlines stays bounded and still masks across the cuts")
    func longLines() {
        let redactor = Redactor(secrets: [Self.secret])
        var stream = RedactingStream(redactor: redactor)
        var output: [UInt8] = []
        var maxHeld = 0
        var fed = 0
        for index in 0..<2000 {
            let piece = Array(("x\(index) " + (index % 7 == 0 ? Self.secret : "filler")).utf8)
            fed += piece.count
            output += stream.push(piece)
            maxHeld = max(maxHeld, fed - output.count)
        }
        output += stream.finish()
        let text = String(decoding: output, as: UTF8.self)
        #expect(!text.contains(Self.secret))
        #expect(maxHeld < 64 * 1024)
    }
}
