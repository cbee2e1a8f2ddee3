import Foundation
import GRDB
public import Logging
import MQTTCodec
import Synchronization

/// Where the broker saves what must outlive a restart. `save` runs off the broker's loop, one call
/// at a time; `load` runs once, before the broker serves.
public protocol BrokerPersistence: Sendable {
    /// Everything saved. `clockOffset` is wall-clock ms minus broker ms now: saved times are wall-clock.
    func load(clockOffset: Int64) throws -> BrokerImage
    /// Applies one batch of changes in one transaction.
    func save(_ delta: BrokerDelta, clockOffset: Int64) throws
}

/// The broker's saved state in `mqtt.sqlite` (WAL, so a `kill -9` loses at most the batch being
/// written): retained messages, persistent sessions and their QoS 1/2 messages. A file that cannot
/// be read is moved aside (`mqtt.sqlite.corrupt-<time>`) with an error in the log, and the broker
/// starts empty.
public final class SQLiteBrokerStore: BrokerPersistence {
    public let path: String
    private let queue: Mutex<DatabaseQueue>
    private let logger: Logger
    /// Session messages that have a row, by client: removing one that never got a row costs nothing.
    private let saved = Mutex<[String: Set<Int64>]>([:])

    /// Opens (creating) `mqtt.sqlite` in `directory`; an unreadable file is moved aside first.
    public init(directory: String, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        self.logger = logger
        let opened: DatabaseQueue
        do {
            opened = try Self.open(path)
        } catch {
            Self.moveAside(path, because: "\(error)", logger: logger)
            opened = try Self.open(path)
        }
        queue = Mutex(opened)
    }

