/// Compares agent versions (`1.4.2`, `1.5.0-rc.1`) by their numeric components.
///
/// Pre-release and build suffixes are ignored: a release candidate counts as its release, which errs on the
/// side of letting an agent work.
enum AgentVersion {
    static func isOlder(_ version: String, than minimum: String) -> Bool {
        let lhs = components(version)
        let rhs = components(minimum)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            if left != right { return left < right }
        }
        return false
    }

    private static func components(_ version: String) -> [Int] {
        var text = Substring(version)
        if text.first == "v" { text = text.dropFirst() }
        let core = text.prefix { $0 != "-" && $0 != "+" }
        return core.split(separator: ".").map { part in Int(part.prefix(while: \.isNumber)) ?? 0 }
    }
}
