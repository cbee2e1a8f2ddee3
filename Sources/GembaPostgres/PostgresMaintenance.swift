public import GembaCore
public import GembaStorage
public import Foundation
internal import PostgresNIO

/// Work orders, their decision log, windows and plans in PostgreSQL.
extension PostgresStore: MaintenanceStore {
    /// Numbers are handed out under a table lock, so two nodes never give one number twice.
    public func createWorkOrder(tenant: TenantID, make: @escaping @Sendable (Int) throws -> (StoredWorkOrder, StoredDecision)) async throws
        -> StoredWorkOrder {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("LOCK TABLE work_order IN SHARE ROW EXCLUSIVE MODE", logger: self.logger)
            var highest: Int64 = 0
            for try await number in try await connection.query("SELECT max(number) FROM work_order WHERE tenant = \(tenant.rawValue)",
                                                               logger: self.logger).decode(Int64?.self) {
                highest = number ?? 0
            }
            let (order, decision) = try make(Int(highest) + 1)
            try await connection.query("""
                INSERT INTO work_order (tenant, id, number, machine, status, updated_ms, revision, document)
                VALUES (\(tenant.rawValue), \(order.id), \(highest + 1), \(order.machine), \(order.status), \(order.updatedAt),
                        \(Int64(order.revision)), \(order.document))
                """, logger: self.logger)
            try await self.append(decision, on: connection)
            return order
        }
    }

    static let workOrderColumns = "tenant, id, machine, status, updated_ms, revision, document"

    private func fetchWorkOrders(_ query: PostgresQuery) async throws -> [StoredWorkOrder] {
        var result: [StoredWorkOrder] = []
        let rows = try await client.query(query, logger: logger)
        for try await (tenant, id, machine, status, updated, revision, document) in rows.decode((String, String, String, String, Int64, Int64, String).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredWorkOrder(tenant: tenant, id: id, machine: machine, status: status, updatedAt: updated, revision: Int(revision),
                                          document: document))
        }
        return result
    }

    public func workOrder(tenant: TenantID, id: String) async throws -> StoredWorkOrder? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.workOrderColumns) FROM work_order WHERE tenant = \(tenant.rawValue) AND id = \(id)"
        return try await fetchWorkOrders(query).first
    }

    public func workOrders(_ query: WorkOrderQuery) async throws -> [StoredWorkOrder] {
        let statement: PostgresQuery = """
            SELECT \(unescaped: Self.workOrderColumns) FROM work_order
            WHERE tenant = \(query.tenant.rawValue) AND \(machineScope: query.scope)
                AND (cardinality(\(query.statuses)::text[]) = 0 OR status = ANY(\(query.statuses)))
            ORDER BY updated_ms DESC, number DESC LIMIT \(Int64(query.limit))
            """
        return try await fetchWorkOrders(statement)
    }

    /// Applies the change only when the stored revision is the one before `order`'s (optimistic
    /// concurrency); answers false otherwise.
    public func updateWorkOrder(_ order: StoredWorkOrder, decision: StoredDecision, window: MaintenanceWindow?,
                                deliveries: [OutboxEntry]) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            let updated = try await self.execute("""
                UPDATE work_order SET machine = \(order.machine), status = \(order.status), updated_ms = \(order.updatedAt),
                    revision = \(Int64(order.revision)), document = \(order.document)
                WHERE tenant = \(order.tenant.rawValue) AND id = \(order.id) AND revision = \(Int64(order.revision - 1))
                """, on: connection)
            guard updated == 1 else { return false }
            try await self.append(decision, on: connection)
            try await connection.query("DELETE FROM maintenance_window WHERE tenant = \(order.tenant.rawValue) AND work_order = \(order.id)",
                                       logger: self.logger)
            if let window {
                try await connection.query("""
                    INSERT INTO maintenance_window (tenant, work_order, machine, start, "end", set_ms)
                    VALUES (\(order.tenant.rawValue), \(order.id), \(window.machine.description), \(window.start), \(window.end), \(window.setAt))
                    """, logger: self.logger)
            }
            _ = try await self.enqueue(deliveries, on: connection)
            return true
        }
    }

    public func decisions(tenant: TenantID, workOrder: String?, scope: String?, range: Range<Int64>, limit: Int) async throws -> [StoredDecision] {
        let query: PostgresQuery = """
            SELECT id, tenant, work_order, machine, time_ms, action, from_status, to_status, actor, rationale, detail FROM work_order_decision
            WHERE tenant = \(tenant.rawValue) AND time_ms >= \(range.lowerBound) AND time_ms < \(range.upperBound)
                AND (\(workOrder)::text IS NULL OR work_order = \(workOrder)) AND \(machineScope: scope)
            ORDER BY time_ms DESC, id DESC LIMIT \(Int64(limit))
            """
        var result: [StoredDecision] = []
        let rows = try await client.query(query, logger: logger)
        for try await (id, tenant, order, machine, time, action, from, to, actor, rationale, detail)
            in rows.decode((Int64, String, String, String, Int64, String, String, String, String, String?, String?).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredDecision(id: id, tenant: tenant, workOrder: order, machine: machine, time: time, action: action, fromStatus: from,
                                         toStatus: to, actor: actor, rationale: rationale, detail: detail))
        }
        return result
    }

    public func maintenancePlans(tenant: TenantID?) async throws -> [StoredPlan] {
        var result: [StoredPlan] = []
        let rows = try await client.query("""
            SELECT tenant, id, machine, document FROM maintenance_plan WHERE \(tenant?.rawValue)::text IS NULL OR tenant = \(tenant?.rawValue)
            ORDER BY tenant, id
            """, logger: logger)
        for try await (tenant, id, machine, document) in rows.decode((String, String, String, String).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredPlan(tenant: tenant, id: id, machine: machine, document: document))
        }
        return result
    }

    public func savePlan(_ plan: StoredPlan) async throws {
        try await client.query("""
            INSERT INTO maintenance_plan (tenant, id, machine, document) VALUES (\(plan.tenant.rawValue), \(plan.id), \(plan.machine), \(plan.document))
            ON CONFLICT (tenant, id) DO UPDATE SET machine = excluded.machine, document = excluded.document
            """, logger: logger)
    }

    public func deletePlan(tenant: TenantID, id: String) async throws -> Bool {
        try await execute("DELETE FROM maintenance_plan WHERE tenant = \(tenant.rawValue) AND id = \(id)") > 0
    }

    /// Work orders' planned maintenance of one machine overlapping `range`, by start.
    public func maintenanceWindows(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [MaintenanceWindow] {
        var result: [MaintenanceWindow] = []
        let rows = try await client.query("""
            SELECT work_order, start, "end", set_ms FROM maintenance_window
            WHERE tenant = \(tenant.rawValue) AND machine = \(machine.description) AND start < \(range.upperBound)
                AND ("end" IS NULL OR "end" > \(range.lowerBound))
            ORDER BY start
            """, logger: logger)
        for try await (workOrder, start, end, set) in rows.decode((String, Int64, Int64?, Int64).self) {
            result.append(MaintenanceWindow(workOrder: workOrder, machine: machine, start: start, end: end, setAt: set))
        }
        return result
    }

    private func append(_ decision: StoredDecision, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO work_order_decision (tenant, work_order, machine, time_ms, action, from_status, to_status, actor, rationale, detail)
            VALUES (\(decision.tenant.rawValue), \(decision.workOrder), \(decision.machine), \(decision.time), \(decision.action),
                    \(decision.fromStatus), \(decision.toStatus), \(decision.actor), \(decision.rationale), \(decision.detail))
            """, logger: logger)
    }
}

/// Detector events and their labels in PostgreSQL.
extension PostgresStore: DetectorEventStore {
    public func recordEvents(_ events: [StoredDetectorEvent]) async throws -> [Int64] {
        guard !events.isEmpty else { return [] }
        return try await client.withTransaction(logger: logger) { connection in
            var ids: [Int64] = []
            for event in events {
                let rows = try await connection.query("""
                    INSERT INTO detector_event AS e (tenant, detector, machine, tag, start_ms, last_ms, peak, peak_ms, closed, contributions)
                    VALUES (\(event.tenant.rawValue), \(event.detector), \(event.machine), \(event.tag), \(event.start), \(event.last),
                            \(event.peak), \(event.peakTime), \(event.closed), \(event.contributions))
                    ON CONFLICT (tenant, detector, machine, start_ms) DO UPDATE SET
                        last_ms = excluded.last_ms, peak = excluded.peak, peak_ms = excluded.peak_ms, closed = excluded.closed,
                        contributions = coalesce(excluded.contributions, e.contributions)
                    RETURNING id
                    """, logger: self.logger)
                var id: Int64 = 0
                for try await value in rows.decode(Int64.self) { id = value }
                ids.append(id)
            }
            return ids
        }
    }

    public func linkEvent(tenant: TenantID, id: Int64, workOrder: String) async throws {
        try await client.query("UPDATE detector_event SET work_order = \(workOrder) WHERE tenant = \(tenant.rawValue) AND id = \(id)", logger: logger)
    }

    static let eventColumns = """
        id, tenant, detector, machine, tag, start_ms, last_ms, peak, peak_ms, closed, label, labelled_by, labelled_ms, note, work_order, contributions
        """

    private func fetchEvents(_ query: PostgresQuery) async throws -> [StoredDetectorEvent] {
        var result: [StoredDetectorEvent] = []
        let rows = try await client.query(query, logger: logger)
        for try await (id, tenant, detector, machine, tag, start, last, peak, peakTime, closed, label, labelledBy, labelledAt, note, order, contributions)
            in rows.decode((Int64, String, String, String, String, Int64, Int64, Double, Int64, Bool, String?, String?, Int64?, String?, String?,
                            String?).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredDetectorEvent(id: id, tenant: tenant, detector: detector, machine: machine, tag: tag, start: start, last: last,
                                              peak: peak, peakTime: peakTime, closed: closed, label: label, labelledBy: labelledBy,
                                              labelledAt: labelledAt, note: note, workOrder: order, contributions: contributions))
        }
        return result
    }

    public func detectorEvent(tenant: TenantID, id: Int64) async throws -> StoredDetectorEvent? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.eventColumns) FROM detector_event WHERE tenant = \(tenant.rawValue) AND id = \(id)"
        return try await fetchEvents(query).first
    }

    public func detectorEvents(_ query: DetectorEventQuery) async throws -> [StoredDetectorEvent] {
        let statement: PostgresQuery = """
            SELECT \(unescaped: Self.eventColumns) FROM detector_event
            WHERE tenant = \(query.tenant.rawValue) AND start_ms >= \(query.range.lowerBound)
                AND start_ms < \(query.range.upperBound)
                AND (\(query.detector)::text IS NULL OR detector = \(query.detector)) AND \(machineScope: query.scope)
            ORDER BY start_ms DESC, id DESC LIMIT \(Int64(query.limit))
            """
        return try await fetchEvents(statement)
    }

    public func labelEvent(tenant: TenantID, id: Int64, label: String?, by: String, at: Int64, note: String?) async throws -> Bool {
        try await execute("""
            UPDATE detector_event SET label = \(label), labelled_by = \(label == nil ? nil : by), labelled_ms = \(label == nil ? nil : at),
                note = \(note) WHERE tenant = \(tenant.rawValue) AND id = \(id)
            """) == 1
    }
}

/// Detector versions and trained models in PostgreSQL.
extension PostgresStore: DetectorVersionStore {
    /// Version numbers are handed out under a table lock, so two nodes never give one twice.
    public func createDetectorVersion(tenant: TenantID, detector: String,
                                      make: @escaping @Sendable (Int) throws -> StoredDetectorVersion) async throws -> StoredDetectorVersion {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("LOCK TABLE detector_version IN SHARE ROW EXCLUSIVE MODE", logger: self.logger)
            var highest: Int64 = 0
            let rows = try await connection.query("""
                SELECT max(version) FROM detector_version WHERE tenant = \(tenant.rawValue) AND detector = \(detector)
                """, logger: self.logger)
            for try await value in rows.decode(Int64?.self) { highest = value ?? 0 }
            let version = try make(Int(highest) + 1)
            try await connection.query("""
                INSERT INTO detector_version (tenant, detector, version, status, document)
                VALUES (\(tenant.rawValue), \(detector), \(Int64(version.version)), \(version.status), \(version.document))
                """, logger: self.logger)
            return version
        }
    }

    public func detectorVersions(tenant: TenantID?, detector: String?) async throws -> [StoredDetectorVersion] {
        var result: [StoredDetectorVersion] = []
        let rows = try await client.query("""
            SELECT tenant, detector, version, status, document FROM detector_version
            WHERE (\(tenant?.rawValue)::text IS NULL OR tenant = \(tenant?.rawValue)) AND (\(detector)::text IS NULL OR detector = \(detector))
            ORDER BY tenant, detector, version
            """, logger: logger)
        for try await (tenant, detector, version, status, document) in rows.decode((String, String, Int64, String, String).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredDetectorVersion(tenant: tenant, detector: detector, version: Int(version), status: status, document: document))
        }
        return result
    }

    public func saveDetectorVersions(_ versions: [StoredDetectorVersion], model: Data?) async throws {
        try await client.withTransaction(logger: logger) { connection in
            for version in versions {
                try await connection.query("""
                    INSERT INTO detector_version (tenant, detector, version, status, document)
                    VALUES (\(version.tenant.rawValue), \(version.detector), \(Int64(version.version)), \(version.status), \(version.document))
                    ON CONFLICT (tenant, detector, version) DO UPDATE SET status = excluded.status, document = excluded.document
                    """, logger: self.logger)
            }
            if let model, let first = versions.first {
                try await connection.query("""
                    UPDATE detector_version SET model = \(model)
                    WHERE tenant = \(first.tenant.rawValue) AND detector = \(first.detector) AND version = \(Int64(first.version))
                    """, logger: self.logger)
            }
        }
    }

    public func detectorModel(tenant: TenantID, detector: String, version: Int) async throws -> Data? {
        let rows = try await client.query("""
            SELECT model FROM detector_version WHERE tenant = \(tenant.rawValue) AND detector = \(detector) AND version = \(Int64(version))
            """, logger: logger)
        for try await model in rows.decode(Data?.self) { return model }
        return nil
    }
}
