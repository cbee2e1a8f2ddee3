public import GembaCore
internal import GRDB

/// The KPI components as `kpi_summary` columns, in one order for the schema, writes and sums.
enum SQLiteAnalytics {
    static let componentColumns = ["calendar", "scheduled", "excluded", "downtime", "unknown", "performance_loss", "setup",
                                   "repair", "failures", "total", "good", "unrated", "ideal"]

    static func values(_ components: KPIComponents) -> [Int64] {
        [components.calendarTime, components.scheduledTime, components.excludedTime, components.downtime, components.unknownTime,
         components.performanceLossTime, components.setupTime, components.repairTime, components.failures,
         components.totalCount, components.goodCount, components.unratedCount, components.idealTime]
    }

    static func add(_ row: Row, from column: Int, to components: inout KPIComponents) {
        func value(_ offset: Int) -> Int64 { row[column + offset] ?? 0 }
        components.calendarTime += value(0)
        components.scheduledTime += value(1)
        components.excludedTime += value(2)
        components.downtime += value(3)
        components.unknownTime += value(4)
        components.performanceLossTime += value(5)
        components.setupTime += value(6)
        components.repairTime += value(7)
        components.failures += value(8)
        components.totalCount += value(9)
        components.goodCount += value(10)
        components.unratedCount += value(11)
        components.idealTime += value(12)
    }

    static func groupColumn(_ grouping: SummaryGrouping) -> String {
        switch grouping {
        case .total: "''"
        case .day: "day"
        case .shift: "shift"
        }
    }
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
        try await pool.read { db in
            var sql = "SELECT * FROM production_order WHERE tenant = ? AND start < ? AND (\"end\" IS NULL OR \"end\" > ?)"
            var arguments: StatementArguments = [tenant.rawValue, range.upperBound, range.lowerBound]
            if let machine {
                sql += " AND machine = ?"
                arguments += [machine.description]
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY start, id", arguments: arguments).compactMap(Self.order)
        }
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

    public func stopAssignments(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [StopAssignment] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM stop_assignment WHERE tenant = ? AND machine = ? AND start < ? AND ("end" IS NULL OR "end" > ?)
                ORDER BY start
                """, arguments: [tenant.rawValue, machine.description, range.upperBound, range.lowerBound]).map { row in
                StopAssignment(machine: machine, start: row["start"], end: row["end"], reason: row["reason"], faultCode: row["fault_code"],
                               assignedBy: row["assigned_by"], assignedAt: row["assigned_at"])
            }
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

    public func summaryStarts(tenant: TenantID, machine: AssetPath, level: PeriodSummary.Level,
                              within range: Range<Int64>) async throws -> Set<Int64> {
        try await pool.read { db in
            Set(try Int64.fetchAll(db, sql: """
                SELECT start FROM kpi_summary WHERE tenant = ? AND machine = ? AND level = ? AND start >= ? AND start < ? AND "end" <= ?
                """, arguments: [tenant.rawValue, machine.description, level.rawValue, range.lowerBound, range.upperBound,
                                 range.upperBound]))
        }
    }

    public func sumSummaries(tenant: TenantID, _ selections: [SummarySelection],
                             grouping: SummaryGrouping) async throws -> [String: KPIComponents] {
        let group = SQLiteAnalytics.groupColumn(grouping)
        let sums = SQLiteAnalytics.componentColumns.map { "SUM(\($0))" }.joined(separator: ", ")
        let filter = "tenant = ? AND machine = ? AND level = ? AND start >= ? AND start < ? AND \"end\" <= ?"
        return try await pool.read { db in
            var result: [String: KPIComponents] = [:]
            for selection in selections {
                let arguments: StatementArguments = [tenant.rawValue, selection.machine.description, selection.level.rawValue,
                                                     selection.range.lowerBound, selection.range.upperBound, selection.range.upperBound]
                let totals = try Row.fetchCursor(db, sql: "SELECT \(group), \(sums) FROM kpi_summary WHERE \(filter) GROUP BY 1",
                                                 arguments: arguments)
                while let row = try totals.next() {
                    SQLiteAnalytics.add(row, from: 1, to: &result[row[0], default: KPIComponents()])
                }
                let reasons = try Row.fetchCursor(db, sql: """
                    SELECT \(group), reason, SUM(time), SUM(downtime) FROM kpi_summary_reason WHERE \(filter) GROUP BY 1, 2
                    """, arguments: arguments)
                while let row = try reasons.next() {
                    let (key, reason, time, downtime): (String, String, Int64, Int64) = (row[0], row[1], row[2], row[3])
                    result[key, default: KPIComponents()].timeByReason[reason, default: 0] += time
                    if downtime > 0 { result[key, default: KPIComponents()].downtimeByReason[reason, default: 0] += downtime }
                }
            }
            return result
        }
    }

    public func saveSummaries(_ summaries: [PeriodSummary], tenant: TenantID) async throws {
        guard !summaries.isEmpty else { return }
        let columns = SQLiteAnalytics.componentColumns
        let insert = """
            INSERT OR REPLACE INTO kpi_summary (tenant, machine, level, start, "end", day, shift, \(columns.joined(separator: ", ")))
            VALUES (?, ?, ?, ?, ?, ?, ?, \(Array(repeating: "?", count: columns.count).joined(separator: ", ")))
            """
        try await pool.write { db in
            for summary in summaries {
                let key: [any DatabaseValueConvertible] = [tenant.rawValue, summary.machine.description, summary.level.rawValue,
                                                           summary.start]
                try db.execute(sql: "DELETE FROM kpi_summary_reason WHERE tenant = ? AND machine = ? AND level = ? AND start = ?",
                               arguments: StatementArguments(key))
                let values: [any DatabaseValueConvertible] = key + [summary.end, summary.day, summary.shift]
                try db.execute(sql: insert, arguments: StatementArguments(values + SQLiteAnalytics.values(summary.components)))
                for (reason, time) in summary.components.timeByReason {
                    let downtime = summary.components.downtimeByReason[reason] ?? 0
                    try db.execute(sql: """
                        INSERT INTO kpi_summary_reason (tenant, machine, level, start, "end", day, shift, reason, time, downtime)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: StatementArguments(values + [reason, time, downtime]))
                }
            }
        }
    }

    public func deleteSummaries(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws {
        try await pool.write { db in
            for table in ["kpi_summary", "kpi_summary_reason"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE tenant = ? AND machine = ? AND start < ? AND \"end\" > ?",
                               arguments: [tenant.rawValue, machine.description, range.upperBound, range.lowerBound])
            }
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
