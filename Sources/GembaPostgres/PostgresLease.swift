internal import PostgresNIO
internal import Synchronization

/// How the connection pool is doing: what a metrics endpoint shows.
public struct PostgresPoolStatistics: Sendable, Hashable {
    /// Most connections the pool opens.
    public var size: Int
    /// Callers waiting for a connection right now.
    public var waiting: Int
    /// Connections handed out so far.
    public var leases: Int
    /// Time callers spent waiting for a connection, in all (seconds).
    public var waitSeconds: Double
    /// Callers that gave up because no connection came within their deadline.
    public var timeouts: Int
}

/// The pool is busy: no connection came free within the caller's deadline. Ingest answers this
/// with back-pressure (HTTP 503, MQTT reads paused), not a crash and not a longer queue.
public struct PostgresPoolBusy: Error, CustomStringConvertible {
    public let deadline: Duration
    public var description: String { "no PostgreSQL connection came free within \(deadline)" }
}

/// Leases pool connections with a deadline on the wait (not on the work), counting waits.
final class PostgresLeases: Sendable {
    let size: Int
    private let waiting = Atomic<Int>(0)
    private let leases = Atomic<Int>(0)
    private let waitNanoseconds = Atomic<Int64>(0)
    private let timeouts = Atomic<Int>(0)

    init(size: Int) { self.size = size }

    var statistics: PostgresPoolStatistics {
        PostgresPoolStatistics(size: size, waiting: waiting.load(ordering: .relaxed), leases: leases.load(ordering: .relaxed),
                               waitSeconds: Double(waitNanoseconds.load(ordering: .relaxed)) / 1e9,
                               timeouts: timeouts.load(ordering: .relaxed))
    }

    /// Whether a lease was taken or given up: whichever happens first claims it.
    private final class Claim: Sendable {
        let taken = Atomic<Bool>(false)
        func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
    }

    /// Runs `body` on a pool connection; throws ``PostgresPoolBusy`` when none comes within `deadline`.
    func withConnection<T: Sendable>(_ client: PostgresClient, deadline: Duration,
                                     _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let claim = Claim()
        let start = ContinuousClock.now
        waiting.add(1, ordering: .relaxed)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                do {
                    return try await client.withConnection { connection in
                        // The deadline passed just as the connection came: the caller has given up already.
                        guard claim.claim() else { throw CancellationError() }
                        self.noteLease(waited: ContinuousClock.now - start)
                        return try await body(connection)
                    }
                } catch {
                    if claim.claim() { self.waiting.subtract(1, ordering: .relaxed) }  // failed before any lease
                    throw error
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            while let next = try await group.next() {
                if let value = next {
                    group.cancelAll()
                    return value
                }
                if claim.claim() {
                    waiting.subtract(1, ordering: .relaxed)
                    timeouts.add(1, ordering: .relaxed)
                    group.cancelAll()
                    throw PostgresPoolBusy(deadline: deadline)
                }
            }
            throw CancellationError()
        }
    }

    private func noteLease(waited: Duration) {
        waiting.subtract(1, ordering: .relaxed)
        leases.add(1, ordering: .relaxed)
        let (seconds, attoseconds) = waited.components
        waitNanoseconds.add(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
    }
}
