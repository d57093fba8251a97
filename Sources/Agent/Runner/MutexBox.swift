internal import Synchronization

/// A `Mutex` in a class, so that `Sendable` final classes and structs can share small synchronous state.
final class MutexBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }

    var value: Value { mutex.withLock { $0 } }

    /// Stores `value` and returns what was there.
    func exchange(_ value: Value) -> Value {
        mutex.withLock { current in
            let old = current
            current = value
            return old
        }
    }
}
