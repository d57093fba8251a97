internal import Yams

/// Reads one mapping of the YAML configuration strictly: every key known, every value of the right type, every
/// problem reported with the file, line and column and what to write instead.
///
/// An environment variable named after the key's path (`controlPlane.url` → `OUTPOST_CONTROL_PLANE_URL`)
/// overrides the file's value; lists in the environment are comma-separated.
struct ConfigurationReader {
    let file: String
    /// Dotted path of this mapping, empty at the root.
    let path: String
    let mapping: Node.Mapping?
    /// Where this mapping starts, for errors about keys that are missing.
    let mark: Mark?
    let environment: [String: String]
    private var known: [String] = []

    init(file: String, path: String, mapping: Node.Mapping?, mark: Mark?, environment: [String: String]) {
        self.file = file
        self.path = path
        self.mapping = mapping
        self.mark = mark
        self.environment = environment
    }

    /// The environment variable that overrides `key` of this mapping.
    func environmentName(_ key: String) -> String {
        let dotted = path.isEmpty ? key : path + "." + key
        var name = "OUTPOST_"
        var previousWasLower = false
        for character in dotted {
            if character == "." {
                name.append("_")
                previousWasLower = false
            } else if character.isUppercase {
                if previousWasLower { name.append("_") }
                name.append(character)
                previousWasLower = false
            } else {
                name += character.uppercased()
                previousWasLower = character.isLowercase || character.isNumber
            }
        }
        return name
    }

    private func qualified(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private func location(_ mark: Mark?) -> String {
        guard let mark else { return file }
        return "\(file):\(mark.line):\(mark.column)"
    }

    func error(_ message: String, at mark: Mark?) -> AgentError {
        AgentError(.invalidConfiguration, "\(location(mark)): \(message)")
    }

    /// The value of `key`, compared with the mapping's own (basic) resolver: `Node(key)` would resolve the key's
    /// tag with Yams' default, regex-based resolver.
    private func node(_ key: String) -> Node? {
        mapping?[key]
    }

    /// Where `key`'s value is written in the file (nil when absent, or given by the environment).
    func mark(of key: String) -> Mark? {
        environment[environmentName(key)] == nil ? node(key)?.mark : nil
    }

    /// A nested mapping; an absent key reads as an empty mapping so defaults apply.
    mutating func section(_ key: String) throws -> ConfigurationReader {
        known.append(key)
        let value = node(key)
        if let value, value.null == nil, value.mapping == nil {
            throw error("'\(qualified(key))' must be a mapping of keys to values", at: value.mark)
        }
        return ConfigurationReader(
            file: file, path: qualified(key), mapping: value?.mapping, mark: value?.mark ?? mark,
            environment: environment)
    }

    /// The raw text of a scalar and where it came from, environment first.
    private mutating func scalar(_ key: String) throws -> (text: String, mark: Mark?, source: String)? {
        known.append(key)
        let variable = environmentName(key)
        if let value = environment[variable] { return (value, nil, "environment variable \(variable)") }
        guard let value = node(key), value.null == nil else { return nil }
        guard case .scalar(let scalar) = value else {
            throw error("'\(qualified(key))' must be a single value, not a list or mapping", at: value.mark)
        }
        return (scalar.string, value.mark, "'\(qualified(key))'")
    }

    mutating func string(_ key: String) throws -> String? {
        guard let (text, mark, source) = try scalar(key) else { return nil }
        guard !text.isEmpty else { throw error("\(source) is empty", at: mark) }
        return text
    }

    mutating func requiredString(_ key: String, example: String) throws -> String {
        guard let value = try string(key) else {
            throw error(
                "'\(qualified(key))' is required (e.g. \(key): \(example)), or set \(environmentName(key))",
                at: mark)
        }
        return value
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let (text, mark, source) = try scalar(key) else { return nil }
        guard let value = Int64(text.trimmingWhitespace) else {
            throw error("\(source) must be a whole number, not '\(text)'", at: mark)
        }
        guard range.contains(value) else {
            throw error("\(source) must be between \(range.lowerBound) and \(range.upperBound), not \(value)", at: mark)
        }
        return value
    }

    mutating func boolean(_ key: String) throws -> Bool? {
        guard let (text, mark, source) = try scalar(key) else { return nil }
        switch text.trimmingWhitespace.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw error("\(source) must be true or false, not '\(text)'", at: mark)
        }
    }

