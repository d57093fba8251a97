internal import OutpostProtocol

/// A change to a run's spooled state: the phase it goes on in, and whatever else is known now (nil: unchanged).
struct RunUpdate: Sendable, Equatable {
    var phase: RunState.Phase
    var status: CompleteRequest.Status?
    var error: String?
    var denied: Bool?
    var relay: CompleteRequest.RelayObjects?
    var source: String?
    var policy: String?

    /// A change of phase, with what the run learned on the way.
    init(
        phase: RunState.Phase, status: CompleteRequest.Status? = nil, error: String? = nil, denied: Bool? = nil,
        relay: CompleteRequest.RelayObjects? = nil
    ) {
        self.phase = phase
        self.status = status
        self.error = error
        self.denied = denied
        self.relay = relay
    }

    /// Writes the change into `state`, leaving what it does not know alone.
    func apply(to state: inout RunState) {
        state.phase = phase
        if let status { state.status = status }
        if let error { state.error = error }
        if let denied { state.denied = denied }
        if let relay { state.relay = relay }
        if let source { state.source = source }
        if let policy { state.policy = policy }
    }
}
