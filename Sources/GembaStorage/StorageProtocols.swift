public import GembaCore

/// An error that says whether the storage could not be reached (its database is down or every
/// pooled connection is busy): the same operation may succeed when retried, and the HTTP API
/// answers 503 with Retry-After rather than 500.
public protocol StorageAvailabilityError: Error {
    var storageUnavailable: Bool { get }
}

/// A registered time series: the id storage gave it, the key it answers to, and its tag definition.
public struct Series: Hashable, Sendable {
    public var id: Int64
    public var key: SeriesKey
    public var tag: Tag
    /// When its first stored sample was taken (moved back by backfills, kept when retention trims
    /// raw samples); nil before it has one.
    public var firstSampleTime: Int64?

    public init(id: Int64, key: SeriesKey, tag: Tag, firstSampleTime: Int64? = nil) {
        self.id = id
        self.key = key
        self.tag = tag
        self.firstSampleTime = firstSampleTime
    }
}

/// A series the writer should create (idempotently) before storing its samples.
public struct NewSeries: Hashable, Sendable {
    public var key: SeriesKey
    public var tag: Tag

    public init(key: SeriesKey, tag: Tag) {
        self.key = key
        self.tag = tag
    }
}

/// One sample addressed to a stored series.
public struct SeriesSample: Hashable, Sendable {
    /// A series id, or `-(index + 1)` naming `WriteBatch.newSeries[index]` before it has an id.
    public var series: Int64
    public var sample: Sample

    public init(series: Int64, sample: Sample) {
        self.series = series
        self.sample = sample
    }

    /// A sample for the `index`th series of the same batch's `newSeries`.
    public static func forNewSeries(_ index: Int, _ sample: Sample) -> SeriesSample {
        SeriesSample(series: -Int64(index) - 1, sample: sample)
    }
}

/// Everything one group commit stores atomically.
public struct WriteBatch: Sendable {
    public var newMachines: [(tenant: TenantID, machine: AssetPath)] = []
    public var newSeries: [NewSeries] = []
    public var samples: [SeriesSample] = []
    /// Samples of the batch that a store with a sample feed (``SampleFeedStore``) appends to it in
    /// the same transaction (those the alarm rules read); a store without one ignores them. Their
    /// series ids are those of `samples` (negative for `newSeries`).
    public var feed: [AcceptedSample] = []

    public init(newMachines: [(tenant: TenantID, machine: AssetPath)] = [], newSeries: [NewSeries] = [],
                samples: [SeriesSample] = [], feed: [AcceptedSample] = []) {
        self.newMachines = newMachines
        self.newSeries = newSeries
        self.samples = samples
        self.feed = feed
    }
}

/// A store that keeps, beside the samples, the feed of what each commit asked it to feed
/// (``WriteBatch/feed``), for one reader in commit order: the node evaluating alarm rules, which
/// must see every sample of the tags its rules read, whichever node committed it. Entries are
/// answered only once every transaction that could precede them has ended, so a reader never
/// skips one that commits late, and are removed once consumed.
public protocol SampleFeedStore: Sendable {
    /// Up to `limit` of the oldest entries, oldest first.
    func pendingFeed(limit: Int) async throws -> [SampleFeedEntry]
    /// Removes consumed entries.
    func consumeFeed(_ ids: [Int64]) async throws
}

/// One commit's samples in the feed.
public struct SampleFeedEntry: Sendable {
    public var id: Int64
    public var samples: [AcceptedSample]

    public init(id: Int64, samples: [AcceptedSample]) {
        self.id = id
        self.samples = samples
    }
}

/// What a commit did.
public struct WriteResult: Sendable, Hashable {
    /// The stored series for `WriteBatch.newSeries`, in the same order (existing ones when they were already there).
    public var series: [Series]
    /// For each of the batch's samples, whether it was stored (`false`: a sample with the same
    /// series and time was already stored, and was kept).
    public var stored: [Bool]

    public init(series: [Series], stored: [Bool]) {
        self.series = series
        self.stored = stored
    }

    /// Samples stored.
    public var inserted: Int { stored.reduce(0) { $0 + ($1 ? 1 : 0) } }
    /// Samples dropped as duplicates of a stored (series, time).
    public var duplicates: Int { stored.count - inserted }
}

