internal import OutpostProtocol

/// One run's state, shared by its supervisor and its log shipper, written to the spool on every change so that
/// a restarted agent resumes from the last thing that happened.
actor RunTracker {
    let spool: Spool
    private(set) var state: RunState

    var runId: String { state.assignment.runId }
    var leaseId: Int64 { state.assignment.leaseId }

    init(spool: Spool, state: RunState) {
        self.spool = spool
        self.state = state
    }

    /// Changes the state and persists it.
    func update(_ change: (inout RunState) -> Void) throws {
        var next = state
        change(&next)
        guard next != state else { return }
        try spool.writeState(next, runId: next.assignment.runId)
        state = next
    }
}
