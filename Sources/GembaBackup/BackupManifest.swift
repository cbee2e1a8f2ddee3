/// What a backup holds, written as `manifest.json`, the archive's first entry: enough to refuse
/// a backup this Gemba cannot restore before a byte of it is extracted, and to check every file.
public struct BackupManifest: Codable, Equatable, Sendable {
    public static let formatName = "gemba-backup"
    /// The archive layout this code writes and the newest it reads.
    public static let currentFormatVersion = 1
    /// The manifest's name in the archive.
    public static let entryName = "manifest.json"

    /// One file of the data directory.
    public struct File: Codable, Equatable, Sendable {
        /// The path relative to the data directory, `/`-separated.
        public var path: String
        public var kind: Kind
        public var bytes: UInt64
        public var sha256: String
        /// For a database: the schema migrations applied to it, in order.
        public var migrations: [String]?
        /// For a database: row counts people can compare (samples, users, …).
        public var counts: [String: Int]?

        public enum Kind: String, Codable, Sendable {
            case database
            case file
            /// A database dump made by a program of the database's own (PostgreSQL's `pg_dump`).
            case dump
        }

        public init(path: String, kind: Kind, digest: FileDigest, migrations: [String]? = nil, counts: [String: Int]? = nil) {
            self.path = path
            self.kind = kind
            self.bytes = digest.bytes
            self.sha256 = digest.sha256
            self.migrations = migrations
            self.counts = counts
        }

        var digest: FileDigest { FileDigest(bytes: bytes, sha256: sha256) }
    }

    public var format: String
    public var formatVersion: Int
    /// The version of the `gemba` that wrote the backup.
    public var gembaVersion: String
    /// When the backup began (RFC 3339, UTC).
    public var createdAt: String
    /// When raw samples older than a cut-off were left out: the cut-off (RFC 3339). Rollups are kept whole.
    public var rawSamplesSince: String?
    public var files: [File]

    public init(gembaVersion: String, createdAt: String, rawSamplesSince: String?, files: [File]) {
        format = Self.formatName
        formatVersion = Self.currentFormatVersion
        self.gembaVersion = gembaVersion
        self.createdAt = createdAt
        self.rawSamplesSince = rawSamplesSince
        self.files = files
    }

    /// Refuses a backup that this Gemba, knowing `layout`, cannot restore: another format, a newer
    /// format, a file it does not know, a database with a schema change it does not know, or a
    /// required database missing. A backup from an older Gemba passes: its databases are migrated
    /// forward at the next start.
    public func checkRestorable(by layout: DataDirectoryLayout, runningVersion: String) throws {
        guard format == Self.formatName else { throw BackupError.notABackup("its manifest names the format '\(format)'") }
        guard formatVersion <= Self.currentFormatVersion else {
            throw BackupError.incompatible("it was written by Gemba \(gembaVersion) in backup format \(formatVersion); this gemba (\(runningVersion)) reads format \(Self.currentFormatVersion) and older: restore it with Gemba \(gembaVersion) or newer")
        }
        var seen = Set<String>()
        for file in files {
            guard ArchivePath.isSafe(file.path), seen.insert(file.path).inserted else {
                throw BackupError.notABackup("its manifest lists '\(file.path)' twice or with an unsafe path")
            }
            guard let item = layout.item(file.path) else {
                throw BackupError.incompatible("it holds \(file.path), which this gemba (\(runningVersion)) does not know: it was written by Gemba \(gembaVersion); restore it with that version or newer")
            }
            if let known = item.migrations {
                let unknown = (file.migrations ?? []).filter { !known.contains($0) }
                if !unknown.isEmpty {
                    throw BackupError.incompatible("\(file.path) has schema changes this gemba (\(runningVersion)) does not know (\(unknown.joined(separator: ", "))): it was written by Gemba \(gembaVersion); restore it with that version or newer")
                }
            }
        }
        for item in layout.items where item.required && !seen.contains(item.path) {
            throw BackupError.notABackup("it does not hold \(item.path)")
        }
    }
}

