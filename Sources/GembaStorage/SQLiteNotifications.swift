public import GembaCore
internal import GRDB

/// Notification channels, policies, the outbox and the delivery log in SQLite.
extension SQLiteStore: NotificationStore {
    public func allChannels() async throws -> [StoredNotificationConfig] { try await configs("notification_channel") }
    public func allConfigs(_ kind: NotificationConfigKind) async throws -> [StoredNotificationConfig] { try await configs(Self.table(kind)) }

    public func saveChannel(_ channel: StoredNotificationConfig) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO notification_channel (tenant, id, definition, sealed_secrets) VALUES (?, ?, ?, ?)",
                           arguments: [channel.tenant.rawValue, channel.id, channel.definition, channel.sealedSecrets])
        }
    }

    public func saveConfig(_ config: StoredNotificationConfig, kind: NotificationConfigKind) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO \(Self.table(kind)) (tenant, id, definition) VALUES (?, ?, ?)",
                           arguments: [config.tenant.rawValue, config.id, config.definition])
        }
    }

    private static func table(_ kind: NotificationConfigKind) -> String { "notification_" + kind.rawValue }

    public func deleteChannel(tenant: TenantID, id: String) async throws -> Bool { try await delete("notification_channel", tenant, id) }
    public func deleteConfig(_ kind: NotificationConfigKind, tenant: TenantID, id: String) async throws -> Bool {
        try await delete(Self.table(kind), tenant, id)
    }

    @discardableResult
    public func enqueue(_ entries: [OutboxEntry]) async throws -> [OutboxEntry] {
        try await pool.write { db in try Self.enqueue(entries, db) }
    }

    /// Inserts the rows; answers them with their ids.
    @discardableResult
    static func enqueue(_ entries: [OutboxEntry], _ db: Database) throws -> [OutboxEntry] {
        guard !entries.isEmpty else { return [] }
        var stored: [OutboxEntry] = []
        let insert = try db.cachedStatement(sql: """
            INSERT INTO notification_outbox (tenant, channel, recipient, group_key, message_id, event_type, payload, created_ms, status,
                                             attempts, next_attempt_ms, last_error)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for entry in entries {
            try insert.execute(arguments: [entry.tenant.rawValue, entry.channel, entry.recipient, entry.groupKey, entry.messageID, entry.eventType, entry.payload,
                                           entry.createdAt, entry.status.rawValue, entry.attempts, entry.nextAttemptAt, entry.lastError])
            var row = entry
            row.id = db.lastInsertedRowID
            stored.append(row)
        }
        return stored
    }

    public func dueDeliveries(now: Int64, limit: Int) async throws -> [OutboxEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM notification_outbox WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?",
                             arguments: [now, limit]).compactMap(Self.outbox(from:))
        }
    }

    public func recordAttempt(_ attempt: DeliveryAttempt, entry: OutboxEntry) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO notification_attempt (outbox, time_ms, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?)",
                           arguments: [attempt.outbox, attempt.time, attempt.statusCode, attempt.error, attempt.durationMilliseconds])
            try db.execute(sql: """
                UPDATE notification_outbox SET status = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, delivered_ms = ? WHERE id = ?
                """, arguments: [entry.status.rawValue, entry.attempts, entry.nextAttemptAt, entry.lastError, entry.deliveredAt, entry.id])
        }
    }

    public func deliveries(tenant: TenantID, status: OutboxEntry.Status?, limit: Int) async throws -> [OutboxEntry] {
        try await pool.read { db in
            let filter = status == nil ? "" : " AND status = ?"
            var arguments: StatementArguments = [tenant.rawValue]
            if let status { _ = arguments.append(contentsOf: [status.rawValue]) }
            _ = arguments.append(contentsOf: [limit])
            return try Row.fetchAll(db, sql: "SELECT * FROM notification_outbox WHERE tenant = ?\(filter) ORDER BY id DESC LIMIT ?",
                                    arguments: arguments).compactMap(Self.outbox(from:))
        }
    }

    public func delivery(tenant: TenantID, id: Int64) async throws -> OutboxEntry? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM notification_outbox WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
                .flatMap(Self.outbox(from:))
        }
    }

    public func requeue(tenant: TenantID, id: Int64, now: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt_ms = ? WHERE tenant = ? AND id = ?",
                           arguments: [now, tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    public func attempts(tenant: TenantID, outbox: Int64) async throws -> [DeliveryAttempt] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT a.* FROM notification_attempt a JOIN notification_outbox o ON o.id = a.outbox
                WHERE o.tenant = ? AND a.outbox = ? ORDER BY a.time_ms
                """, arguments: [tenant.rawValue, outbox]).map { row in
                DeliveryAttempt(outbox: row["outbox"], time: row["time_ms"], statusCode: row["status_code"], error: row["error"],
                                durationMilliseconds: row["duration_ms"])
            }
        }
    }

    private func configs(_ table: String) async throws -> [StoredNotificationConfig] {
        try await pool.read { db in
            let secrets = table == "notification_channel" ? ", sealed_secrets" : ""
            return try Row.fetchAll(db, sql: "SELECT tenant, id, definition\(secrets) FROM \(table) ORDER BY tenant, id").compactMap { row in
                guard let tenant = TenantID(row["tenant"]) else { return nil }
                return StoredNotificationConfig(tenant: tenant, id: row["id"], definition: row["definition"],
                                                sealedSecrets: secrets.isEmpty ? nil : row["sealed_secrets"])
            }
        }
    }

    private func delete(_ table: String, _ tenant: TenantID, _ id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM \(table) WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    private static func outbox(from row: Row) -> OutboxEntry? {
        guard let tenant = TenantID(row["tenant"]), let status = OutboxEntry.Status(rawValue: row["status"]) else { return nil }
        return OutboxEntry(id: row["id"], tenant: tenant, channel: row["channel"], recipient: row["recipient"], groupKey: row["group_key"], messageID: row["message_id"], eventType: row["event_type"],
                           payload: row["payload"], createdAt: row["created_ms"], status: status, attempts: row["attempts"],
                           nextAttemptAt: row["next_attempt_ms"], lastError: row["last_error"], deliveredAt: row["delivered_ms"])
    }
}
