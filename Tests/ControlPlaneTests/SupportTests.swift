import ControlPlaneStorage
import Foundation
import OutpostProtocol
import Testing

@testable import ControlPlane

@Suite("Strict JSON decoding")
struct StrictJSONDecoderTests {
    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws(StrictJSONDecoder.Failure) -> T {
        try StrictJSONDecoder().decode(type, from: Array(text.utf8))
    }

    @Test func decodesWhatJSONDecoderDecodes() throws {
        let text = #"""
            {"leaseId": 9007199254740993, "status": "partial",
             "relay": {"bucket": "b", "manifestKey": "m", "objects": [{"key": "k", "bytes": 3, "sha256": "x"}]},
             "logs": {"bytes": 0, "sha256": "s", "droppedBytes": 0}}
            """#
        let request = try decode(CompleteRequest.self, text)
        #expect(request.leaseId == 9_007_199_254_740_993)
        #expect(request.status == .partial)
        #expect(request.relay?.objects.first?.bytes == 3)
        #expect(request == (try JSONDecoder().decode(CompleteRequest.self, from: Data(text.utf8))))
    }

    @Test func namesUnknownKeysByTheirPath() {
        #expect(throws: StrictJSONDecoder.Failure(field: "extra", message: "unknown field 'extra'")) {
            try decode(LeaseRenewalRequest.self, #"{"leaseId": 1, "extra": true}"#)
        }
        let text = #"""
            {"leaseId": 1, "files": [{"path": "a", "bytes": 1, "sha256": "x"},
                                     {"path": "b", "bytes": 1, "sha256": "x", "md5": "y"}]}
            """#
        #expect(throws: StrictJSONDecoder.Failure(field: "files[1].md5", message: "unknown field 'files[1].md5'")) {
            try decode(UploadGrantRequest.self, text)
        }
    }

    @Test func structureLimitsCountElementsMembersDepthAndStringsNotBytes() throws {
        var limits = JSONStructureLimits()
        limits.maximumArrayElements = 3
        limits.maximumObjectMembers = 2
        limits.maximumDepth = 3
        limits.maximumStringBytes = 8
        limits.maximumContainers = 5
        // Within every limit: whitespace, nested values and escaped quotes inside strings count for nothing.
        try limits.check(Array(#"{"a": [1, "x\"y", {"b": true}], "c": null}"#.utf8))
        let refused = [
            #"[1, 2, 3, 4]"#: "array of more than 3",
            #"{"a": 1, "b": 2, "c": 3}"#: "object of more than 2",
            #"[[[[1]]]]"#: "nests deeper than 3",
            #"["123456789"]"#: "string longer than 8",
            #"[[[]], [[]], {}]"#: "more than 5 objects",
        ]
        for (text, reason) in refused {
            #expect(throws: JSONStructureLimits.Violation.self) { try limits.check(Array(text.utf8)) }
            do {
                try limits.check(Array(text.utf8))
            } catch {
                #expect(error.message.contains(reason), "\(text): \(error.message)")
            }
        }
    }

    @Test func dictionariesAcceptAnyKey() throws {
        let spec = try decode([String: String].self, #"{"password": "env:X", "anything": "file:/y"}"#)
        #expect(spec.count == 2)
    }

    /// One way to say "absent": an optional field is left out; null is refused like a wrong type, naming the field.
    @Test func nullForAnOptionalIsRefused() throws {
        #expect(
            throws: StrictJSONDecoder.Failure(
                field: "reason", message: "field 'reason' must not be null: leave an optional field out instead")
        ) {
            try decode(CancelRequest.self, #"{"reason": null}"#)
        }
        #expect(throws: StrictJSONDecoder.Failure.self) {
            try decode(
                ConnectionRequest.self,
                #"{"name": "n", "sourceKind": "sqlite", "sourceURL": "sqlite:/x", "schedule": null}"#)
        }
        let nested = #"{"mode": "relay", "relay": {"bucket": "b", "region": "r", "prefix": null}}"#
        #expect {
            try decode(DeliverySettings.self, nested)
        } throws: { error in
            (error as? StrictJSONDecoder.Failure)?.field == "relay.prefix"
        }
        #expect(try decode(CancelRequest.self, #"{}"#).reason == nil)
    }

    @Test func typeErrorsNameTheFieldAndWhatWasExpected() {
        #expect(
            throws: StrictJSONDecoder.Failure(
                field: "leaseId", message: "field 'leaseId': expected an integer, found a number")
        ) {
            try decode(LeaseRenewalRequest.self, #"{"leaseId": 1.5}"#)
        }
        #expect(
            throws: StrictJSONDecoder.Failure(
                field: "leaseId", message: "field 'leaseId' must not be null: leave an optional field out instead")
        ) {
            try decode(LeaseRenewalRequest.self, #"{"leaseId": null}"#)
        }
        #expect(throws: StrictJSONDecoder.Failure(field: "leaseId", message: "missing field 'leaseId'")) {
            try decode(LeaseRenewalRequest.self, #"{}"#)
        }
        #expect(throws: StrictJSONDecoder.Failure(field: nil, message: "expected an object, found an array")) {
            try decode(LeaseRenewalRequest.self, #"[]"#)
        }
        #expect(throws: StrictJSONDecoder.Failure(field: nil, message: "the body is not valid JSON")) {
            try decode(LeaseRenewalRequest.self, #"{"leaseId": 1"#)
        }
        #expect(
            throws: StrictJSONDecoder.Failure(
                field: "pools[1]", message: "field 'pools[1]': expected a string, found a boolean")
        ) {
            try decode(
                ClaimRequest.self,
                #"{"agentId": "a", "agentName": "a", "version": "1", "freeSlots": 1, "pools": ["x", true], "waitSeconds": 0}"#
            )
        }
    }

    @Test func integersOutOfRangeAreRefused() {
        #expect(throws: StrictJSONDecoder.Failure.self) {
            try decode([String: Int8].self, #"{"a": 300}"#)
        }
    }
}

@Suite("Timestamps in RFC 3339")
struct TimestampRFC3339Tests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_735_689_600_000, "2025-01-01T00:00:00.000Z"),
        (951_825_600_123, "2000-02-29T12:00:00.123Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func rendersAndParsesBack(milliseconds: Int64, text: String) {
        #expect(Timestamp(milliseconds: milliseconds).rfc3339 == text)
        #expect(Timestamp(rfc3339: text) == Timestamp(milliseconds: milliseconds))
    }

    @Test func parsesOffsetsAndFractions() {
        #expect(Timestamp(rfc3339: "2025-01-01T01:30:00+01:30") == Timestamp(milliseconds: 1_735_689_600_000))
        #expect(Timestamp(rfc3339: "2024-12-31T19:00:00.5-05:00") == Timestamp(milliseconds: 1_735_689_600_500))
        #expect(Timestamp(rfc3339: "2025-01-01T00:00:00.123456Z") == Timestamp(milliseconds: 1_735_689_600_123))
    }

    @Test(arguments: [
        "", "2025-01-01", "2025-13-01T00:00:00Z", "2025-01-01T00:00:00", "2025-01-01T00:00:00.Z",
        "2025-01-01T00:00:00Zjunk", "2025-01-01 00:00:00Z", "tomorrow",
    ])
    func refusesAnythingElse(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }
}

@Suite("API keys")
struct APIKeyTests {
    @Test func mintedKeysHave256RandomBitsInBase64URL() {
        let minted = APIKey.mint(
            tenantId: "ten_a", name: "k", role: .agent, expiresAt: nil, now: Timestamp(milliseconds: 0))
        #expect(minted.text.count == 47)
        #expect(APIKey.isWellFormed(minted.text))
        #expect(minted.key.hash == APIKey.hash(of: minted.text))
        #expect(minted.key.hash.count == 64)
        #expect(minted.key.prefix == String(minted.text.prefix(12)))
        #expect(!minted.key.hash.contains(minted.text))
        let other = APIKey.mint(
            tenantId: "ten_a", name: "k", role: .agent, expiresAt: nil, now: Timestamp(milliseconds: 0))
        #expect(other.text != minted.text)
    }

    @Test func theHashIsTheLowercaseHexSHA256OfTheText() {
        // SHA-256("abc") from FIPS 180-2.
        #expect(APIKey.hash(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [
        "", "opk_", "opk_" + String(repeating: "a", count: 42), "opk_" + String(repeating: "a", count: 44),
        "xyz_" + String(repeating: "a", count: 43), "opk_" + String(repeating: "a", count: 42) + "=",
    ])
    func malformedKeysAreRecognised(text: String) {
        #expect(!APIKey.isWellFormed(text))
    }
}

@Suite("Authentication failure limiter")
struct AuthenticationFailureLimiterTests {
    @Test func blocksAnAddressOverTheLimitUntilItsWindowEnds() {
        var limiter = AuthenticationFailureLimiter(limit: 3, window: .seconds(60))
        let start = ContinuousClock.now
        for second in 0..<3 {
            #expect(limiter.retryAfter(address: "10.0.0.1", now: start.advanced(by: .seconds(second))) == nil)
            limiter.recordFailure(address: "10.0.0.1", now: start.advanced(by: .seconds(second)))
        }
        #expect(limiter.retryAfter(address: "10.0.0.1", now: start.advanced(by: .seconds(10))) == .seconds(50))
        #expect(limiter.retryAfter(address: "10.0.0.2", now: start.advanced(by: .seconds(10))) == nil)
        #expect(limiter.retryAfter(address: "10.0.0.1", now: start.advanced(by: .seconds(60))) == nil)
        limiter.recordFailure(address: "10.0.0.1", now: start.advanced(by: .seconds(61)))
        #expect(limiter.retryAfter(address: "10.0.0.1", now: start.advanced(by: .seconds(61))) == nil)
    }

    @Test func keepsAtMostTheConfiguredNumberOfAddresses() {
        var limiter = AuthenticationFailureLimiter(limit: 3, window: .seconds(60), maximumAddresses: 100)
        let start = ContinuousClock.now
        for index in 0..<1000 {
            limiter.recordFailure(address: "10.0.\(index / 256).\(index % 256)", now: start)
        }
        #expect(limiter.trackedAddresses <= 100)
    }
}

@Suite("Agent versions")
struct AgentVersionTests {
    @Test(arguments: [
        ("0.1.0", "0.2.0", true), ("0.2.0", "0.2.0", false), ("1.10.0", "1.9.3", false), ("1.2", "1.2.0", false),
        ("v1.2.0", "1.2.1", true), ("1.3.0-rc.1", "1.3.0", false), ("garbage", "0.0.1", true),
    ])
    func comparesNumericComponents(version: String, minimum: String, older: Bool) {
        #expect(AgentVersion.isOlder(version, than: minimum) == older)
    }
}

@Suite("Run log slices")
struct RunLogSliceTests {
    @Test func anIncompleteTrailingCharacterIsCutBack() {
        let bytes = Array("aé€😀".utf8)
        #expect(RunsController<SQLiteControlPlaneStore>.incompleteUTF8Suffix(bytes) == 0)
        for cut in 1...3 {
            let truncated = Array(bytes.dropLast(cut))
            #expect(RunsController<SQLiteControlPlaneStore>.incompleteUTF8Suffix(truncated) == 4 - cut)
        }
        #expect(RunsController<SQLiteControlPlaneStore>.incompleteUTF8Suffix([]) == 0)
    }
}
