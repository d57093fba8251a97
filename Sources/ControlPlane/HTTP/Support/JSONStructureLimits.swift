/// Bounds on a JSON body's shape, checked in one pass over its bytes before it is parsed.
///
/// Parsing builds a tree whose cost grows with the number of values rather than the bytes (an array of 300,000
/// empty objects is 600 KB but cost seconds of CPU to parse and refuse), so a body is first scanned, in time linear
/// in its bytes with a small constant and without allocating, and refused as soon as it nests too deep, holds too
/// many elements in one array or members in one object, too many containers in all, or a string too long. The
/// limits sit well above what any request of the API needs within the 1 MiB body limit.
public struct JSONStructureLimits: Sendable, Equatable {
    public var maximumDepth = 32
    public var maximumArrayElements = 10_000
    public var maximumObjectMembers = 1_000
    public var maximumContainers = 20_000
    public var maximumStringBytes = 256 * 1024

    public init() {}

    /// A body over a limit; the message names the limit and is safe to show.
    public struct Violation: Error, Sendable, Equatable {
        public var message: String
    }

    /// Scans `bytes`; throws the first limit passed. Malformed JSON is left to the parser (whatever the scanner
    /// makes of it, it stops at the same limits).
    public func check(_ bytes: some Collection<UInt8>) throws(Violation) {
        // Per open container: whether it is an array, and how many elements or members it has so far.
        var stack: [(isArray: Bool, count: Int)] = []
        stack.reserveCapacity(maximumDepth)
        var containers = 0
        var inString = false
        var escaped = false
        var stringBytes = 0
        var expectingValue = true
        for byte in bytes {
            if inString {
                stringBytes += 1
                if stringBytes > maximumStringBytes {
                    throw Violation(message: "the body holds a string longer than \(maximumStringBytes) bytes")
                }
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                try countValue(&stack, expectingValue: &expectingValue)
                inString = true
                stringBytes = 0
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                try countValue(&stack, expectingValue: &expectingValue)
                containers += 1
                guard containers <= maximumContainers else {
                    throw Violation(message: "the body holds more than \(maximumContainers) objects and arrays")
                }
                guard stack.count < maximumDepth else {
                    throw Violation(message: "the body nests deeper than \(maximumDepth) levels")
                }
                stack.append((byte == UInt8(ascii: "["), 0))
                expectingValue = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = stack.popLast()
                expectingValue = false
            case UInt8(ascii: ","):
                expectingValue = true
            case UInt8(ascii: ":"):
                // The value after a member's name is not another member.
                expectingValue = false
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                break
            default:
                // A number or literal: counts once, at its first byte.
                try countValue(&stack, expectingValue: &expectingValue)
            }
        }
    }

    /// Counts a value starting where one is expected: an element of the open array, or a member (its name) of the
    /// open object.
    private func countValue(
        _ stack: inout [(isArray: Bool, count: Int)], expectingValue: inout Bool
    ) throws(Violation) {
        guard expectingValue else { return }
        expectingValue = false
        guard let top = stack.indices.last else { return }
        stack[top].count += 1
        if stack[top].isArray {
            guard stack[top].count <= maximumArrayElements else {
                throw Violation(message: "the body has an array of more than \(maximumArrayElements) elements")
            }
        } else {
            guard stack[top].count <= maximumObjectMembers else {
                throw Violation(message: "the body has an object of more than \(maximumObjectMembers) members")
            }
        }
    }
}