/// Writes samples durably. Each `commit` is one transaction: when it returns, the batch survives a crash.
public protocol SampleWriter: Sendable {
    func commit(_ batch: WriteBatch) async throws -> WriteResult
}

/// The asset and tag catalogue, and per-tenant settings.
public protocol Catalog: Sendable {
    /// Every registered series of every tenant (loaded once at start to warm the ingest registry).
    func allSeries() async throws -> [Series]
    /// Every registered machine of every tenant, with its tenant.
    func allMachines() async throws -> [(tenant: TenantID, machine: Machine)]
    /// The tenant's machines, ordered by path.
    func machines(tenant: TenantID) async throws -> [Machine]
    /// The tenant's series, optionally only one machine's, ordered by machine and tag name.
    func series(tenant: TenantID, machine: AssetPath?) async throws -> [Series]
    /// The tenant's limits (defaults when never set).
    func limits(tenant: TenantID) async throws -> TenantLimits
    /// Changes a tenant's limits.
    func setLimits(_ limits: TenantLimits, tenant: TenantID) async throws
    /// Every tenant that has data or settings.
    func tenants() async throws -> [TenantID]
}

extension Catalog {
    /// When the machine's first stored sample (of any tag) was taken: where its monitoring began.
    /// Backfilled samples move it back; trimming raw samples by retention does not move it on.
    /// Nil when the machine has stored nothing.
    public func firstSampleTime(tenant: TenantID, machine: AssetPath) async throws -> Int64? {
        try await series(tenant: tenant, machine: machine).compactMap(\.firstSampleTime).min()
    }
}

/// The asset model people manage: details of sites, areas, lines and machines, machines made
/// before their data, tag details, and machines moved, retired or deleted. Every call is scoped
/// to a tenant; another tenant's machine is not found.
public protocol AssetStore: Sendable {
    /// The tenant's stored asset details (assets never edited have none).
    func assetDetails(tenant: TenantID) async throws -> [AssetDetails]
    /// Stores an asset's details (replacing earlier ones of the same level and path).
    func saveAssetDetails(_ details: AssetDetails, tenant: TenantID) async throws
    /// Every retired machine of every tenant (loaded at start so ingest refuses their data).
    func retiredMachines() async throws -> [(tenant: TenantID, machine: AssetPath)]
    /// Registers a machine before it sends anything; nothing happens when it exists.
    func registerMachine(_ machine: AssetPath, tenant: TenantID, at time: Timestamp) async throws
    /// Changes a tag's details; nil when the machine has no such tag.
    func updateTag(_ details: TagDetails, tenant: TenantID, machine: AssetPath, tag: String) async throws -> Series?
    /// Gives a machine a new path in one transaction: its series (so its history), settings,
    /// orders, stop reasons, OEE summaries and details follow. Throws `conflict` when a machine
    /// already has the new path, `notFound` when there is no such machine.
    func moveMachine(_ machine: AssetPath, to target: AssetPath, tenant: TenantID) async throws
    /// Deletes a machine with all it holds (samples, rollups, series, settings, orders, stop
    /// reasons, summaries, details); answers the samples deleted. Throws `notFound` when there is no such machine.
    func deleteMachine(_ machine: AssetPath, tenant: TenantID) async throws -> Int
}

/// Aggregate of the numeric samples in one time bucket.
public struct Bucket: Hashable, Sendable {
    public var start: Timestamp
    public var count: Int64
    public var min: Double
    public var max: Double
    public var sum: Double
    public var first: Double
    public var firstTime: Timestamp
    public var last: Double
    public var lastTime: Timestamp

    public var average: Double { sum / Double(count) }

    public init(start: Timestamp, count: Int64, min: Double, max: Double, sum: Double,
                first: Double, firstTime: Timestamp, last: Double, lastTime: Timestamp) {
        self.start = start
        self.count = count
        self.min = min
        self.max = max
        self.sum = sum
        self.first = first
        self.firstTime = firstTime
        self.last = last
        self.lastTime = lastTime
    }

    /// A bucket holding one value.
    public init(start: Timestamp, value: Double, time: Timestamp) {
        self.init(start: start, count: 1, min: value, max: value, sum: value,
                  first: value, firstTime: time, last: value, lastTime: time)
    }

    /// Folds `other` (covering the same or another part of this bucket's time) into this one.
    public mutating func merge(_ other: Bucket) {
        count += other.count
        sum += other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        if other.firstTime < firstTime { first = other.first; firstTime = other.firstTime }
        if other.lastTime >= lastTime { last = other.last; lastTime = other.lastTime }
    }
}

