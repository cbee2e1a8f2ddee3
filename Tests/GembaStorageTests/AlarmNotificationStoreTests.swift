import GembaCore
import GembaStorage
@testable import GembaPostgres
import Logging
import Testing
import GembaTestSupport

/// What the alarm engine and the notifier keep, on both backends: rules, alarm states and the
/// journal recorded with their deliveries in one transaction, the outbox's life cycle.
@Suite struct AlarmNotificationStoreTests {
    static let acme = TenantID("acme")!

    static func delivery(_ tenant: TenantID, _ message: String, at time: Int64) -> OutboxEntry {
        OutboxEntry(tenant: tenant, channel: "ops", recipient: "anna", groupKey: "g", messageID: message, eventType: "alarm.raised",
                    payload: #"{"m":"\#(message)"}"#, createdAt: time, nextAttemptAt: time)
    }

    @Test(arguments: Backend.available) func rulesAlarmsAndTheJournal(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let rule = StoredRule(tenant: .default, id: "hot", definition: "{}", version: 1, updatedBy: "eng", updatedAt: 10)
        try await store.saveRule(rule)
        var changed = rule
        changed.version = 2
        try await store.saveRule(changed)
        try await store.saveRule(StoredRule(tenant: Self.acme, id: "hot", definition: "{}", version: 1, updatedBy: "x", updatedAt: 1))
        #expect(try await store.allRules().filter { $0.tenant == .default } == [changed])

        let alarm = StoredAlarm(tenant: .default, rule: "hot", machine: "p1/line1/m1", state: "active", updatedAt: 20)
        let entries = [("p1/line1/m1", 20), ("p1/line2/m2", 30), ("p10/line1/m3", 40)].map { machine, time in
            AlarmJournalEntry(tenant: .default, time: Int64(time), rule: "hot", machine: machine, kind: "raise", fromState: "normal",
                              toState: "active", severity: "high", value: 81.5, actor: nil, comment: nil)
        }
        try await store.recordAlarms([alarm], journal: entries, deliveries: [Self.delivery(.default, "m1", at: 20)])
        try await store.recordAlarms([StoredAlarm(tenant: .default, rule: "hot", machine: "p1/line1/m1", state: "acknowledged", updatedAt: 25)],
                                     journal: [], deliveries: [])
        #expect(try await store.allAlarms().map(\.state) == ["acknowledged"])
        let scoped = try await store.journal(JournalQuery(tenant: .default, range: 0..<100, scope: "p1"))
        #expect(scoped.map(\.machine) == ["p1/line1/m1", "p1/line2/m2"])  // "p10/…" is not under "p1"
        #expect(scoped.first?.value == 81.5)
        #expect(try await store.journal(JournalQuery(tenant: .default, range: 25..<100, limit: 1)).map(\.time) == [30])
        #expect(try await store.journal(JournalQuery(tenant: Self.acme, range: 0..<100)).isEmpty)
        #expect(try await store.deliveries(tenant: .default, status: .pending, limit: 10).map(\.messageID) == ["m1"])

        #expect(try await store.deleteRule(tenant: .default, id: "hot"))
        #expect(try await store.allAlarms().isEmpty)
        #expect(try await !store.deleteRule(tenant: .default, id: "hot"))
    }

    @Test(arguments: Backend.available) func theOutboxLifeCycle(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let queued = try await store.enqueue([Self.delivery(.default, "a", at: 100), Self.delivery(.default, "b", at: 200),
                                              Self.delivery(Self.acme, "c", at: 50)])
        #expect(Set(queued.map(\.id)).count == 3)
        #expect(try await store.dueDeliveries(now: 150, limit: 10).map(\.messageID) == ["c", "a"])
        var failed = queued[0]
        failed.attempts = 1
        failed.nextAttemptAt = 1000
        failed.lastError = "HTTP 503"
        try await store.recordAttempt(DeliveryAttempt(outbox: failed.id, time: 150, statusCode: 503, error: "HTTP 503", durationMilliseconds: 12),
                                      entry: failed)
        var delivered = queued[2]
        delivered.status = .delivered
        delivered.attempts = 1
        delivered.deliveredAt = 160
        try await store.recordAttempt(DeliveryAttempt(outbox: delivered.id, time: 160, statusCode: 200, error: nil, durationMilliseconds: 3),
                                      entry: delivered)
        #expect(try await store.dueDeliveries(now: 300, limit: 10).map(\.messageID) == ["b"])
        var dead = failed
        dead.status = .dead
        try await store.recordAttempt(DeliveryAttempt(outbox: dead.id, time: 1000, statusCode: nil, error: "timeout", durationMilliseconds: 5000),
                                      entry: dead)
        #expect(try await store.delivery(tenant: .default, id: dead.id)?.status == .dead)
        #expect(try await store.delivery(tenant: Self.acme, id: dead.id) == nil)
        #expect(try await store.attempts(tenant: .default, outbox: dead.id).map(\.statusCode) == [503, nil])
        #expect(try await store.delivery(tenant: Self.acme, id: delivered.id)?.deliveredAt == 160)
        #expect(try await store.attempts(tenant: Self.acme, outbox: dead.id).isEmpty)
        #expect(try await store.requeue(tenant: .default, id: dead.id, now: 2000))
        #expect(try await !store.requeue(tenant: Self.acme, id: dead.id, now: 2000))
        #expect(try await store.delivery(tenant: .default, id: dead.id)?.attempts == 0)
        #expect(try await store.deliveries(tenant: .default, status: nil, limit: 10).map(\.messageID) == ["b", "a"])
    }

    @Test(arguments: Backend.available) func channelsAndConfigs(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.saveChannel(StoredNotificationConfig(tenant: .default, id: "ops", definition: "{}", sealedSecrets: "sealed"))
        try await store.saveConfig(StoredNotificationConfig(tenant: .default, id: "night", definition: "{\"x\":1}"), kind: .roster)
        #expect(try await store.allChannels().map(\.sealedSecrets) == ["sealed"])
        #expect(try await store.allConfigs(.roster).map(\.definition) == ["{\"x\":1}"])
        #expect(try await store.allConfigs(.person).isEmpty)
        #expect(try await store.deleteConfig(.roster, tenant: .default, id: "night"))
        #expect(try await !store.deleteChannel(tenant: Self.acme, id: "ops"))
        #expect(try await store.deleteChannel(tenant: .default, id: "ops"))
    }

    /// Two nodes on one PostgreSQL database asking for due deliveries at once each get their own
    /// rows, never the same one; a claimed row falls due again once the claim has run out.
    @Test(.enabled(if: PostgresTestServer.enabled)) func nodesClaimDueDeliveriesOnce() async throws {
        let url = try await PostgresTestServer.makeDatabase()
        let first = try await PostgresStore.open(url, logger: Logger(label: "test"))
        let second = try await PostgresStore.open(url, logger: Logger(label: "test"))
        defer { first.close(); second.close() }
        _ = try await first.enqueue((0..<200).map { Self.delivery(.default, "m\($0)", at: 100) })
        async let a = first.dueDeliveries(now: 1000, limit: 150)
        async let b = second.dueDeliveries(now: 1000, limit: 150)
        let (mine, theirs) = try await (a, b)
        #expect(Set(mine.map(\.id)).isDisjoint(with: theirs.map(\.id)))
        #expect(mine.count + theirs.count == 200)
        #expect(mine.allSatisfy { $0.nextAttemptAt == 100 })  // answered as they were before the claim
        #expect(try await first.dueDeliveries(now: 1000 + PostgresStore.claim - 1, limit: 500).isEmpty)
        #expect(try await second.dueDeliveries(now: 1000 + PostgresStore.claim, limit: 500).count == 200)
    }
}
