public import Logging
internal import PostgresNIO
internal import Synchronization

/// Which node runs the singleton jobs (retention, maintenance plans and escalation, scheduled
/// backups): the one holding a session-level advisory lock on a connection of its own. The lock
/// goes with the session, so when that node dies, PostgreSQL releases it as soon as the
/// connection drops, and another node takes it at its next try (every `interval`).
public final class PostgresLeadership: Sendable {
    /// The lock key every node competes for.
    static let key: Int64 = 0x6765_6D62_615F_6C64  // "gemba_ld"

    private let url: PostgresURL
    private let interval: Duration
    private let logger: Logger
    private let leader = Atomic<Bool>(false)
    /// Told when this node takes or loses the lead.
    private let changeHandlers = Mutex<[@Sendable () -> Void]>([])
    /// Tries made so far (each one takes the lock, or finds it held, or checks the session).
    let tries = Atomic<Int>(0)

    public init(url: PostgresURL, interval: Duration = .seconds(5), logger: Logger) {
        self.url = url
        self.interval = interval
        self.logger = logger
    }

    /// Whether this node runs the singleton jobs now.
    public var isLeader: Bool { leader.load(ordering: .acquiring) }

    /// Calls `handler` each time ``isLeader`` changes (after the change), so a loop that only
    /// acts while leading can wait for it instead of polling. It must not block.
    public func whenChanged(_ handler: @escaping @Sendable () -> Void) {
        changeHandlers.withLock { $0.append(handler) }
    }

    private func setLeader(_ held: Bool) {
        guard leader.exchange(held, ordering: .acquiringAndReleasing) != held else { return }
        for handler in changeHandlers.withLock({ $0 }) { handler() }
    }

    /// Tries for the lock until cancelled; while holding it, checks every `interval` that its
    /// connection is alive (a lost connection is a lost lock). Each connect and each check must
    /// answer within `interval` twice over, or the lock counts as lost: a connection whose server
    /// vanished can hang without an error. Ends by closing the connection.
    public func run() async {
        var connection: PostgresConnection?
        var attempt = 0
        while !Task.isCancelled {
            do {
                let current: PostgresConnection
                if let connection {
                    current = connection
                } else {
                    attempt += 1
                    current = try await url.connect("gemba-leadership", id: attempt, within: interval * 2, logger: logger)
                    connection = current
                }
                let held = try await answer(within: interval * 2, expired: { Unanswered() }) { try await self.hold(on: current) }
                if held != isLeader {
                    if held { logger.notice("this node runs the singleton jobs (retention, maintenance plans, backups)") }
                    setLeader(held)
                }
                tries.add(1, ordering: .releasing)
            } catch {
                if isLeader { logger.warning("lost the singleton jobs' lock", metadata: ["error": "\(PostgresStoreError.message(of: error))"]) }
                setLeader(false)
                connection?.closeUnanswered()
                connection = nil
            }
            try? await Task.sleep(for: interval)
        }
        setLeader(false)
        connection?.closeUnanswered()
    }

    /// Takes the lock when free (a holder asking again only checks its session is alive).
    private func hold(on connection: PostgresConnection) async throws -> Bool {
        let query: PostgresQuery = isLeader ? "SELECT true" : "SELECT pg_try_advisory_lock(\(Self.key))"
        for try await held in try await connection.query(query, logger: logger).decode(Bool.self) { return held }
        return false
    }
}

extension PostgresConnection {
    /// Closes the connection without waiting for it (closing one whose server vanished can hang).
    func closeUnanswered() {
        Task { try? await self.close() }
    }
}
