public import GembaCore
public import Foundation
internal import GRDB

/// Work orders, their decision log and their windows in SQLite.
extension SQLiteStore: MaintenanceStore {
    public func createWorkOrder(tenant: TenantID, make: @escaping @Sendable (Int) throws -> (StoredWorkOrder, StoredDecision)) async throws
        -> StoredWorkOrder {
        try await pool.write { db in
            let number = (try Int.fetchOne(db, sql: "SELECT max(number) FROM work_order WHERE tenant = ?", arguments: [tenant.rawValue]) ?? 0) + 1
            let (order, decision) = try make(number)
            try db.execute(sql: """
                INSERT INTO work_order (tenant, id, number, machine, status, updated_ms, revision, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenant.rawValue, order.id, number, order.machine, order.status, order.updatedAt, order.revision, order.document])
            try Self.append(decision, db)
            return order
        }
    }

    public func workOrder(tenant: TenantID, id: String) async throws -> StoredWorkOrder? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM work_order WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
                .flatMap(Self.workOrder(from:))
        }
    }

    public func workOrders(_ query: WorkOrderQuery) async throws -> [StoredWorkOrder] {
        var sql = "SELECT * FROM work_order WHERE tenant = ?"
        var arguments: StatementArguments = [query.tenant.rawValue]
        if let scope = query.scope {
            sql += " AND " + Self.scopeCondition
            _ = arguments.append(contentsOf: Self.scopeArguments(scope))
        }
        if !query.statuses.isEmpty {
            sql += " AND status IN (\(query.statuses.map { _ in "?" }.joined(separator: ", ")))"
            _ = arguments.append(contentsOf: StatementArguments(query.statuses))
        }
        sql += " ORDER BY updated_ms DESC, number DESC LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit])
        return try await pool.read { [sql, arguments] db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(Self.workOrder(from:))
        }
    }

    public func updateWorkOrder(_ order: StoredWorkOrder, decision: StoredDecision, window: MaintenanceWindow?,
                                deliveries: [OutboxEntry]) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE work_order SET machine = ?, status = ?, updated_ms = ?, revision = ?, document = ?
                WHERE tenant = ? AND id = ? AND revision = ?
                """, arguments: [order.machine, order.status, order.updatedAt, order.revision, order.document, order.tenant.rawValue, order.id,
                                 order.revision - 1])
            guard db.changesCount == 1 else { return false }
            try Self.append(decision, db)
            try db.execute(sql: "DELETE FROM maintenance_window WHERE tenant = ? AND work_order = ?", arguments: [order.tenant.rawValue, order.id])
            if let window {
                try db.execute(sql: """
                    INSERT INTO maintenance_window (tenant, work_order, machine, start, "end", set_ms) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [order.tenant.rawValue, order.id, window.machine.description, window.start, window.end, window.setAt])
            }
            _ = try Self.enqueue(deliveries, db)
            return true
        }
    }

    public func decisions(tenant: TenantID, workOrder: String?, scope: String?, range: Range<Int64>, limit: Int) async throws -> [StoredDecision] {
        var sql = "SELECT * FROM work_order_decision WHERE tenant = ? AND time_ms >= ? AND time_ms < ?"
        var arguments: StatementArguments = [tenant.rawValue, range.lowerBound, range.upperBound]
        if let workOrder {
            sql += " AND work_order = ?"
            _ = arguments.append(contentsOf: [workOrder])
        }
        if let scope {
            sql += " AND " + Self.scopeCondition
            _ = arguments.append(contentsOf: Self.scopeArguments(scope))
        }
        sql += " ORDER BY time_ms DESC, id DESC LIMIT ?"
        _ = arguments.append(contentsOf: [limit])
        return try await pool.read { [sql, arguments] db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row in
                guard let tenant = TenantID(row["tenant"]) else { return nil }
                return StoredDecision(id: row["id"], tenant: tenant, workOrder: row["work_order"], machine: row["machine"], time: row["time_ms"],
                                      action: row["action"], fromStatus: row["from_status"], toStatus: row["to_status"], actor: row["actor"],
                                      rationale: row["rationale"], detail: row["detail"])
            }
        }
    }

    public func maintenancePlans(tenant: TenantID?) async throws -> [StoredPlan] {
        try await pool.read { db in
            let rows = if let tenant {
                try Row.fetchAll(db, sql: "SELECT * FROM maintenance_plan WHERE tenant = ? ORDER BY id", arguments: [tenant.rawValue])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM maintenance_plan ORDER BY tenant, id")
            }
            return rows.compactMap { row in
                TenantID(row["tenant"]).map { StoredPlan(tenant: $0, id: row["id"], machine: row["machine"], document: row["document"]) }
            }
        }
    }

    public func savePlan(_ plan: StoredPlan) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO maintenance_plan (tenant, id, machine, document) VALUES (?, ?, ?, ?)",
                           arguments: [plan.tenant.rawValue, plan.id, plan.machine, plan.document])
        }
    }

    public func deletePlan(tenant: TenantID, id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM maintenance_plan WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    public func maintenanceWindows(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [MaintenanceWindow] {
        try await pool.read { db in try Self.maintenanceWindows(db, tenant: tenant, machine: machine, overlapping: range) }
    }

    static func maintenanceWindows(_ db: Database, tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) throws
        -> [MaintenanceWindow] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM maintenance_window WHERE tenant = ? AND machine = ? AND start < ? AND ("end" IS NULL OR "end" > ?) ORDER BY start
            """, arguments: [tenant.rawValue, machine.description, range.upperBound, range.lowerBound]).map { row in
            MaintenanceWindow(workOrder: row["work_order"], machine: machine, start: row["start"], end: row["end"], setAt: row["set_ms"])
        }
    }

    /// A machine path, or every machine under a site/area/line prefix (work orders, decisions,
    /// detector events, the alarm journal).
    static let scopeCondition = "(machine = ? OR substr(machine, 1, ?) = ?)"

    static func scopeArguments(_ scope: String) -> StatementArguments {
        [scope, scope.utf8.count + 1, scope + "/"]
    }

    private static func append(_ decision: StoredDecision, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO work_order_decision (tenant, work_order, machine, time_ms, action, from_status, to_status, actor, rationale, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [decision.tenant.rawValue, decision.workOrder, decision.machine, decision.time, decision.action, decision.fromStatus,
                             decision.toStatus, decision.actor, decision.rationale, decision.detail])
    }

    private static func workOrder(from row: Row) -> StoredWorkOrder? {
        guard let tenant = TenantID(row["tenant"]) else { return nil }
        return StoredWorkOrder(tenant: tenant, id: row["id"], machine: row["machine"], status: row["status"], updatedAt: row["updated_ms"],
                               revision: row["revision"], document: row["document"])
    }
}

/// Detector events and their labels in SQLite.
extension SQLiteStore: DetectorEventStore {
    public func recordEvents(_ events: [StoredDetectorEvent]) async throws -> [Int64] {
        guard !events.isEmpty else { return [] }
        return try await pool.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO detector_event (tenant, detector, machine, tag, start_ms, last_ms, peak, peak_ms, closed, contributions)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant, detector, machine, start_ms) DO UPDATE SET
                    last_ms = excluded.last_ms, peak = excluded.peak, peak_ms = excluded.peak_ms, closed = excluded.closed,
                    contributions = coalesce(excluded.contributions, contributions)
                RETURNING id
                """)
            return try events.map { event in
                try Int64.fetchOne(upsert, arguments: [event.tenant.rawValue, event.detector, event.machine, event.tag, event.start, event.last,
                                                       event.peak, event.peakTime, event.closed, event.contributions]) ?? 0
            }
        }
    }

    public func linkEvent(tenant: TenantID, id: Int64, workOrder: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE detector_event SET work_order = ? WHERE tenant = ? AND id = ?", arguments: [workOrder, tenant.rawValue, id])
        }
    }

    public func detectorEvent(tenant: TenantID, id: Int64) async throws -> StoredDetectorEvent? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM detector_event WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
                .flatMap(Self.detectorEvent(from:))
        }
    }

    public func detectorEvents(_ query: DetectorEventQuery) async throws -> [StoredDetectorEvent] {
        var sql = "SELECT * FROM detector_event WHERE tenant = ? AND start_ms >= ? AND start_ms < ?"
        var arguments: StatementArguments = [query.tenant.rawValue, query.range.lowerBound, query.range.upperBound]
        if let detector = query.detector {
            sql += " AND detector = ?"
            _ = arguments.append(contentsOf: [detector])
        }
        if let scope = query.scope {
            sql += " AND " + Self.scopeCondition
            _ = arguments.append(contentsOf: Self.scopeArguments(scope))
        }
        sql += " ORDER BY start_ms DESC, id DESC LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit])
        return try await pool.read { [sql, arguments] db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(Self.detectorEvent(from:))
        }
    }

    public func labelEvent(tenant: TenantID, id: Int64, label: String?, by: String, at: Int64, note: String?) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE detector_event SET label = ?, labelled_by = ?, labelled_ms = ?, note = ? WHERE tenant = ? AND id = ?",
                           arguments: [label, label == nil ? nil : by, label == nil ? nil : at, note, tenant.rawValue, id])
            return db.changesCount == 1
        }
    }

    private static func detectorEvent(from row: Row) -> StoredDetectorEvent? {
        guard let tenant = TenantID(row["tenant"]) else { return nil }
        return StoredDetectorEvent(id: row["id"], tenant: tenant, detector: row["detector"], machine: row["machine"], tag: row["tag"],
                                   start: row["start_ms"], last: row["last_ms"], peak: row["peak"], peakTime: row["peak_ms"], closed: row["closed"],
                                   label: row["label"], labelledBy: row["labelled_by"], labelledAt: row["labelled_ms"], note: row["note"],
                                   workOrder: row["work_order"], contributions: row["contributions"])
    }
}

extension SQLiteStore: DetectorVersionStore {
    public func createDetectorVersion(tenant: TenantID, detector: String,
                                      make: @escaping @Sendable (Int) throws -> StoredDetectorVersion) async throws -> StoredDetectorVersion {
        try await pool.write { db in
            let highest = try Int.fetchOne(db, sql: "SELECT max(version) FROM detector_version WHERE tenant = ? AND detector = ?",
                                           arguments: [tenant.rawValue, detector]) ?? 0
            let version = try make(highest + 1)
            try db.execute(sql: "INSERT INTO detector_version (tenant, detector, version, status, document) VALUES (?, ?, ?, ?, ?)",
                           arguments: [tenant.rawValue, detector, version.version, version.status, version.document])
            return version
        }
    }

    public func detectorVersions(tenant: TenantID?, detector: String?) async throws -> [StoredDetectorVersion] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let tenant {
                conditions.append("tenant = ?")
                arguments += [tenant.rawValue]
            }
            if let detector {
                conditions.append("detector = ?")
                arguments += [detector]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try Row.fetchAll(db, sql: "SELECT tenant, detector, version, status, document FROM detector_version \(filter) "
                                            + "ORDER BY tenant, detector, version", arguments: arguments)
            return rows.compactMap { row in
                TenantID(row["tenant"]).map {
                    StoredDetectorVersion(tenant: $0, detector: row["detector"], version: row["version"], status: row["status"], document: row["document"])
                }
            }
        }
    }

    public func saveDetectorVersions(_ versions: [StoredDetectorVersion], model: Data?) async throws {
        try await pool.write { db in
            for version in versions {
                try db.execute(sql: """
                    INSERT INTO detector_version (tenant, detector, version, status, document) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (tenant, detector, version) DO UPDATE SET status = excluded.status, document = excluded.document
                    """, arguments: [version.tenant.rawValue, version.detector, version.version, version.status, version.document])
            }
            if let model, let first = versions.first {
                try db.execute(sql: "UPDATE detector_version SET model = ? WHERE tenant = ? AND detector = ? AND version = ?",
                               arguments: [model, first.tenant.rawValue, first.detector, first.version])
            }
        }
    }

    public func detectorModel(tenant: TenantID, detector: String, version: Int) async throws -> Data? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT model FROM detector_version WHERE tenant = ? AND detector = ? AND version = ?",
                              arguments: [tenant.rawValue, detector, version])
        }
    }
}
