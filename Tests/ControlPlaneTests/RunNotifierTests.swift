import ControlPlane
import Testing

@Suite("RunNotifier")
struct RunNotifierTests {
    @Test func aNotificationWakesTheTenantsWaiters() async throws {
        let notifier = RunNotifier()
        let generation = notifier.generation(of: "ten_a")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await notifier.wait(tenantId: "ten_a", after: generation, timeout: .seconds(30)) }
            while notifier.waitingCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
            let start = ContinuousClock.now
            notifier.notify(tenantId: "ten_a")
            try await group.next()
            // Far below the 30 s timeout; generous so a loaded CI machine cannot make it flaky.
            #expect(start.duration(to: .now) < .seconds(10))
        }
        #expect(notifier.waitingCount == 0)
    }

    @Test func aNotificationBeforeTheWaitIsNotLost() async {
        let notifier = RunNotifier()
        let generation = notifier.generation(of: "ten_a")
        notifier.notify(tenantId: "ten_a")
        let start = ContinuousClock.now
        await notifier.wait(tenantId: "ten_a", after: generation, timeout: .seconds(30))
        // Far below the 30 s timeout; generous so a loaded CI machine cannot make it flaky.
        #expect(start.duration(to: .now) < .seconds(10))
    }

    @Test func anotherTenantsNotificationDoesNotWakeTheWaiter() async {
        let notifier = RunNotifier()
        let generation = notifier.generation(of: "ten_a")
        async let waited: Void = notifier.wait(tenantId: "ten_a", after: generation, timeout: .milliseconds(200))
        notifier.notify(tenantId: "ten_b")
        let start = ContinuousClock.now
        await waited
        #expect(start.duration(to: .now) >= .milliseconds(150))
    }

    @Test func notifyAllAndShutdownWakeEveryone() async throws {
        let notifier = RunNotifier()
        let a = notifier.generation(of: "ten_a")
        let b = notifier.generation(of: "ten_b")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await notifier.wait(tenantId: "ten_a", after: a, timeout: .seconds(30)) }
            group.addTask { await notifier.wait(tenantId: "ten_b", after: b, timeout: .seconds(30)) }
            while notifier.waitingCount < 2 { try await Task.sleep(for: .milliseconds(1)) }
            notifier.notifyAll()
            try await group.waitForAll()
        }
        notifier.shutDown()
        #expect(notifier.isShutDown)
        let start = ContinuousClock.now
        await notifier.wait(tenantId: "ten_a", after: notifier.generation(of: "ten_a"), timeout: .seconds(30))
        // Far below the 30 s timeout; generous so a loaded CI machine cannot make it flaky.
        #expect(start.duration(to: .now) < .seconds(10))
    }

    @Test func aCancelledWaitReturnsAndLeavesNoWaiterBehind() async throws {
        let notifier = RunNotifier()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await notifier.wait(tenantId: "ten_a", after: 0, timeout: .seconds(30)) }
            while notifier.waitingCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
            let start = ContinuousClock.now
            group.cancelAll()
            try await group.waitForAll()
            // Far below the 30 s timeout; generous so a loaded CI machine cannot make it flaky.
            #expect(start.duration(to: .now) < .seconds(10))
        }
        #expect(notifier.waitingCount == 0)
    }
}
