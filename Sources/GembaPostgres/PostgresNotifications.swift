public import GembaCore
public import GembaStorage
internal import PostgresNIO

/// Notification channels, policies, rosters, people, the outbox and the delivery log in PostgreSQL.
extension PostgresStore: NotificationStore {
    public func allChannels() async throws -> [StoredNotificationConfig] { try await configs("notification_channel") }
    public func allConfigs(_ kind: NotificationConfigKind) async throws -> [StoredNotificationConfig] { try await configs(Self.table(kind)) }

    public func saveChannel(_ channel: StoredNotificationConfig) async throws {
        try await client.query("""
            INSERT INTO notification_channel (tenant, id, definition, sealed_secrets)
            VALUES (\(channel.tenant.rawValue), \(channel.id), \(channel.definition), \(channel.sealedSecrets))
            ON CONFLICT (tenant, id) DO UPDATE SET definition = excluded.definition, sealed_secrets = excluded.sealed_secrets
            """, logger: logger)
    }

    public func saveConfig(_ config: StoredNotificationConfig, kind: NotificationConfigKind) async throws {
        let query: PostgresQuery = """
            INSERT INTO \(unescaped: Self.table(kind)) (tenant, id, definition) VALUES (\(config.tenant.rawValue), \(config.id), \(config.definition))
            ON CONFLICT (tenant, id) DO UPDATE SET definition = excluded.definition
            """
        try await client.query(query, logger: logger)
    }

    private static func table(_ kind: NotificationConfigKind) -> String { "notification_" + kind.rawValue }

    public func deleteChannel(tenant: TenantID, id: String) async throws -> Bool { try await delete("notification_channel", tenant, id) }
    public func deleteConfig(_ kind: NotificationConfigKind, tenant: TenantID, id: String) async throws -> Bool {
        try await delete(Self.table(kind), tenant, id)
    }

    @discardableResult
    public func enqueue(_ entries: [OutboxEntry]) async throws -> [OutboxEntry] {
        guard !entries.isEmpty else { return [] }
        return try await client.withTransaction(logger: logger) { connection in try await self.enqueue(entries, on: connection) }
    }

    /// Inserts the rows on `connection` (inside its transaction); answers them with their ids.
    func enqueue(_ entries: [OutboxEntry], on connection: PostgresConnection) async throws -> [OutboxEntry] {
        var stored: [OutboxEntry] = []
        for entry in entries {
            let rows = try await connection.query("""
                INSERT INTO notification_outbox (tenant, channel, recipient, group_key, message_id, event_type, payload, created_ms, status,
                                                 attempts, next_attempt_ms, last_error)
                VALUES (\(entry.tenant.rawValue), \(entry.channel), \(entry.recipient), \(entry.groupKey), \(entry.messageID),
                        \(entry.eventType), \(entry.payload), \(entry.createdAt), \(entry.status.rawValue), \(Int64(entry.attempts)),
                        \(entry.nextAttemptAt), \(entry.lastError))
                RETURNING id
                """, logger: logger)
            var row = entry
            for try await id in rows.decode(Int64.self) { row.id = id }
            stored.append(row)
        }
        return stored
    }

    static let outboxColumns = """
        id, tenant, channel, recipient, group_key, message_id, event_type, payload, created_ms, status, attempts, next_attempt_ms,
        last_error, delivered_ms
        """

    private func fetchOutbox(_ query: PostgresQuery) async throws -> [OutboxEntry] {
        var result: [OutboxEntry] = []
        let rows = try await client.query(query, logger: logger)
        for try await (id, tenant, channel, recipient, group, message, event, payload, created, status, attempts, next, error, delivered)
            in rows.decode((Int64, String, String, String?, String?, String, String, String, Int64, String, Int64, Int64, String?, Int64?).self) {
            guard let tenant = TenantID(tenant), let status = OutboxEntry.Status(rawValue: status) else { continue }
            result.append(OutboxEntry(id: id, tenant: tenant, channel: channel, recipient: recipient, groupKey: group, messageID: message,
                                      eventType: event, payload: payload, createdAt: created, status: status, attempts: Int(attempts),
                                      nextAttemptAt: next, lastError: error, deliveredAt: delivered))
        }
        return result
    }