/// The rollup levels storage maintains, finest first.
public enum Resolution: String, Sendable, CaseIterable, Codable {
    case raw, minute, hour

    /// Bucket width in milliseconds (raw has none: 1 ms stands for "every sample").
    public var milliseconds: Int64 {
        switch self {
        case .raw: 1
        case .minute: 60_000
        case .hour: 3_600_000
        }
    }
}

/// A history answer: raw samples when they fit in the requested points, otherwise buckets.
public struct History: Sendable, Hashable {
    public var series: Series
    /// Raw samples, oldest first (when the range held no more than the requested number of points).
    public var samples: [Sample]?
    /// Downsampled buckets, oldest first, each `bucketWidth` wide.
    public var buckets: [Bucket]?
    /// Width of each bucket in milliseconds, when downsampled.
    public var bucketWidth: Int64?
    /// Where the buckets came from.
    public var resolution: Resolution

    public init(series: Series, samples: [Sample]? = nil, buckets: [Bucket]? = nil, bucketWidth: Int64? = nil,
                resolution: Resolution) {
        self.series = series
        self.samples = samples
        self.buckets = buckets
        self.bucketWidth = bucketWidth
        self.resolution = resolution
    }
}

/// One raw read of a batch: samples of `series` in `[from, to)`, oldest first, at most `limit`,
/// preceded by the newest sample before `from` when `withPrevious` (what was in effect at `from`).
public struct SampleRequest: Sendable, Hashable {
    public var series: Int64
    public var from: Timestamp
    public var to: Timestamp
    public var limit: Int
    public var withPrevious: Bool

    public init(series: Int64, from: Timestamp, to: Timestamp, limit: Int, withPrevious: Bool) {
        self.series = series
        self.from = from
        self.to = to
        self.limit = limit
        self.withPrevious = withPrevious
    }
}

/// Reads samples back.
public protocol SampleReader: Sendable {
    /// The newest stored sample of each of the given series that has one.
    func latest(series: [Int64]) async throws -> [Int64: Sample]
    /// Raw samples of one series in `[from, to)`, oldest first, at most `limit`.
    func samples(series: Int64, from: Timestamp, to: Timestamp, limit: Int) async throws -> [Sample]
    /// The newest sample of one series strictly before `time` (what was in effect at `time`), if any.
    func last(series: Int64, before time: Timestamp) async throws -> Sample?
    /// Several raw reads in one database round trip, answers in the order of the requests.
    func samples(_ requests: [SampleRequest]) async throws -> [[Sample]]
    /// Buckets of width `width` (a multiple of `resolution`'s) over `[from, to)`, exact at the range's edges.
    func buckets(series: Int64, from: Timestamp, to: Timestamp, width: Int64, resolution: Resolution) async throws -> [Bucket]
    /// Number of raw samples of one series in `[from, to)`, stopping at `cap`.
    func count(series: Int64, from: Timestamp, to: Timestamp, cap: Int) async throws -> Int
}

/// Removes what retention no longer keeps; run in the background in small steps.
public protocol RetentionEnforcer: Sendable {
    /// Deletes at most `budget` series' expired rows of one tenant per call; returns rows deleted.
    func enforceRetention(tenant: TenantID, limits: TenantLimits, now: Timestamp) async throws -> Int
}

/// A storage backend: everything the platform needs from a database.
public protocol TelemetryStore: SampleWriter, SampleReader, Catalog, RetentionEnforcer {
    /// Whether a write can go through now (for `/ready`).
    func checkWritable() async throws
    /// Bytes the data occupies on disk.
    func diskUsage() throws -> Int64
    /// Backend housekeeping that should run often, off the write path (SQLite: WAL checkpoints).
    func maintain() async throws
    /// How often ``maintain()`` is called.
    var maintenanceInterval: Duration { get }
}

/// Everything a storage backend provides (SQLite's `SQLiteStore`, PostgreSQL's `PostgresStore`):
/// telemetry, the asset model, OEE data, alarms and notifications, maintenance and detectors.
public typealias GembaStore = TelemetryStore & AssetStore & AnalyticsStore & AlarmStore & NotificationStore & MaintenanceStore
    & DetectorEventStore & DetectorVersionStore
