/// Identifiers are random, URL-safe strings with a type prefix (`run_…`, `ten_…`), so a log line or URL shows
/// what it names and ids of different kinds are never confused.
public enum Identifier {
    /// A new identifier: `prefix_` + 26 base-32 characters (130 random bits).
    public static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(prefix, using: &generator)
    }

    public static func make(_ prefix: String, using generator: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        var result = prefix + "_"
        for _ in 0..<26 { result.append(alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))]) }
        return result
    }
}