    /// How long a node's claim on due rows lasts: longer than any delivery attempt takes.
    static let claim: Int64 = 120_000

    /// Claims the due rows (rows other nodes are claiming are skipped, not waited for) by moving
    /// their next attempt past the claim's end; answers them as they were before the claim.
    public func dueDeliveries(now: Int64, limit: Int) async throws -> [OutboxEntry] {
        let query: PostgresQuery = """
            WITH due AS (
                SELECT id FROM notification_outbox WHERE status = 'pending' AND next_attempt_ms <= \(now)
                ORDER BY next_attempt_ms, id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE notification_outbox o SET next_attempt_ms = \(now) + \(Self.claim) FROM due WHERE o.id = due.id RETURNING o.id
            )
            SELECT \(unescaped: Self.outboxColumns) FROM notification_outbox WHERE id IN (SELECT id FROM claimed)
            ORDER BY next_attempt_ms, id
            """
        return try await fetchOutbox(query)
    }

    public func recordAttempt(_ attempt: DeliveryAttempt, entry: OutboxEntry) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO notification_attempt (outbox, time_ms, status_code, error, duration_ms)
                VALUES (\(attempt.outbox), \(attempt.time), \(attempt.statusCode.map(Int64.init)), \(attempt.error), \(attempt.durationMilliseconds))
                """, logger: self.logger)
            try await connection.query("""
                UPDATE notification_outbox SET status = \(entry.status.rawValue), attempts = \(Int64(entry.attempts)),
                    next_attempt_ms = \(entry.nextAttemptAt), last_error = \(entry.lastError), delivered_ms = \(entry.deliveredAt)
                WHERE id = \(entry.id)
                """, logger: self.logger)
        }
    }

    public func deliveries(tenant: TenantID, status: OutboxEntry.Status?, limit: Int) async throws -> [OutboxEntry] {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.outboxColumns) FROM notification_outbox WHERE tenant = \(tenant.rawValue)
                AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
            ORDER BY id DESC LIMIT \(Int64(limit))
            """
        return try await fetchOutbox(query)
    }

    public func delivery(tenant: TenantID, id: Int64) async throws -> OutboxEntry? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.outboxColumns) FROM notification_outbox WHERE tenant = \(tenant.rawValue) AND id = \(id)"
        return try await fetchOutbox(query).first
    }

    public func requeue(tenant: TenantID, id: Int64, now: Int64) async throws -> Bool {
        try await execute("""
            UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt_ms = \(now) WHERE tenant = \(tenant.rawValue) AND id = \(id)
            """) > 0
    }

    public func attempts(tenant: TenantID, outbox: Int64) async throws -> [DeliveryAttempt] {
        var result: [DeliveryAttempt] = []
        let rows = try await client.query("""
            SELECT a.outbox, a.time_ms, a.status_code, a.error, a.duration_ms FROM notification_attempt a
            JOIN notification_outbox o ON o.id = a.outbox WHERE o.tenant = \(tenant.rawValue) AND a.outbox = \(outbox) ORDER BY a.time_ms
            """, logger: logger)
        for try await (id, time, code, error, duration) in rows.decode((Int64, Int64, Int64?, String?, Int64).self) {
            result.append(DeliveryAttempt(outbox: id, time: time, statusCode: code.map(Int.init), error: error, durationMilliseconds: duration))
        }
        return result
    }

    private func configs(_ table: String) async throws -> [StoredNotificationConfig] {
        let secrets = table == "notification_channel" ? "sealed_secrets" : "NULL::text"
        var result: [StoredNotificationConfig] = []
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT tenant, id, definition, \(secrets) FROM \(table) ORDER BY tenant, id"),
                                          logger: logger)
        for try await (tenant, id, definition, sealed) in rows.decode((String, String, String, String?).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredNotificationConfig(tenant: tenant, id: id, definition: definition, sealedSecrets: sealed))
        }
        return result
    }

    private func delete(_ table: String, _ tenant: TenantID, _ id: String) async throws -> Bool {
        let query: PostgresQuery = "DELETE FROM \(unescaped: table) WHERE tenant = \(tenant.rawValue) AND id = \(id)"
        return try await execute(query) > 0
    }
}
