public import GembaCore
public import GembaStorage
public import Logging
internal import PostgresNIO
internal import Synchronization

/// The PostgreSQL storage backend (15 or later), through postgres-nio's pooled `PostgresClient`.
///
/// Every ``commit(_:)`` is one statement (one transaction with the batch's registrations when it
/// has any): the samples go in by `UNNEST` of typed arrays, and the same statement upserts the
/// minute and hour rollups from the rows it inserted. Reads go to the pool's other connections.
/// Open one with ``open(_:defaultLimits:logger:startupTimeout:)`` and ``close()`` it when done.
public final class PostgresStore: TelemetryStore {
    /// The pool; every statement goes through it (see ``PostgresPool`` for what an outage does).
    let client: PostgresPool
    let logger: Logger
    private let runner: Task<Void, Never>
    private let defaultLimits: TenantLimits
    /// Start (ms) of every day partition known to exist.
    let partitions = Mutex<Set<Int64>>([])
    /// Each tenant's KPI reason ids and the paths they stand for, as last read or written.
    let reasonPaths = Mutex<[TenantID: [Int32: String]]>([:])
    /// What this node's commits know of each series (first sample time, newest stored time).
    let seriesTimes = Mutex<[Int64: SeriesTimes]>([:])
    /// The database's size, as last measured by ``maintain()``.
    private let size = Atomic<Int64>(0)
    /// When ``maintain()`` last created partitions ahead and dropped expired ones (ms).
    private let lastHousekeeping = Atomic<Int64>(0)
    /// Where ``maintain()`` last found the rollup watermark (moved by this node or another).
    private let rolledUpTo = Atomic<Int64>(.min)
    /// What this store connects to (without password).
    public let url: PostgresURL
    let leases: PostgresLeases
    /// How long a commit waits for a pool connection before it gives up with ``PostgresPoolBusy``.
    let leaseDeadline: Duration

    private init(url: PostgresURL, client: PostgresClient, defaultLimits: TenantLimits, leaseDeadline: Duration, logger: Logger) {
        self.url = url
        let leases = PostgresLeases(size: url.poolSize)
        self.client = PostgresPool(client: client, leases: leases, deadline: leaseDeadline, logger: logger)
        self.leases = leases
        self.leaseDeadline = leaseDeadline
        self.defaultLimits = defaultLimits
        self.logger = logger
        runner = Task { await client.run() }
    }

