import Agent
import OutpostProtocol
import Synchronization
import Testing

/// `LeaseKeeper` on a virtual clock: renewal cadence, self-fencing and what follows it, without real sleeps.
@Suite("Lease keeper")
struct LeaseKeeperTests {
    /// A scripted control plane: what each renewal gets at a given time, and when each renewal was sent.
    final class ControlPlane: Sendable {
        enum Answer: Sendable {
            case renewed(cancel: Bool)
            case unreachable
            case stale
        }

        let clock: VirtualClock
        let script: @Sendable (Duration) -> Answer
        let calls = Mutex<[Duration]>([])

        init(clock: VirtualClock, script: @escaping @Sendable (Duration) -> Answer) {
            self.clock = clock
            self.script = script
        }

        func renew() throws -> LeaseResponse {
            let now = clock.now.offset
            calls.withLock { $0.append(now) }
            switch script(now) {
            case .renewed(let cancel):
                return LeaseResponse(
                    leaseId: 7, leaseTTLSeconds: 8, cancel: cancel, cancelReason: cancel ? "stop" : nil)
            case .unreachable:
                throw AgentError(.unavailable, "cannot reach the control plane")
            case .stale:
                throw AgentError(.staleLease, "the lease is no longer valid")
            }
        }

        var sent: [Duration] { calls.withLock { $0 } }
    }

    /// Runs a keeper (ttl 8 s, margin 2 s, confirmed at 0) until it stops; returns its events in order.
    static func keep(_ controlPlane: ControlPlane) async -> [LeaseKeeper<VirtualClock>.Event] {
        let clock = controlPlane.clock
        let keeper = LeaseKeeper(ttl: .seconds(8), margin: .seconds(2), clock: clock) {
            try controlPlane.renew()
        }
        let (events, continuation) = AsyncStream.makeStream(of: LeaseKeeper<VirtualClock>.Event.self)
        await keeper.run(confirmedAt: clock.now, events: continuation)
        continuation.finish()
        var received: [LeaseKeeper<VirtualClock>.Event] = []
        for await event in events { received.append(event) }
        return received
    }

    @Test func aLeaseRenewedInTimeIsRenewedEveryQuarterTtlAndACancellationIsReportedOnce() async {
        let clock = VirtualClock()
        let controlPlane = ControlPlane(clock: clock) { now in
            now >= .seconds(20) ? .stale : .renewed(cancel: now >= .seconds(5))
        }
        let events = await Self.keep(controlPlane)
        #expect(events == [.cancelRequested("stop"), .lost("the lease is no longer valid")])
        #expect(controlPlane.sent == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20].map { Duration.seconds($0) })
    }

    @Test func aControlPlaneOutageFencesTheLeaseAtTtlMinusMarginThenARenewalReconfirmsIt() async {
        let clock = VirtualClock()
        // Renewed at 2 s, unreachable from 3 s to 20 s, renewed again until 30 s, then the run is someone else's.
        let controlPlane = ControlPlane(clock: clock) { now in
            if now >= .seconds(3) && now < .seconds(20) { return .unreachable }
            return now >= .seconds(30) ? .stale : .renewed(cancel: false)
        }
        let events = await Self.keep(controlPlane)
        #expect(events == [.fenced, .reconfirmed, .lost("the lease is no longer valid")])
        let sent = controlPlane.sent
        // The last renewal that succeeded was sent at 2 s: the keeper is awake at 2 + 8 − 2 = 8 s to fence.
        #expect(sent.contains(.seconds(8)), "\(sent)")
        // Through the outage it keeps asking, never more than ttl/8 apart, so it is back within a second…
        let outage = sent.filter { $0 > .seconds(2) && $0 < .seconds(20) }
        for (earlier, later) in zip(outage, outage.dropFirst()) {
            #expect(later - earlier <= .seconds(1), "\(sent)")
        }
        let back = sent.first { $0 >= .seconds(20) }
        #expect(back.map { $0 < .seconds(21) } == true, "\(sent)")
        // …and then renews every ttl/4 again.
        let after = sent.filter { $0 >= .seconds(20) }
        for (earlier, later) in zip(after, after.dropFirst()) {
            #expect(later - earlier == .seconds(2), "\(sent)")
        }
    }