    /// The file in its directory.
    public static let fileName = "mqtt.sqlite"
    /// The migrations this build applies, in order (a backup checks its copy against them).
    public static var migrationIdentifiers: [String] { migrator.migrations }
    /// Counts recorded in a backup's manifest.
    public static let backupCounts = [
        "retained": "SELECT count(*) FROM retained",
        "sessions": "SELECT count(*) FROM session",
    ]

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE retained (topic TEXT PRIMARY KEY, packet BLOB NOT NULL, publisher TEXT NOT NULL,
                                       expires_at INTEGER) WITHOUT ROWID;
                CREATE TABLE session (client_id TEXT PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE session_message (
                    client_id TEXT NOT NULL, seq INTEGER NOT NULL, stage INTEGER NOT NULL, packet_id INTEGER,
                    qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_ids TEXT NOT NULL,
                    packet BLOB NOT NULL, publisher TEXT NOT NULL, expires_at INTEGER,
                    PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
                """)
        }
        return migrator
    }

    private static func open(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        let check = try queue.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") }
        guard check == "ok" else { throw RecordCodec.Malformed(description: "integrity check: \(check ?? "no answer")") }
        try migrator.migrate(queue)
        return queue
    }

    private static func moveAside(_ path: String, because reason: String, logger: Logger) {
        let aside = "\(path).corrupt-\(Int(Date().timeIntervalSince1970))"
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            try? FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
        }
        logger.error("the MQTT broker's saved state cannot be read; it was moved aside and the broker starts empty",
                     metadata: ["mqtt.persistence_file": "\(path)", "mqtt.moved_to": "\(aside)", "error": "\(reason)"])
    }

    // MARK: Load

    public func load(clockOffset: Int64) throws -> BrokerImage {
        do {
            return try read(clockOffset: clockOffset)
        } catch {
            // A row that does not decode: the file is not what was written. Start over with a new one.
            try queue.withLock { queue in
                try queue.close()
                Self.moveAside(path, because: "\(error)", logger: logger)
                queue = try Self.open(path)
            }
            saved.withLock { $0 = [:] }
            return BrokerImage()
        }
    }

    private func read(clockOffset: Int64) throws -> BrokerImage {
        var image = BrokerImage()
        var rows: [String: Set<Int64>] = [:]
        try queue.withLock { queue in
            try queue.read { db in
                let retained = try Row.fetchCursor(db, sql: "SELECT topic, packet, publisher, expires_at FROM retained")
                while let row = try retained.next() {
                    image.retained.append(try RecordCodec.decodeMessage(Self.bytes(row[1]), publisherID: row[2],
                                                                        expiresAt: (row[3] as Int64?).map { $0 - clockOffset }))
                }
                let sessions = try Row.fetchCursor(db, sql: "SELECT client_id, record FROM session")
                while let row = try sessions.next() {
                    image.sessions.append(try RecordCodec.decodeSession(Self.bytes(row[1]), clientID: row[0], offset: clockOffset))
                }
                let messages = try Row.fetchCursor(db, sql: """
                    SELECT client_id, seq, stage, packet_id, qos, retain, subscription_ids, packet, publisher, expires_at
                    FROM session_message ORDER BY seq
                    """)
                while let row = try messages.next() {
                    let record = try Self.message(row, clockOffset: clockOffset)
                    image.messages.append(record)
                    rows[record.clientID, default: []].insert(record.sequence)
                }
            }
        }
        saved.withLock { $0 = rows }
        return image
    }

    private static func message(_ row: Row, clockOffset: Int64) throws -> SessionMessageRecord {
        guard let stage = SessionMessageRecord.Stage(rawValue: row[2]), let qos = QoS(rawValue: row[4]) else {
            throw RecordCodec.Malformed(description: "bad saved message stage or QoS")
        }
        let message = try RecordCodec.decodeMessage(bytes(row[7]), publisherID: row[8], expiresAt: (row[9] as Int64?).map { $0 - clockOffset })
        return SessionMessageRecord(clientID: row[0], sequence: row[1], message: message, qos: qos, retain: row[5],
                                    subscriptionIDs: try RecordCodec.decodeIDs(row[6]), stage: stage, packetID: row[3])
    }

    private static func bytes(_ value: Data?) throws -> [UInt8] {
        guard let value else { throw RecordCodec.Malformed(description: "a saved record is empty") }
        return [UInt8](value)
    }

    // MARK: Save

    public func save(_ delta: BrokerDelta, clockOffset: Int64) throws {
        guard !delta.isEmpty else { return }
        var known = saved.withLock { $0 }
        try queue.withLock { queue in
            try queue.inTransaction(.immediate) { db in
                try write(delta, known: &known, clockOffset: clockOffset, db)
                return .commit
            }
        }
        saved.withLock { $0 = known }
    }

    private func write(_ delta: BrokerDelta, known: inout [String: Set<Int64>], clockOffset: Int64, _ db: Database) throws {
        for (topic, message) in delta.retained {
            if let message {
                try db.execute(sql: "INSERT OR REPLACE INTO retained VALUES (?, ?, ?, ?)", arguments: [
                    topic, Data(try RecordCodec.encode(message)), message.publisherID, message.expiresAt.map { $0 + clockOffset },
                ])
            } else {
                try db.execute(sql: "DELETE FROM retained WHERE topic = ?", arguments: [topic])
            }
        }
        for clientID in delta.endedSessions {
            try db.execute(sql: "DELETE FROM session WHERE client_id = ?", arguments: [clientID])
            if known.removeValue(forKey: clientID) != nil {
                try db.execute(sql: "DELETE FROM session_message WHERE client_id = ?", arguments: [clientID])
            }
        }
        for (clientID, record) in delta.sessions {
            if let record {
                try db.execute(sql: "INSERT OR REPLACE INTO session VALUES (?, ?)",
                               arguments: [clientID, Data(try RecordCodec.encode(record, offset: clockOffset))])
            } else {
                try db.execute(sql: "DELETE FROM session WHERE client_id = ?", arguments: [clientID])
            }
        }
        for (key, record) in delta.messages {
            if let record {
                try db.execute(sql: "INSERT OR REPLACE INTO session_message VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
                    key.clientID, key.sequence, record.stage.rawValue, record.packetID.map { Int($0) }, record.qos.rawValue,
                    record.retain, RecordCodec.encode(record.subscriptionIDs), Data(try RecordCodec.encode(record.message)),
                    record.message.publisherID, record.message.expiresAt.map { $0 + clockOffset },
                ])
                known[key.clientID, default: []].insert(key.sequence)
            } else if known[key.clientID]?.remove(key.sequence) != nil {
                try db.execute(sql: "DELETE FROM session_message WHERE client_id = ? AND seq = ?", arguments: [key.clientID, key.sequence])
            }
        }
    }
}
