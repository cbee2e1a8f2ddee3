internal import Logging
public import GembaStorage
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
public struct PostgresPoolBusy: StorageAvailabilityError, CustomStringConvertible {
    public let deadline: Duration
    public var storageUnavailable: Bool { true }
    public var description: String { "no PostgreSQL connection came free within \(deadline)" }
}

/// Leases pool connections with a deadline on the wait (not on the work), counting waits.
///
/// Once a caller has given up, the next ones wait at most ``impatientDeadline`` until a lease
/// succeeds again: the database is down or swamped, and ingest's quick 503 (or dropped MQTT
/// connection) beats every request sitting out the full deadline in turn.
final class PostgresLeases: Sendable {
    let size: Int
    static let impatientDeadline: Duration = .milliseconds(500)
    private let starved = Atomic<Bool>(false)
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
    /// The caller gets its answer at the deadline whatever the pool does (see ``answer(within:expired:_:)``).
    func withConnection<T: Sendable>(_ client: PostgresClient, deadline: Duration,
                                     _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let deadline = starved.load(ordering: .relaxed) ? min(deadline, Self.impatientDeadline) : deadline
        let claim = Claim()
        let start = ContinuousClock.now
        waiting.add(1, ordering: .relaxed)
        return try await answer(within: deadline, expired: {
            // A connection that comes later is given back unused.
            guard claim.claim() else { return nil }
            self.waiting.subtract(1, ordering: .relaxed)
            self.timeouts.add(1, ordering: .relaxed)
            self.starved.store(true, ordering: .relaxed)
            return PostgresPoolBusy(deadline: deadline)
        }) {
            do {
                return try await client.withConnection { connection in
                    // The deadline passed just as the connection came, or the caller was cancelled: it has given up already.
                    guard !Task.isCancelled, claim.claim() else { throw CancellationError() }
                    self.noteLease(waited: ContinuousClock.now - start)
                    return try await body(connection)
                }
            } catch {
                if claim.claim() { self.waiting.subtract(1, ordering: .relaxed) }  // failed before any lease
                throw error
            }
        }
    }

    private func noteLease(waited: Duration) {
        starved.store(false, ordering: .relaxed)
        waiting.subtract(1, ordering: .relaxed)
        leases.add(1, ordering: .relaxed)
        waitNanoseconds.add(waited.inNanoseconds, ordering: .relaxed)
    }
}

/// Runs `operation` in a task of its own and returns what it returns, unless `deadline` passes
/// first and `expired` then gives an error (nil: keep waiting for the operation): that error is
/// thrown at once and the operation cancelled, its result given to `discard` should it come
/// after all (a connection to close). Unlike a task group, the caller never waits for an
/// operation that ignores cancellation (a pool lease, a connect, a query on a connection whose
/// server vanished), nor past its own cancellation.
func answer<T: Sendable>(within deadline: Duration, expired: @escaping @Sendable () -> (any Error)?,
                         discard: (@Sendable (T) -> Void)? = nil,
                         _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.set(continuation)
            let work = Task {
                do {
                    let value = try await operation()
                    if !race.give(.success(value)) { discard?(value) }
                } catch {
                    race.give(.failure(error))
                }
            }
            let alarm = DeadlineWatch.shared.add(after: deadline) {
                guard let error = expired() else { return }
                race.give(.failure(error))
                work.cancel()
            }
            race.track(work: work, alarm: alarm)
        }
    } onCancel: {
        race.cancel()
    }
}

/// The continuation of ``answer(within:expired:_:)``, resumed once, and the operation and the
/// deadline racing for it.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var alarm: DeadlineWatch.Alarm?
        var cancelled = false
    }

    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<T, any Error>) { state.withLock { $0.continuation = continuation } }

    func track(work: Task<Void, Never>, alarm: DeadlineWatch.Alarm) {
        let (cancelled, answered) = state.withLock { state in
            (state.work, state.alarm) = (work, alarm)
            return (state.cancelled, state.continuation == nil)
        }
        if cancelled { cancel() } else if answered { DeadlineWatch.shared.remove(alarm) }
    }

    /// Resumes the caller (the first time only; answers whether this was it); the deadline has
    /// nothing left to do.
    @discardableResult
    func give(_ result: Result<T, any Error>) -> Bool {
        let (alarm, delivered) = state.withLock { state in
            let delivered = state.continuation != nil
            state.continuation?.resume(with: result)
            state.continuation = nil
            return (state.alarm, delivered)
        }
        alarm.map(DeadlineWatch.shared.remove)
        return delivered
    }

    /// The caller was cancelled: it is answered with `CancellationError` at once, and the
    /// operation is cancelled.
    func cancel() {
        let work = state.withLock { state in
            state.cancelled = true
            return state.work
        }
        give(.failure(CancellationError()))
        work?.cancel()
    }
}

