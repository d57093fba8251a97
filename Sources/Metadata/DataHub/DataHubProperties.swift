/// A DataHub `customProperties` map (string to string) that keeps insertion order, so exports are
/// byte-for-byte deterministic for equal input.
struct DataHubProperties: Encodable, Sendable, Equatable {
    private var entries: [(key: String, value: String)] = []

    var isEmpty: Bool { entries.isEmpty }

    /// The value of `key`; setting `nil` leaves the map unchanged, so optional record fields can be assigned
    /// as they are.
    subscript(key: String) -> String? {
        get { entries.first { $0.key == key }?.value }
        set {
            guard let newValue else { return }
            if let index = entries.firstIndex(where: { $0.key == key }) {
                entries[index].value = newValue
            } else {
                entries.append((key, newValue))
            }
        }
    }

    /// Adds every entry of `other`, replacing values of keys already present.
    mutating func merge(_ other: DataHubProperties) {
        for entry in other.entries { self[entry.key] = entry.value }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DataHubAspect.Key.self)
        for entry in entries {
            try container.encode(entry.value, forKey: DataHubAspect.Key(entry.key))
        }
    }

    static func == (lhs: DataHubProperties, rhs: DataHubProperties) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }
}
