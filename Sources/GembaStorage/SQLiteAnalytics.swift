public import GembaCore
internal import GRDB
internal import GRDBSQLite
internal import Foundation

/// SQLite's side of the summary coding (see ``KPISummaryCoding``).
enum SQLiteAnalytics {
    /// The columns the table was made with (migration v2); later migrations add the rest.
    static let componentColumnsOfV2 = KPISummaryCoding.componentColumnsOfV2

    /// SQLite allows 32766 parameters; machines go in chunks well below.
    static func chunks(_ names: [String]) -> [[String]] {
        stride(from: 0, to: names.count, by: 500).map { Array(names[$0..<min($0 + 500, names.count)]) }
    }

    static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ", ") }
}

/// A tenant's reason paths as the small ids summaries store (ids are only ever added).
struct ReasonIDs: Sendable {
    var ids: [String: Int32] = [:]
    var paths: [Int32: String] = [:]

    static func load(_ db: Database, tenant: TenantID) throws -> ReasonIDs {
        var result = ReasonIDs()
        for row in try Row.fetchAll(db, sql: "SELECT reason, id FROM kpi_reason WHERE tenant = ?", arguments: [tenant.rawValue]) {
            result.ids[row["reason"]] = row["id"]
            result.paths[row["id"]] = row["reason"]
        }
        return result
    }

    /// The reason's id, adding it (inside the caller's write transaction) when new.
    mutating func id(for reason: String, db: Database, tenant: TenantID) throws -> Int32 {
        if let id = ids[reason] { return id }
        let id = Int32(paths.count + 1)
        try db.execute(sql: "INSERT INTO kpi_reason (tenant, reason, id) VALUES (?, ?, ?)", arguments: [tenant.rawValue, reason, id])
        ids[reason] = id
        paths[id] = reason
        return id
    }
}

extension SummarySelection {
    /// What selections summed in one statement share.
    package struct BatchKey: Hashable {
        package var level: Int
        package var lower: Int64
        package var upper: Int64
    }

    package var batchKey: BatchKey { BatchKey(level: level.rawValue, lower: range.lowerBound, upper: range.upperBound) }
}

extension SQLiteStore: AnalyticsStore {
    // MARK: Settings

