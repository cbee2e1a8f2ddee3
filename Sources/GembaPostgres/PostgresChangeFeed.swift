public import Logging
internal import PostgresNIO
internal import Synchronization

/// Low-rate changes one node makes that the other nodes' caches must follow (a shift calendar,
/// production settings, summaries stored or dropped), through PostgreSQL's `LISTEN`/`NOTIFY` on
/// the channel `gemba_changes`. Best effort by design: what is sent while a node's listening
/// connection is down is not repeated, so after every connect the node resynchronises from the
/// database instead (`resync`). High-rate data (samples) never goes this way.
public final class PostgresChangeFeed: Sendable {
    static let channel = "gemba_changes"
    /// Longest payload sent (PostgreSQL's limit is 8,000 bytes).
    static let maxPayload = 7_900

    private let url: PostgresURL
    private let pool: PostgresPool
    /// This node's id, the first word of each payload it sends, so it skips its own.
    private let node: String
    private let checkInterval: Duration
    private let logger: Logger
    /// Payloads received from other nodes so far.
    public var received: Int { receivedCount.load(ordering: .relaxed) }
    private let receivedCount = Atomic<Int>(0)

    /// A feed over `store`'s database; its listening connection is checked every `checkInterval`.
    public init(store: PostgresStore, checkInterval: Duration = .seconds(5), logger: Logger) {
        url = store.url
        pool = store.client
        node = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        self.checkInterval = checkInterval
        self.logger = logger
    }

    /// Sends `payload` to every other node's feed (a failure is logged: the others resynchronise
    /// when their own connection comes back, and this one's sends resume with the pool's).
    public func announce(_ payload: String) async {
        let message = node + " " + payload
        guard message.utf8.count <= Self.maxPayload else {
            logger.error("a change is too long to announce to the other nodes", metadata: ["bytes": "\(message.utf8.count)"])
            return
        }
        do {
            try await pool.query("SELECT pg_notify(\(Self.channel), \(message))", logger: logger)
        } catch {
            logger.warning("could not announce a change to the other nodes", metadata: ["error": "\(PostgresStoreError.message(of: error))"])
        }
    }

    /// Listens until cancelled. Each time the listening connection is up, `resync` runs first
    /// (changes may have been missed while it was down); then `deliver` gets each other node's
    /// payload in the order PostgreSQL delivers them. The connection is checked every
    /// `checkInterval` (one that stops answering is replaced) and closed at the end.
    public func run(deliver: @escaping @Sendable (String) -> Void, resync: @escaping @Sendable () async -> Void) async {
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let connection = try await url.connect("gemba-changes", id: attempt, within: checkInterval * 2, logger: logger)
                defer { connection.closeUnanswered() }
                try await listen(on: connection, deliver: deliver, resync: resync)
            } catch where !Task.isCancelled {
                logger.warning("the change feed lost its connection; reconnecting", metadata: ["error": "\(PostgresStoreError.message(of: error))"])
            } catch {}
            try? await Task.sleep(for: checkInterval)
        }
    }

    private func listen(on connection: PostgresConnection, deliver: @escaping @Sendable (String) -> Void,
                        resync: @escaping @Sendable () async -> Void) async throws {
        let prefix = node + " "
        try await connection.listen(on: Self.channel) { notifications in
            await resync()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await notification in notifications where !notification.payload.hasPrefix(prefix) {
                        guard let space = notification.payload.firstIndex(of: " ") else { continue }
                        self.receivedCount.add(1, ordering: .relaxed)
                        deliver(String(notification.payload[notification.payload.index(after: space)...]))
                    }
                    throw PostgresStoreError("the notification stream ended")
                }
                group.addTask { try await self.check(connection) }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// Throws once the connection fails to answer a trivial statement within twice the interval,
    /// closing it first (which ends its notification stream too).
    private func check(_ connection: PostgresConnection) async throws {
        while true {
            try await Task.sleep(for: checkInterval)
            do {
                _ = try await answer(within: checkInterval * 2, expired: { Unanswered() }) {
                    try await connection.query("SELECT 1", logger: self.logger).collect()
                }
            } catch {
                connection.closeUnanswered()
                throw error
            }
        }
    }
}
