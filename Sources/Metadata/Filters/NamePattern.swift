/// A name pattern: a glob (`sales_*`, `tmp_?`, `[ab]*`) or, prefixed with `re:`, a regular expression that
/// matches anywhere in the name unless anchored (`re:^tmp_\d+$`). Matching is case-sensitive, as identifiers
/// are; a regular expression can opt out with `(?i)`.
public struct NamePattern: Sendable, CustomStringConvertible {
    public let description: String
    private let matcher: Matcher

    private enum Matcher: @unchecked Sendable {
        // Regex holds immutable compiled state and is only read after construction.
        case glob([Character])
        case regex(Regex<AnyRegexOutput>)
    }

    /// - Throws: `MetadataError` with `.invalidFilter` for an invalid regular expression or an unclosed `[`.
    public init(_ text: String) throws {
        description = text
        if text.hasPrefix("re:") {
            let source = String(text.dropFirst(3))
            do {
                matcher = .regex(try Regex(source))
            } catch {
                throw MetadataError(.invalidFilter, "invalid regular expression '\(source)': \(error)")
            }
        } else {
            let characters = Array(text)
            var index = 0
            while index < characters.count {
                if characters[index] == "\\" {
                    index += 2
                    continue
                }
                if characters[index] == "[" {
                    guard characters[(index + 1)...].contains("]") else {
                        throw MetadataError(
                            .invalidFilter, "invalid glob '\(text)': '[' at position \(index + 1) is never closed")
                    }
                }
                index += 1
            }
            matcher = .glob(characters)
        }
    }

    public func matches(_ name: String) -> Bool {
        switch matcher {
        case .glob(let pattern): Self.globMatch(pattern[...], Array(name)[...])
        case .regex(let regex): (try? regex.firstMatch(in: name)) != nil
        }
    }

    /// Iterative glob matching with single-star backtracking: linear in practice, no recursion.
    private static func globMatch(_ pattern: ArraySlice<Character>, _ name: ArraySlice<Character>) -> Bool {
        var p = pattern.startIndex
        var n = name.startIndex
        var starP: Int?
        var starN = 0
        while n < name.endIndex {
            if p < pattern.endIndex {
                switch pattern[p] {
                case "*":
                    starP = p
                    starN = n
                    p += 1
                    continue
                case "?":
                    p += 1
                    n += 1
                    continue
                case "[":
                    if let (matched, next) = matchClass(pattern, at: p, name[n]), matched {
                        p = next
                        n += 1
                        continue
                    }
                case "\\" where p + 1 < pattern.endIndex:
                    if pattern[p + 1] == name[n] {
                        p += 2
                        n += 1
                        continue
                    }
                default:
                    if pattern[p] == name[n] {
                        p += 1
                        n += 1
                        continue
                    }
                }
            }
            guard let star = starP else { return false }
            p = star + 1
            starN += 1
            n = starN
        }
        while p < pattern.endIndex && pattern[p] == "*" { p += 1 }
        return p == pattern.endIndex
    }

    /// Matches a `[...]` class at `start`; returns whether it matched and the index after the class.
    private static func matchClass(
        _ pattern: ArraySlice<Character>, at start: Int, _ character: Character
    ) -> (Bool, Int)? {
        var index = start + 1
        var negate = false
        if index < pattern.endIndex && (pattern[index] == "!" || pattern[index] == "^") {
            negate = true
            index += 1
        }
        var matched = false
        var first = true
        while index < pattern.endIndex && (pattern[index] != "]" || first) {
            first = false
            let low = pattern[index]
            if index + 2 < pattern.endIndex && pattern[index + 1] == "-" && pattern[index + 2] != "]" {
                if low <= character && character <= pattern[index + 2] { matched = true }
                index += 3
            } else {
                if low == character { matched = true }
                index += 1
            }
        }
        guard index < pattern.endIndex else { return nil }
        return (matched != negate, index + 1)
    }
}