    public func setting(tenant: TenantID, kind: String, key: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT json FROM analytics_setting WHERE tenant = ? AND kind = ? AND key = ?",
                                arguments: [tenant.rawValue, kind, key])
        }
    }

    public func settings(tenant: TenantID, kind: String) async throws -> [String: String] {
        try await pool.read { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, json FROM analytics_setting WHERE tenant = ? AND kind = ?",
                                        arguments: [tenant.rawValue, kind]) {
                result[row["key"]] = row["json"]
            }
            return result
        }
    }

    public func setSetting(tenant: TenantID, kind: String, key: String, json: String?) async throws {
        try await pool.write { db in
            if let json {
                try db.execute(sql: "INSERT OR REPLACE INTO analytics_setting (tenant, kind, key, json) VALUES (?, ?, ?, ?)",
                               arguments: [tenant.rawValue, kind, key, json])
            } else {
                try db.execute(sql: "DELETE FROM analytics_setting WHERE tenant = ? AND kind = ? AND key = ?",
                               arguments: [tenant.rawValue, kind, key])
            }
        }
    }

    // MARK: Orders

    public func orders(tenant: TenantID, machine: AssetPath?, overlapping range: Range<Int64>) async throws -> [ProductionOrder] {
        try await pool.read { db in try Self.orders(db, tenant: tenant, machine: machine, overlapping: range) }
    }

    public func annotations(tenant: TenantID, machine: AssetPath, stops: Range<Int64>, orders: Range<Int64>,
                            quality: Range<Int64>) async throws -> MachineAnnotations {
        try await pool.read { db in
            MachineAnnotations(stopAssignments: try Self.stopAssignments(db, tenant: tenant, machine: machine, overlapping: stops),
                               orders: try Self.orders(db, tenant: tenant, machine: machine, overlapping: orders),
                               qualityEntries: try Self.qualityEntries(db, tenant: tenant, machine: machine, in: quality),
                               maintenanceWindows: try Self.maintenanceWindows(db, tenant: tenant, machine: machine, overlapping: stops))
        }
    }

    private static func orders(_ db: Database, tenant: TenantID, machine: AssetPath?, overlapping range: Range<Int64>) throws -> [ProductionOrder] {
        var sql = "SELECT * FROM production_order WHERE tenant = ? AND start < ? AND (\"end\" IS NULL OR \"end\" > ?)"
        var arguments: StatementArguments = [tenant.rawValue, range.upperBound, range.lowerBound]
        if let machine {
            sql += " AND machine = ?"
            arguments += [machine.description]
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY start, id", arguments: arguments).compactMap(Self.order)
    }

    public func order(tenant: TenantID, id: String) async throws -> ProductionOrder? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM production_order WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
                .flatMap(Self.order)
        }
    }

    public func saveOrder(_ order: ProductionOrder, tenant: TenantID) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO production_order (tenant, id, machine, product, target, start, "end", ideal_cycle_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenant.rawValue, order.id, order.machine.description, order.product, order.targetQuantity,
                                 order.start, order.end, order.idealCycleTime])
        }
    }

    private static func order(_ row: Row) -> ProductionOrder? {
        guard let machine = try? AssetPath(row["machine"] as String) else { return nil }
        return ProductionOrder(id: row["id"], machine: machine, product: row["product"], targetQuantity: row["target"],
                               start: row["start"], end: row["end"], idealCycleTime: row["ideal_cycle_ms"])
    }

    // MARK: Stop assignments

    public func qualityEntries(tenant: TenantID, machine: AssetPath?, in range: Range<Int64>) async throws -> [QualityEntry] {
        try await pool.read { db in try Self.qualityEntries(db, tenant: tenant, machine: machine, in: range) }
    }

    private static func qualityEntries(_ db: Database, tenant: TenantID, machine: AssetPath?, in range: Range<Int64>) throws -> [QualityEntry] {
        let rows = if let machine {
            try Row.fetchAll(db, sql: """
                SELECT * FROM quality_entry WHERE tenant = ? AND machine = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, id
                """, arguments: [tenant.rawValue, machine.description, range.lowerBound, range.upperBound])
        } else {
            try Row.fetchAll(db, sql: "SELECT * FROM quality_entry WHERE tenant = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, id",
                             arguments: [tenant.rawValue, range.lowerBound, range.upperBound])
        }
        return rows.compactMap(Self.qualityEntry(from:))
    }

    public func qualityEntry(tenant: TenantID, id: String) async throws -> QualityEntry? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM quality_entry WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
                .flatMap(Self.qualityEntry(from:))
        }
    }

    public func saveQualityEntry(_ entry: QualityEntry, tenant: TenantID) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO quality_entry (tenant, id, machine, time_ms, kind, quantity, reason, note, entered_by, entered_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenant.rawValue, entry.id, entry.machine.description, entry.time, entry.kind.rawValue, entry.quantity,
                                 entry.reason, entry.note, entry.enteredBy, entry.enteredAt])
        }
    }

    public func deleteQualityEntry(tenant: TenantID, id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM quality_entry WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    private static func qualityEntry(from row: Row) -> QualityEntry? {
        guard let machine = try? AssetPath(row["machine"] as String), let kind = QualityEntry.Kind(rawValue: row["kind"]) else { return nil }
        return QualityEntry(id: row["id"], machine: machine, time: row["time_ms"], kind: kind, quantity: row["quantity"], reason: row["reason"],
                            note: row["note"], enteredBy: row["entered_by"], enteredAt: row["entered_at"])
    }

    public func stopAssignments(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [StopAssignment] {
        try await pool.read { db in try Self.stopAssignments(db, tenant: tenant, machine: machine, overlapping: range) }
    }

    private static func stopAssignments(_ db: Database, tenant: TenantID, machine: AssetPath,
                                        overlapping range: Range<Int64>) throws -> [StopAssignment] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM stop_assignment WHERE tenant = ? AND machine = ? AND start < ? AND ("end" IS NULL OR "end" > ?)
            ORDER BY start
            """, arguments: [tenant.rawValue, machine.description, range.upperBound, range.lowerBound]).map { row in
            StopAssignment(machine: machine, start: row["start"], end: row["end"], reason: row["reason"], faultCode: row["fault_code"],
                           assignedBy: row["assigned_by"], assignedAt: row["assigned_at"])
        }
    }

    public func replaceStopAssignments(tenant: TenantID, machine: AssetPath, startingIn range: Range<Int64>,
                                       with assignments: [StopAssignment]) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM stop_assignment WHERE tenant = ? AND machine = ? AND start >= ? AND start < ?",
                           arguments: [tenant.rawValue, machine.description, range.lowerBound, range.upperBound])
            for assignment in assignments {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO stop_assignment (tenant, machine, start, "end", reason, fault_code, assigned_by, assigned_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenant.rawValue, machine.description, assignment.start, assignment.end, assignment.reason,
                                     assignment.faultCode, assignment.assignedBy, assignment.assignedAt])
            }
        }
    }

    // MARK: Summaries

    public func summaryStarts(tenant: TenantID, machines: [AssetPath], level: PeriodSummary.Level,
                              within range: Range<Int64>) async throws -> [AssetPath: Set<Int64>] {
        guard !machines.isEmpty else { return [:] }
        let byName = Dictionary(machines.map { ($0.description, $0) }, uniquingKeysWith: { first, _ in first })
        return try await pool.read { db in
            var result: [AssetPath: Set<Int64>] = [:]
            for chunk in SQLiteAnalytics.chunks(Array(byName.keys)) {
                let sql = """
                    SELECT machine, start FROM kpi_summary WHERE tenant = ? AND machine IN (\(SQLiteAnalytics.placeholders(chunk.count)))
                    AND level = ? AND start >= ? AND start < ? AND "end" <= ?
                    """
                let values = [.string(tenant.rawValue)] + chunk.map { SampleValue.string($0) }
                    + [.int(Int64(level.rawValue)), .int(range.lowerBound), .int(range.upperBound), .int(range.upperBound)]
                try SQLiteRows.each(db, sql: sql, values: values) { row in
                    if let machine = byName[row.text(0)] { result[machine, default: []].insert(row.int64(1)) }
                }
            }
            return result
        }
    }

    /// Sums the selections in one pass over the rows; selections sharing a level and range (the
    /// usual case: every machine of an asset over the same days) are read in one statement.
    public func sumSummaries(tenant: TenantID, _ selections: [SummarySelection],
                             grouping: SummaryGrouping) async throws -> [String: KPIComponents] {
        let group = KPISummaryCoding.groupColumn(grouping)
        let columns = KPISummaryCoding.componentColumns.joined(separator: ", ")
        let batches = Dictionary(grouping: selections, by: \.batchKey)
        let known = reasonIDs.withLock { $0[tenant] }
        return try await pool.read { db in
            var sums: [String: SummarySum] = [:]
            for (key, batch) in batches {
                for chunk in SQLiteAnalytics.chunks(batch.map(\.machine.description)) {
                    let sql = """
                        SELECT \(group), \(columns), reasons, scrap_reasons, products, orders FROM kpi_summary WHERE tenant = ?
                        AND machine IN (\(SQLiteAnalytics.placeholders(chunk.count))) AND level = ? AND start >= ? AND start < ? AND "end" <= ?
                        """
                    let values = [.string(tenant.rawValue)] + chunk.map { SampleValue.string($0) }
                        + [.int(Int64(key.level)), .int(key.lower), .int(key.upper), .int(key.upper)]
                    try SQLiteRows.each(db, sql: sql, values: values) { row in
                        // Added in place: a copied entry would copy its dictionaries on every row.
                        sums[grouping == .total ? "" : row.text(0), default: SummarySum()].add(row)
                    }
                }
            }
            var paths = known?.paths ?? [:]
            if sums.values.contains(where: { $0.ids.contains { paths[$0] == nil } }) {
                paths = try ReasonIDs.load(db, tenant: tenant).paths
            }
            return sums.mapValues { $0.components(named: paths) }
        }
    }

    public func saveSummaries(_ summaries: [PeriodSummary], tenant: TenantID) async throws {
        guard !summaries.isEmpty else { return }
        let columns = KPISummaryCoding.componentColumns
        let insert = """
            INSERT OR REPLACE INTO kpi_summary (tenant, machine, level, start, "end", day, shift, \(columns.joined(separator: ", ")), reasons,
                scrap_reasons, products, orders)
            VALUES (?, ?, ?, ?, ?, ?, ?, \(Array(repeating: "?", count: columns.count).joined(separator: ", ")), ?, ?, ?, ?)
            """
        let ids = try await pool.write { db in
            // Loaded inside the write: another save may have added reasons since the cache was filled.
            var ids = try ReasonIDs.load(db, tenant: tenant)
            // A day builds some 25 rows per machine: one prepared statement, bound directly (no boxed arguments).
            let statement = try db.cachedStatement(sql: insert).sqliteStatement
            defer { sqlite3_reset(statement) }
            for summary in summaries {
                let blobs = [Data(try KPISummaryCoding.packReasons(summary.components) { try ids.id(for: $0, db: db, tenant: tenant) }),
                             Data(try KPISummaryCoding.packScrapReasons(summary.components) { try ids.id(for: $0, db: db, tenant: tenant) }),
                             Data(try KPISummaryCoding.packProducts(summary.components) { try ids.id(for: $0, db: db, tenant: tenant) }),
                             Data(try KPISummaryCoding.packOrders(summary.components) { try ids.id(for: $0, db: db, tenant: tenant) })]
                sqlite3_reset(statement)
                sqlite3_bind_text(statement, 1, tenant.rawValue, -1, sqliteTransient)
                sqlite3_bind_text(statement, 2, summary.machine.description, -1, sqliteTransient)
                sqlite3_bind_int64(statement, 3, Int64(summary.level.rawValue))
                sqlite3_bind_int64(statement, 4, summary.start)
                sqlite3_bind_int64(statement, 5, summary.end)
                sqlite3_bind_text(statement, 6, summary.day, -1, sqliteTransient)
                sqlite3_bind_text(statement, 7, summary.shift, -1, sqliteTransient)
                var index: Int32 = 8
                for value in KPISummaryCoding.values(summary.components) {
                    sqlite3_bind_int64(statement, index, value)
                    index += 1
                }
                for blob in blobs {
                    // An empty blob still binds a pointer: a NULL one would bind SQL NULL (the columns are NOT NULL).
                    _ = blob.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count), sqliteTransient) }
                    index += 1
                }
                let code = sqlite3_step(statement)
                guard code == SQLITE_DONE else { throw SQLiteRows.error(db, code) }
            }
            return ids
        }
        reasonIDs.withLock { $0[tenant] = ids }
    }

    public func deleteSummaries(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM kpi_summary WHERE tenant = ? AND machine = ? AND start < ? AND \"end\" > ?",
                           arguments: [tenant.rawValue, machine.description, range.upperBound, range.lowerBound])
        }
    }

    public func summarizedUntil() async throws -> [(tenant: TenantID, machine: AssetPath, end: Int64)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant, machine, MAX(\"end\") AS until FROM kpi_summary GROUP BY tenant, machine")
                .compactMap { row in
                    guard let tenant = TenantID(row["tenant"]), let machine = try? AssetPath(row["machine"] as String) else { return nil }
                    return (tenant, machine, row["until"])
                }
        }
    }
}

extension SummarySum {
    /// Adds a row of the group column, the component columns, then the four blobs.
    mutating func add(_ row: SQLiteRow) {
        let blobs = Int32(KPISummaryCoding.componentColumns.count)
        add({ row.int64(1 + Int32($0)) }, reasons: row.blob(blobs + 1), scrap: row.blob(blobs + 2), products: row.blob(blobs + 3),
            orders: row.blob(blobs + 4))
    }
}