/// The files of a Gemba data directory that a backup holds. Composed where the stores are known
/// (the `gemba` command): a capability that keeps a new file in the data directory adds it here.
public struct DataDirectoryLayout: Sendable {
    public struct Item: Sendable {
        public enum Kind: Sendable {
            /// An SQLite database, copied online with SQLite's backup API. `migrations` are the
            /// schema migrations this Gemba knows for it; `prepare` readies the copy (given its
            /// path) before anything else; `counts` are named `SELECT count(*)` statements recorded
            /// in the manifest; `rawSampleTrim` deletes raw samples older than its one argument (ms
            /// since 1970) when the backup leaves them out.
            case database(migrations: [String], prepare: (@Sendable (String) throws -> Void)? = nil, counts: [String: String],
                          rawSampleTrim: String?)
            /// A plain file; a secret one (a key) is written with mode 0600 wherever it goes.
            case file(secret: Bool)
            /// A database outside the data directory, dumped into the archive by `produce` (given
            /// the path to write; it answers the dump's schema migrations and counts). `migrations`
            /// are the ones this Gemba knows.
            case dump(migrations: [String], produce: @Sendable (String) throws -> DumpFacts)
        }

        public var path: String
        public var kind: Kind
        /// A backup without it is refused.
        public var required: Bool

        public init(path: String, kind: Kind, required: Bool) {
            self.path = path
            self.kind = kind
            self.required = required
        }

        var isSecret: Bool {
            switch kind {
            case .file(secret: let secret): secret
            case .dump: true  // password hashes, sealed secrets
            case .database: false
            }
        }

        /// The schema migrations this Gemba knows for a database item; nil for a plain file.
        var migrations: [String]? {
            switch kind {
            case .database(let migrations, _, _, _), .dump(let migrations, _): migrations
            case .file: nil
            }
        }

        /// Whether the item is a file in the data directory (a dump is made from elsewhere).
        var isInDataDirectory: Bool { if case .dump = kind { false } else { true } }
    }

    public var items: [Item]

    public init(items: [Item]) {
        self.items = items
    }

    public func item(_ path: String) -> Item? { items.first { $0.path == path } }
}

/// Why a backup or a restore did not happen. Every case says what to do.
public enum BackupError: Error, Equatable, CustomStringConvertible {
    case noData(String, missing: String)
    case unwritable(String)
    case unreadable(String)
    case changedWhileWriting(String)
    case entryTooLarge(String, limit: Int)
    case notABackup(String)
    case incompatible(String)
    case checksumMismatch(String)
    case missingFile(String)
    case unexpectedFile(String)
    case targetNotEmpty(String)
    case alreadyExists(String)

    public var description: String {
        switch self {
        case .noData(let directory, let missing): "\(directory) holds no Gemba data (no \(missing)): check --data-dir"
        case .unwritable(let path): "cannot create \(path)"
        case .unreadable(let path): "cannot read \(path)"
        case .changedWhileWriting(let path): "\(path) changed size while it was being archived"
        case .entryTooLarge(let name, let limit): "the archive's \(name) is larger than \(limit) bytes: this is not a Gemba backup"
        case .notABackup(let reason): "this is not a complete Gemba backup: \(reason)"
        case .incompatible(let reason): "this backup cannot be restored here: \(reason)"
        case .checksumMismatch(let path): "\(path) in the backup does not match its checksum: the archive is damaged; nothing was restored"
        case .missingFile(let path): "the backup lacks \(path), which its manifest lists: the archive is incomplete; nothing was restored"
        case .unexpectedFile(let path): "the backup holds \(path), which its manifest does not list: nothing was restored"
        case .targetNotEmpty(let directory): "\(directory) is not empty: restore into a new or empty directory (move the old one aside first)"
        case .alreadyExists(let path): "\(path) already exists: choose another name or remove it"
        }
    }
}

/// What a dump holds, as its producer says: the schema migrations applied and named counts.
public struct DumpFacts: Sendable {
    public var migrations: [String]
    public var counts: [String: Int]

    public init(migrations: [String], counts: [String: Int]) {
        self.migrations = migrations
        self.counts = counts
    }
}