/// The deadlines of the waits under way, all watched by one task that looks at them every
/// ``tick`` while there are any: a deadline costs two short locks, not a task and a timer of its
/// own (each commit waits twice, for its connection and for its answer). Deadlines fire up to a
/// tick late; the watching task ends when none is left.
final class DeadlineWatch: Sendable {
    static let shared = DeadlineWatch(tick: .milliseconds(50))

    struct Alarm: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    private struct Entry {
        var due: ContinuousClock.Instant
        var fire: @Sendable () -> Void
    }

    private struct State {
        var lastID: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var watching = false
    }

    let tick: Duration
    private let state = Mutex(State())

    init(tick: Duration) { self.tick = tick }

    /// Calls `fire` once `delay` has passed, unless the alarm is removed first.
    func add(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> Alarm {
        let due = ContinuousClock.now + delay
        let (alarm, startWatching) = state.withLock { state in
            state.lastID &+= 1
            state.entries[state.lastID] = Entry(due: due, fire: fire)
            defer { state.watching = true }
            return (Alarm(id: state.lastID), !state.watching)
        }
        if startWatching { Task.detached { await self.watch() } }
        return alarm
    }

    func remove(_ alarm: Alarm) {
        state.withLock { _ = $0.entries.removeValue(forKey: alarm.id) }
    }

    private func watch() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let due = state.withLock { state -> [@Sendable () -> Void]? in
                guard !state.entries.isEmpty else {
                    state.watching = false
                    return nil
                }
                let ids = state.entries.compactMap { $0.value.due <= now ? $0.key : nil }
                return ids.compactMap { state.entries.removeValue(forKey: $0)?.fire }
            }
            guard let due else { return }
            for fire in due { fire() }
        }
    }
}

/// The pool as the stores use it: every statement takes its connection through
/// ``PostgresLeases`` with a deadline (``deadline``, or the impatient one while the database looks
/// unreachable), so that during an outage sign-ins, reads and ingest answer at once with
/// ``PostgresPoolBusy`` (HTTP 503) instead of waiting for the database to come back. A query's
/// rows are read while the connection is held.
struct PostgresPool: Sendable {
    let client: PostgresClient
    let leases: PostgresLeases
    /// How long a statement waits for a connection.
    let deadline: Duration
    let logger: Logger

    /// Runs `body` on a connection that came within `deadline`.
    /// A lost connection is thrown as a ``PostgresStoreError`` saying the storage is unavailable.
    ///
    /// A body still running after `workLimit` is given up: its connection is closed and the caller
    /// gets an error saying the storage is unavailable. A statement in flight when the server shut
    /// down has been seen to wait forever for an answer; the limit bounds that. Limits are far above
    /// what the work takes (ingest commits: milliseconds, limit 30 s; the longest maintenance: minutes).
    func lease<T: Sendable>(deadline: Duration, workLimit: Duration = Self.defaultWorkLimit,
                            _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await leases.withConnection(client, deadline: deadline) { [logger] connection in
                try await answer(within: workLimit, expired: {
                    logger.warning("closing a PostgreSQL connection whose work got no answer in time", metadata: ["limit": "\(workLimit)"])
                    Task { try? await connection.close() }
                    return PostgresStoreError("PostgreSQL gave no answer within \(workLimit)", storageUnavailable: true)
                }) { try await body(connection) }
            }
        } catch where PostgresStoreError.isConnectionLoss(error) {
            throw PostgresStoreError.wrapping(error, doing: "talking to PostgreSQL")
        }
    }

    /// How long any statement or transaction may take before it is given up.
    static let defaultWorkLimit: Duration = .seconds(600)

    /// Runs `query` and returns all its rows (a statement run for its effect may leave them).
    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger? = nil, file: String = #fileID, line: Int = #line) async throws -> PostgresRows {
        let logger = logger ?? self.logger
        return PostgresRows(rows: try await lease(deadline: deadline) { connection in
            try await connection.query(query, logger: logger, file: file, line: line).collect()
        })
    }

    /// Runs `query` on `connection` when given (inside its transaction), else on a pool connection.
    @discardableResult
    func query(_ query: PostgresQuery, on connection: PostgresConnection?, logger: Logger) async throws -> PostgresRows {
        guard let connection else { return try await self.query(query, logger: logger) }
        return PostgresRows(rows: try await connection.query(query, logger: logger).collect())
    }

    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await lease(deadline: deadline, body)
    }

    /// Runs `body` in a transaction (`BEGIN` … `COMMIT`, or `ROLLBACK` when it throws).
    func withTransaction<T: Sendable>(logger: Logger, file: String = #file, line: Int = #line,
                                      _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await lease(deadline: deadline) { connection in
            try await connection.withTransaction(logger: logger, file: file, line: line) { try await body($0) }
        }
    }
}

/// A query's rows, read in full: decoded like postgres-nio's row sequence (`rows.decode(…)`).
struct PostgresRows: AsyncSequence, Sendable {
    typealias Element = PostgresRow
    let rows: [PostgresRow]

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: IndexingIterator<[PostgresRow]>
        mutating func next() async throws -> PostgresRow? { base.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: rows.makeIterator()) }
}