    @Test func aLeaseTheControlPlaneGaveAwayDuringTheOutageIsReportedLostAfterTheFence() async {
        let clock = VirtualClock()
        let controlPlane = ControlPlane(clock: clock) { now in
            if now < .seconds(3) { return .renewed(cancel: false) }
            return now < .seconds(15) ? .unreachable : .stale
        }
        let events = await Self.keep(controlPlane)
        #expect(events == [.fenced, .lost("the lease is no longer valid")])
        #expect(controlPlane.sent.last.map { $0 >= .seconds(15) && $0 < .seconds(16) } == true)
    }

    /// Runs a keeper (ttl 8 s, margin 2 s) confirmed at `confirmedAt` whose renewals `answer` at the clock's time;
    /// returns its events and when each renewal was sent.
    static func keep(
        confirmedAt: Duration = .zero, _ answer: @escaping @Sendable (Duration) throws -> LeaseResponse
    ) async -> (events: [LeaseKeeper<VirtualClock>.Event], sent: [Duration]) {
        let clock = VirtualClock()
        let sent = Mutex<[Duration]>([])
        let keeper = LeaseKeeper(ttl: .seconds(8), margin: .seconds(2), clock: clock) {
            let now = clock.now.offset
            sent.withLock { $0.append(now) }
            return try answer(now)
        }
        let (events, continuation) = AsyncStream.makeStream(of: LeaseKeeper<VirtualClock>.Event.self)
        await keeper.run(confirmedAt: VirtualClock.Instant(offset: confirmedAt), events: continuation)
        continuation.finish()
        var received: [LeaseKeeper<VirtualClock>.Event] = []
        for await event in events { received.append(event) }
        return (received, sent.withLock { $0 })
    }

    @Test func aRenewalTheControlPlaneRefusesForGoodReportsTheLeaseLost() async {
        let (events, sent) = await Self.keep { _ in throw AgentError(.rejected, "no such run", status: 404) }
        #expect(events == [.lost("no such run")])
        #expect(sent == [.seconds(2)])
    }

    @Test func theTtlTheControlPlaneGrantsSetsTheCadenceOfTheNextRenewals() async {
        let (events, sent) = await Self.keep { now in
            guard now < .seconds(6) else { throw AgentError(.staleLease, "gone") }
            return LeaseResponse(leaseId: 7, leaseTTLSeconds: 4)
        }
        #expect(events == [.lost("gone")])
        // The first renewal waits a quarter of the claimed ttl (8 s), the next ones a quarter of the granted 4 s.
        #expect(sent == [2, 3, 4, 5, 6].map { Duration.seconds($0) })
    }

    @Test func aLeaseConfirmedBeforeTheKeeperStartedIsFencedThatMuchSooner() async {
        let (events, sent) = await Self.keep(confirmedAt: .seconds(-5)) { now in
            guard now < .seconds(4) else { throw AgentError(.staleLease, "gone") }
            throw AgentError(.unavailable, "503", status: 503)
        }
        #expect(events == [.fenced, .lost("gone")])
        // Confirmed at −5 s: ttl − margin runs out at 1 s, before the first quarter-ttl renewal.
        #expect(sent.first == .seconds(1))
    }

    @Test func aRetryAfterDuringAnOutageNeverDelaysTheNextRenewalBeyondAnEighthOfTheTtl() async {
        let (events, sent) = await Self.keep { now in
            guard now < .seconds(12) else { throw AgentError(.staleLease, "gone") }
            throw AgentError(.unavailable, "429", status: 429, retryAfter: .seconds(60))
        }
        #expect(events == [.fenced, .lost("gone")])
        for (earlier, later) in zip(sent, sent.dropFirst()) {
            #expect(later - earlier <= .seconds(1), "\(sent)")
        }
    }

    @Test func aKeeperWhoseRenewalIsCancelledStopsWithoutAWord() async {
        let (events, sent) = await Self.keep { _ in throw CancellationError() }
        #expect(events.isEmpty)
        #expect(sent == [.seconds(2)])
    }
}