    /// Connects to `url`, waiting for the database up to `startupTimeout` (a server still starting,
    /// or not reachable yet, is retried), then applies the migrations, creates the day partitions
    /// of the next days and folds what is due into the rollups. A commit waits at most `leaseDeadline` for a pool connection.
    public static func open(_ url: PostgresURL, defaultLimits: TenantLimits = TenantLimits(), logger: Logger,
                            startupTimeout: Duration = .seconds(60), leaseDeadline: Duration = .seconds(5)) async throws -> PostgresStore {
        let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: logger)
        let store = PostgresStore(url: url, client: client, defaultLimits: defaultLimits, leaseDeadline: leaseDeadline, logger: logger)
        do {
            try await store.waitForDatabase(timeout: startupTimeout)
            try await PostgresSchema.migrate(client, logger: logger)
            try await store.loadPartitions()
            try await store.housekeeping(now: Timestamp.now())
            try await store.advanceRollups(to: PostgresRollups.target(now: Timestamp.now().millisecondsSinceEpoch))
        } catch {
            store.close()
            throw PostgresStoreError.wrapping(error, doing: "opening \(url)")
        }
        return store
    }

    /// How the connection pool is doing.
    public var poolStatistics: PostgresPoolStatistics { leases.statistics }

    /// Closes the pool's connections.
    public func close() {
        runner.cancel()
    }

    deinit { runner.cancel() }

    /// Retries `SELECT 1` until it answers, for at most `timeout`.
    private func waitForDatabase(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var attempt = 0
        while true {
            do {
                _ = try await client.lease(deadline: .seconds(2)) { [logger] connection in
                    try await connection.query("SELECT 1", logger: logger)
                }
                return
            } catch {
                attempt += 1
                guard clock.now < deadline else { throw error }
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("waiting for PostgreSQL", metadata: [
                        "storage.url": "\(url)", "error": "\(PostgresStoreError.message(of: error))",
                    ])
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// The migrations this build applies, in order (for backups and `gemba --version`).
    public static var migrationIdentifiers: [String] { PostgresSchema.identifiers }

    // MARK: Health

    /// Readiness: a connection comes within a second and the server takes writes (not a standby).
    public func checkWritable() async throws {
        let inRecovery = try await client.lease(deadline: .seconds(1)) { [logger] connection in
            let rows = try await connection.query("SELECT pg_is_in_recovery()", logger: logger)
            return try await rows.decode(Bool.self).reduce(false) { $0 || $1 }
        }
        if inRecovery { throw PostgresStoreError("the PostgreSQL server is a read-only standby") }
    }

    public func diskUsage() throws -> Int64 { size.load(ordering: .relaxed) }

    /// Every 5 s: nothing here needs to run more often.
    public var maintenanceInterval: Duration { .seconds(5) }

    /// Measures the database's size and, once a whole minute has passed the grace, folds it into
    /// the rollups; once a minute also creates the day partitions of the next days and drops those
    /// every tenant's raw retention has passed.
    public func maintain() async throws {
        let now = Timestamp.now().millisecondsSinceEpoch
        if now - lastHousekeeping.load(ordering: .relaxed) >= 60_000 {
            try await housekeeping(now: Timestamp(millisecondsSinceEpoch: now))
        }
        // The target moves once a minute: in between there is nothing to summarize or fold.
        let target = PostgresRollups.target(now: now)
        if target > rolledUpTo.load(ordering: .relaxed) {
            await summarizeNewRanges(now: now)
            rolledUpTo.store(try await advanceRollups(to: target), ordering: .relaxed)
        }
        _ = try await measureDiskUsage()
    }

    /// Measures the database's size now (``diskUsage()`` answers the last measurement).
    public func measureDiskUsage() async throws -> Int64 {
        for try await bytes in try await client.query("SELECT pg_database_size(current_database())", logger: logger).decode(Int64.self) {
            size.store(bytes, ordering: .relaxed)
        }
        return size.load(ordering: .relaxed)
    }

    /// Creates today's and the next two days' partitions, and drops expired ones.
    func housekeeping(now: Timestamp) async throws {
        lastHousekeeping.store(now.millisecondsSinceEpoch, ordering: .relaxed)
        let today = now.millisecondsSinceEpoch.flooredTo(TenantLimits.day)
        try await ensurePartitions(days: [today, today + TenantLimits.day, today + 2 * TenantLimits.day])
        try await dropExpiredPartitions(now: now)
    }

    // MARK: Catalog

    static let seriesColumns = "id, tenant, machine, tag, unit, value_type, kind, description, display_name, minimum, maximum, decimals, first_ms"

    /// Decodes rows of ``seriesColumns``; rows naming an unknown tenant, path or type are skipped.
    func fetchSeries(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [Series] {
        let rows = try await client.query(query, on: connection, logger: logger)
        var result: [Series] = []
        for try await (id, tenant, machine, tag, unit, valueType, kind, description, displayName, minimum, maximum, decimals, first)
            in rows.decode((Int64, String, String, String, String?, String, String, String?, String?, Double?, Double?, Int64?, Int64?).self) {
            guard let tenant = TenantID(tenant), let machine = try? AssetPath(machine),
                  let valueType = ValueType(rawValue: valueType), let kind = TagKind(rawValue: kind)
            else { continue }
            result.append(Series(id: id, key: SeriesKey(tenant: tenant, machine: machine, tag: tag),
                                 tag: Tag(name: tag, unit: unit, valueType: valueType, kind: kind, description: description,
                                          displayName: displayName, minimum: minimum, maximum: maximum, decimals: decimals.map(Int.init)),
                                 firstSampleTime: first))
        }
        return result
    }

    public func allSeries() async throws -> [Series] {
        try await fetchSeries(PostgresQuery(unsafeSQL: "SELECT \(Self.seriesColumns) FROM series ORDER BY id"))
    }

    public func allMachines() async throws -> [(tenant: TenantID, machine: Machine)] {
        var result: [(tenant: TenantID, machine: Machine)] = []
        let rows = try await client.query("SELECT tenant, path, registered_ms FROM machine ORDER BY tenant, path", logger: logger)
        for try await (tenant, path, registered) in rows.decode((String, String, Int64).self) {
            guard let tenant = TenantID(tenant), let path = try? AssetPath(path) else { continue }
            result.append((tenant, Machine(path: path, registeredAt: Timestamp(millisecondsSinceEpoch: registered))))
        }
        return result
    }

    public func machines(tenant: TenantID) async throws -> [Machine] {
        var result: [Machine] = []
        let rows = try await client.query("SELECT path, registered_ms FROM machine WHERE tenant = \(tenant.rawValue) ORDER BY path",
                                          logger: logger)
        for try await (path, registered) in rows.decode((String, Int64).self) {
            guard let path = try? AssetPath(path) else { continue }
            result.append(Machine(path: path, registeredAt: Timestamp(millisecondsSinceEpoch: registered)))
        }
        return result
    }

    public func series(tenant: TenantID, machine: AssetPath?) async throws -> [Series] {
        if let machine {
            let query: PostgresQuery = """
                SELECT \(unescaped: Self.seriesColumns) FROM series WHERE tenant = \(tenant.rawValue) AND machine = \(machine.description) ORDER BY tag
                """
            return try await fetchSeries(query)
        }
        let query: PostgresQuery = "SELECT \(unescaped: Self.seriesColumns) FROM series WHERE tenant = \(tenant.rawValue) ORDER BY machine, tag"
        return try await fetchSeries(query)
    }

    public func limits(tenant: TenantID) async throws -> TenantLimits {
        let rows = try await client.query("""
            SELECT max_machines, max_tags_per_machine, raw_retention_ms, minute_retention_ms, hour_retention_ms
            FROM tenant WHERE id = \(tenant.rawValue)
            """, logger: logger)
        for try await (machines, tags, raw, minute, hour) in rows.decode((Int64, Int64, Int64, Int64, Int64).self) {
            return TenantLimits(maxMachines: Int(machines), maxTagsPerMachine: Int(tags), rawRetention: raw,
                                minuteRetention: minute, hourRetention: hour)
        }
        return defaultLimits
    }

    public func setLimits(_ limits: TenantLimits, tenant: TenantID) async throws {
        try await client.query("""
            INSERT INTO tenant (id, max_machines, max_tags_per_machine, raw_retention_ms, minute_retention_ms, hour_retention_ms)
            VALUES (\(tenant.rawValue), \(Int64(limits.maxMachines)), \(Int64(limits.maxTagsPerMachine)), \(limits.rawRetention),
                    \(limits.minuteRetention), \(limits.hourRetention))
            ON CONFLICT (id) DO UPDATE SET max_machines = excluded.max_machines, max_tags_per_machine = excluded.max_tags_per_machine,
                raw_retention_ms = excluded.raw_retention_ms, minute_retention_ms = excluded.minute_retention_ms,
                hour_retention_ms = excluded.hour_retention_ms
            """, logger: logger)
    }

    public func tenants() async throws -> [TenantID] {
        var result: [TenantID] = []
        let rows = try await client.query("SELECT id FROM tenant UNION SELECT DISTINCT tenant FROM machine ORDER BY 1", logger: logger)
        for try await id in rows.decode(String.self) {
            if let tenant = TenantID(id) { result.append(tenant) }
        }
        return result
    }

    // MARK: Retention

    public func enforceRetention(tenant: TenantID, limits: TenantLimits, now: Timestamp) async throws -> Int {
        var ids: [Int64] = []
        for try await id in try await client.query("SELECT id FROM series WHERE tenant = \(tenant.rawValue)", logger: logger).decode(Int64.self) {
            ids.append(id)
        }
        let now = now.millisecondsSinceEpoch
        var deleted = 0
        // Small statements, so that no commit from ingest waits behind one long delete.
        for start in stride(from: 0, to: ids.count, by: 200) {
            let slice = Array(ids[start..<min(start + 200, ids.count)])
            deleted += try await execute("DELETE FROM sample WHERE series = ANY(\(slice)) AND t < \(now - limits.rawRetention)")
            deleted += try await execute("DELETE FROM rollup_minute WHERE series = ANY(\(slice)) AND bucket < \(now - limits.minuteRetention)")
            deleted += try await execute("DELETE FROM rollup_hour WHERE series = ANY(\(slice)) AND bucket < \(now - limits.hourRetention)")
        }
        return deleted
    }

    /// Runs a statement; answers the rows it affected.
    func execute(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> Int {
        if let connection { return try await connection.query(query, logger: logger) { _ in }.get().rows ?? 0 }
        return try await client.withConnection { connection in try await self.execute(query, on: connection) }
    }

    /// Drops the day partitions that end before every tenant's raw retention (the default one
    /// included): their rows are expired for all.
    private func dropExpiredPartitions(now: Timestamp) async throws {
        var longest = defaultLimits.rawRetention
        for try await retention in try await client.query("SELECT max(raw_retention_ms) FROM tenant", logger: logger).decode(Int64?.self) {
            longest = max(longest, retention ?? 0)
        }
        let cutoff = now.millisecondsSinceEpoch - longest
        var expired: [(Int64, String)] = []
        let rows = try await client.query("SELECT day_ms, name FROM sample_partition WHERE day_ms + 86400000 <= \(cutoff)", logger: logger)
        for try await row in rows.decode((Int64, String).self) { expired.append(row) }
        for (day, name) in expired {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.partitionLock))", logger: self.logger)
                try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(Self.quoted(name))"), logger: self.logger)
                try await connection.query("DELETE FROM sample_partition WHERE day_ms = \(day)", logger: self.logger)
            }
            _ = partitions.withLock { $0.remove(day) }
            logger.info("dropped an expired day of samples", metadata: ["storage.partition": "\(name)"])
        }
    }

    /// An SQL identifier in double quotes.
    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A PostgreSQL failure, with the server's message (postgres-nio's own error text hides it).
public struct PostgresStoreError: StorageAvailabilityError, CustomStringConvertible {
    public let description: String
    /// The server's SQLSTATE code, when the server answered with an error.
    public let sqlState: String?
    /// Whether the database could not be reached (connection lost or refused, server shutting
    /// down, pool busy): a retry may succeed.
    public let storageUnavailable: Bool

    init(_ description: String, sqlState: String? = nil, storageUnavailable: Bool = false) {
        self.description = description
        self.sqlState = sqlState
        self.storageUnavailable = storageUnavailable
    }

    /// `error` as a ``PostgresStoreError`` saying what was being done.
    static func wrapping(_ error: any Error, doing what: String) -> PostgresStoreError {
        if let error = error as? PostgresStoreError { return error }
        return PostgresStoreError("\(what): \(message(of: error))", sqlState: sqlState(of: error),
                                  storageUnavailable: error is PostgresPoolBusy || isConnectionLoss(error))
    }

    /// Whether `error` says the connection to the server is gone or could not be made: the
    /// network, a refused connection, or the server shutting down (SQLSTATE class 57P, 08).
    static func isConnectionLoss(_ error: any Error) -> Bool {
        guard let error = serverError(error) else { return false }
        if let state = error.serverInfo?[.sqlState] { return state.hasPrefix("57P") || state.hasPrefix("08") }
        return [.connectionError, .serverClosedConnection, .uncleanShutdown, .poolClosed].contains(error.code)
    }

    /// The server's error, also from inside a transaction's error.
    static func serverError(_ error: any Error) -> PSQLError? {
        if let transaction = error as? PostgresTransactionError {
            return [transaction.closureError, transaction.beginError, transaction.commitError].lazy.compactMap { $0.flatMap(serverError) }.first
        }
        return error as? PSQLError
    }

    /// The SQLSTATE the server answered with, if it did.
    static func sqlState(of error: any Error) -> String? {
        (error as? PostgresStoreError)?.sqlState ?? serverError(error)?.serverInfo?[.sqlState]
    }

    /// The most useful text of an error: the server's message when there is one.
    static func message(of error: any Error) -> String {
        guard let error = serverError(error) else { return "\(error)" }
        if let message = error.serverInfo?[.message] { return message }
        return "\(error.code)"
    }
}
