@testable import GembaPostgres
import GembaTestSupport
import Logging
import Synchronization
import Testing

/// What one feed heard, in order, and how often it resynchronised.
final class Heard: Sendable {
    let payloads = Mutex<[String]>([])
    let resyncs = Atomic<Int>(0)
}

/// Two feeds on one database stand for two nodes (PostgreSQL `LISTEN`/`NOTIFY`).
@Suite(.enabled(if: PostgresTestServer.enabled, "GEMBA_TEST_POSTGRES is not set"))
struct PostgresChangeFeedTests {
    @Test func anotherNodesChangesArriveInOrderAndANodesOwnDoNot() async throws {
        let store = try await PostgresTestServer.makeStore()
        defer { store.close() }
        let a = PostgresChangeFeed(store: store, checkInterval: .milliseconds(200), logger: Logger(label: "test"))
        let b = PostgresChangeFeed(store: store, checkInterval: .milliseconds(200), logger: Logger(label: "test"))
        let heard = Heard()
        let listening = Task {
            await b.run(deliver: { payload in heard.payloads.withLock { $0.append(payload) } },
                        resync: { heard.resyncs.add(1, ordering: .relaxed) })
        }
        defer { listening.cancel() }
        // The feed resynchronises once it listens: from then on nothing is missed.
        #expect(try await TestSupport.eventually { heard.resyncs.load(ordering: .relaxed) == 1 })
        await b.announce("its own")
        await a.announce("oee {\"first\":1}")
        await a.announce("asset {\"second\":2}")
        #expect(try await TestSupport.eventually { heard.payloads.withLock { $0.count } == 2 })
        #expect(heard.payloads.withLock { $0 } == ["oee {\"first\":1}", "asset {\"second\":2}"])
        #expect(b.received == 2)
        // Too long for a notification: refused here, never sent.
        await a.announce(String(repeating: "x", count: 8_000))
        await a.announce("after")
        #expect(try await TestSupport.eventually { heard.payloads.withLock { $0.last } == "after" })
        #expect(heard.payloads.withLock { $0.count } == 3)

        // The listening connection dies: the feed connects again and resynchronises (what was sent
        // meanwhile is lost to it), then hears again.
        try await store.client.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'gemba-changes'
            """)
        #expect(try await TestSupport.eventually { heard.resyncs.load(ordering: .relaxed) == 2 })
        await a.announce("again")
        #expect(try await TestSupport.eventually { heard.payloads.withLock { $0.last } == "again" })
    }
}