    /// `30s`, `5m`, `1h`, `250ms`, or a bare number of seconds.
    mutating func duration(_ key: String, in range: ClosedRange<Duration>) throws -> Duration? {
        guard let (text, mark, source) = try scalar(key) else { return nil }
        guard let value = Self.parseDuration(text) else {
            throw error("\(source) must be a duration like 30s, 5m or 1h, not '\(text)'", at: mark)
        }
        guard range.contains(value) else {
            throw error("\(source) must be between \(range.lowerBound) and \(range.upperBound)", at: mark)
        }
        return value
    }

    /// `10GiB`, `512MiB`, `64KiB`, `1GB`, or a bare number of bytes.
    mutating func byteCount(_ key: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let (text, mark, source) = try scalar(key) else { return nil }
        guard let value = Self.parseByteCount(text) else {
            throw error("\(source) must be a size like 512MiB or 10GiB, not '\(text)'", at: mark)
        }
        guard range.contains(value) else {
            throw error(
                "\(source) must be between \(range.lowerBound) and \(range.upperBound) bytes, not \(value)", at: mark)
        }
        return value
    }

    /// A list of strings; the environment form is comma-separated.
    mutating func strings(_ key: String) throws -> [String]? {
        known.append(key)
        let variable = environmentName(key)
        if let value = environment[variable] {
            return value.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
        }
        guard let value = node(key), value.null == nil else { return nil }
        guard case .sequence(let sequence) = value else {
            throw error("'\(qualified(key))' must be a list (e.g. [a, b] or one '- item' per line)", at: value.mark)
        }
        return try sequence.map { item in
            guard case .scalar(let scalar) = item, !scalar.string.isEmpty else {
                throw error("every item of '\(qualified(key))' must be a non-empty single value", at: item.mark)
            }
            return scalar.string
        }
    }

    /// The keys of a mapping whose keys are names chosen by the user (e.g. `commands:`), with their readers.
    mutating func namedSections(_ key: String) throws -> [(name: String, reader: ConfigurationReader)] {
        let parent = try section(key)
        guard let mapping = parent.mapping else { return [] }
        return try mapping.map { pair in
            guard case .scalar(let name) = pair.key, !name.string.isEmpty else {
                throw error("every key of '\(parent.path)' must be a name", at: pair.key.mark)
            }
            if pair.value.mapping == nil {
                throw error("'\(parent.path).\(name.string)' must be a mapping", at: pair.value.mark)
            }
            return (
                name.string,
                ConfigurationReader(
                    file: file, path: parent.path + "." + name.string, mapping: pair.value.mapping,
                    mark: pair.value.mark, environment: environment)
            )
        }
    }

    /// Refuses keys this mapping does not know, naming the closest known one.
    func finish() throws {
        guard let mapping else { return }
        for pair in mapping {
            let key = pair.key.string ?? ""
            if known.contains(key) { continue }
            var message = "unknown key '\(qualified(key))'"
            if let suggestion = Self.closest(to: key, in: known) {
                message += " (did you mean '\(qualified(suggestion))'?)"
            } else if !known.isEmpty {
                message += "; known keys here: " + known.joined(separator: ", ")
            }
            throw error(message, at: pair.key.mark)
        }
    }

    static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, milliseconds) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            // "5m" must not be read as "5" + "ms" the other way round: "ms" is checked first.
            if suffix == "s" && number.hasSuffix("m") { continue }
            guard let value = Int64(number), value >= 0, value < Int64.max / milliseconds else { return nil }
            return .milliseconds(value * milliseconds)
        }
        guard let seconds = Int64(trimmed), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }

    static func parseByteCount(_ text: String) -> Int64? {
        let trimmed = text.trimmingWhitespace
        let units: [(String, Int64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
            ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
        ]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Int64(trimmed.dropLast(suffix.count).trimmingWhitespace), value >= 0,
                value <= Int64.max / factor
            else { return nil }
            return value * factor
        }
        return Int64(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// The known key at edit distance ≤ 2, if any.
    static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(Array(key.lowercased()), Array($0.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
