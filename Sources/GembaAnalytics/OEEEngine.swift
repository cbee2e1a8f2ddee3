#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
public import GembaCore
public import GembaStorage
public import Logging
internal import Synchronization

/// The state, downtime and OEE engine: answers KPIs for any machines over any range from stored
/// per-period summaries, building them from raw samples the first time a closed period is asked
/// for and again after late data, reasons or settings change it.
///
/// Summaries are kept per piece (at most an hour, inside one shift and one local day) and per
/// machine-day. A range is answered from day rows for whole closed days, piece rows for the rest
/// of closed time, and raw samples only for the open pieces (the last `settleTime`) and for
/// pieces cut by the range's edges. Every answer is a sum of components, so a day equals the sum
/// of its shifts and a line the sum of its machines, whichever rows computed it.
public final class OEEEngine: Sendable {
    public let telemetry: any TelemetryStore
    public let store: any AnalyticsStore
    /// Pieces that ended less than this long ago are computed on each request, not stored (ms).
    public let settleTime: Int64
    let logger: Logger
    let clock: @Sendable () -> Int64
    let cache = Mutex(Cache())
    /// Summary writes and the deletions that invalidate them never interleave.
    let writes = AsyncLock()
    /// The end of the newest stored summary of any machine: samples at or after it cannot be late.
    private let newestSummaryEnd = Atomic<Int64>(.min)
    /// Where changes other nodes on the same database must follow go (nil: a single node).
    let announcer = Mutex<StoredFunction<@Sendable (Change) async -> Void>?>(nil)

    struct MachineKey: Hashable, Sendable {
        var tenant: TenantID
        var machine: AssetPath
    }

    struct SiteKey: Hashable, Sendable {
        var tenant: TenantID
        var site: String
    }

    /// Late samples seen for one machine, not yet settled.
    struct LateMark: Sendable {
        var earliest: Int64
        var latest: Int64
        var lastSeen: Int64
    }

    struct Cache: Sendable {
        var settings: [MachineKey: MachineProductionSettings] = [:]
        var calendars: [SiteKey: ShiftCalendar?] = [:]
        var catalogues: [TenantID: ReasonCatalogue] = [:]
        /// The end of each machine's newest stored summary: samples before it are late.
        var summarizedUntil: [MachineKey: Int64] = [:]
        /// Bumped whenever a machine's summaries are invalidated: a build that began before does not store.
        var generation: [MachineKey: Int] = [:]
        /// Bumped when every machine's summaries may be invalid (another node changed a calendar or
        /// the reasons): counts in every machine's build generation.
        var epoch = 0
        var late: [MachineKey: LateMark] = [:]
        /// Each machine's first stored sample as its last load read it.
        var monitoredSince: [MachineKey: Int64] = [:]
        var statistics = Statistics()

        /// What a build of `key`'s summaries notes when it begins and checks before it stores.
        func buildGeneration(_ key: MachineKey) -> Int { generation[key, default: 0] + epoch }
    }

    /// What the engine has done since it started (for tests, benchmarks and `/metrics`).
    public struct Statistics: Sendable, Hashable {
        /// Pieces computed from raw samples.
        public var piecesComputed = 0
        /// Machine-days built from raw samples and stored.
        public var daysBuilt = 0
        /// Invalidations applied (late data, reasons, settings).
        public var invalidations = 0
    }

    public init(telemetry: any TelemetryStore, store: any AnalyticsStore, settleTime: Int64 = 120_000, logger: Logger,
                clock: @escaping @Sendable () -> Int64 = { Timestamp.now().millisecondsSinceEpoch }) {
        self.telemetry = telemetry
        self.store = store
        self.settleTime = settleTime
        self.logger = logger
        self.clock = clock
    }

    /// Loads where each machine's stored summaries end, so late samples are recognised after a restart.
    public func start() async throws {
        let until = try await store.summarizedUntil()
        cache.withLock { cache in
            for entry in until { cache.summarizedUntil[MachineKey(tenant: entry.tenant, machine: entry.machine)] = entry.end }
        }
        if let newest = until.map(\.end).max() { newestSummaryEnd.max(newest, ordering: .relaxed) }
    }

    /// Whether any summary is stored (before that, no sample can be late).
    public var hasSummaries: Bool { newestSummaryEnd.load(ordering: .relaxed) > .min }

    /// A cheap first check for the ingest path: only samples older than the newest summary may be late.
    /// (A counter reading at a summary's end counts in it: `<=`.)
    public func mayBeLate(_ time: Int64) -> Bool { time <= newestSummaryEnd.load(ordering: .relaxed) }

    public var statistics: Statistics { cache.withLock { $0.statistics } }

    // MARK: Reports

    /// The KPIs of `machines` over `range` (its future part left out), in total and per period.
    public func report(tenant: TenantID, machines: [AssetPath], range: Range<Int64>, grouping: ReportGrouping) async throws -> OEEReport {
        try await applyLateData()
        return try await summed(tenant: tenant, machines: machines, range: range, grouping: grouping)
    }

    /// A report once late data is applied (callers that report many times apply it once).
    func summed(tenant: TenantID, machines: [AssetPath], range: Range<Int64>, grouping: ReportGrouping) async throws -> OEEReport {
        let now = clock()
        let range = range.lowerBound..<max(range.lowerBound, min(range.upperBound, now))
        var sums = GroupSums(grouping: grouping)
        var selections: [SummarySelection] = []
        let catalogue = try await self.catalogue(tenant: tenant)
        for (site, siteMachines) in Dictionary(grouping: machines, by: \.site) {
            let calendar = try await self.calendar(tenant: tenant, site: site) ?? .roundTheClock
            let plan = try await SitePlan(calendar: calendar, range: range, grouping: grouping, tenant: tenant, machines: siteMachines,
                                          store: store)
            for day in plan.days { sums.bound(day: day, within: range) }
            for pieces in plan.cut.values { for piece in pieces { sums.bound(shiftOf: piece, within: range) } }
            for machine in siteMachines {
                let context = BuildContext(tenant: tenant, machine: machine, settings: try await settings(tenant: tenant, machine: machine),
                                           catalogue: catalogue, now: now)
                try await collect(context, plan: plan, range: range, grouping: grouping, sums: &sums, selections: &selections)
            }
        }
        let storedGrouping: SummaryGrouping = switch grouping {
        case .none: .total
        case .shift: .shift
        case .day, .week, .month: .day
        }
        let stored = try await store.sumSummaries(tenant: tenant, selections, grouping: storedGrouping)
        for (key, components) in stored { sums.add(components, storedKey: key) }
        return sums.report(machines: machines.sorted(), range: range)
    }

    /// The KPIs of the shift running now at each machine's site, from its start until now.
    public func currentShift(tenant: TenantID, machines: [AssetPath]) async throws -> (shifts: [String], report: OEEReport) {
        try await applyLateData()
        return try await shiftSoFar(tenant: tenant, machines: machines, at: clock())
    }

    /// The machines' shift at `now` from its start until `now`, per site calendar (sites with no shift
    /// then are left out), as ``currentShift(tenant:machines:)`` answered it at that time: what a
    /// backtest of a rule on shift KPIs replays.
    public func shiftSoFar(tenant: TenantID, machines: [AssetPath], at now: Int64) async throws -> (shifts: [String], report: OEEReport) {
        var labels: [String] = []
        var total = KPIComponents()
        var range = now..<now
        var periods: [PeriodResult] = []
        for (site, siteMachines) in Dictionary(grouping: machines, by: \.site).sorted(by: { $0.key < $1.key }) {
            let calendar = try await self.calendar(tenant: tenant, site: site) ?? .roundTheClock
            guard let shift = calendar.shifts(overlapping: now..<(now + 1)).first(where: { $0.interval.contains(now) }) else { continue }
            let label = "\(shift.date) \(shift.name)"
            labels.append(label)
            let report = try await summed(tenant: tenant, machines: siteMachines, range: shift.interval.lowerBound..<now, grouping: .none)
            total += report.total.components
            range = min(range.lowerBound, shift.interval.lowerBound)..<now
            periods.append(PeriodResult(label: "\(site) \(label)", range: shift.interval, components: report.total.components))
        }
        let result = OEEReport(machines: machines.sorted(), range: range, grouping: .shift,
                               total: PeriodResult(label: "current shift", range: range, components: total), periods: periods)
        return (labels, result)
    }

    /// What a report needs to know about one site's days, fetched once for all its machines: the
    /// days, the pieces of those answered piecewise (the range's partial ends; every day when
    /// grouping by shift), and which day and piece summaries are stored.
    struct SitePlan {
        let calendar: ShiftCalendar
        let days: [LocalDay]
        let cut: [String: [PeriodPiece]]
        let storedDays: [AssetPath: Set<Int64>]
        let storedPieces: [String: [AssetPath: Set<Int64>]]

        init(calendar: ShiftCalendar, range: Range<Int64>, grouping: ReportGrouping, tenant: TenantID, machines: [AssetPath],
             store: any AnalyticsStore) async throws {
            self.calendar = calendar
            days = calendar.days(overlapping: range)
            cut = Dictionary(uniqueKeysWithValues: days.filter { grouping == .shift || !Self.covers(range, $0) }
                .map { ($0.date, calendar.pieces(of: $0)) })
            storedDays = grouping == .shift ? [:]
                : try await store.summaryStarts(tenant: tenant, machines: machines, level: .day, within: range)
            var storedPieces: [String: [AssetPath: Set<Int64>]] = [:]
            for (date, pieces) in cut {
                guard let span = Self.span(of: pieces, in: range) else { continue }
                storedPieces[date] = try await store.summaryStarts(tenant: tenant, machines: machines, level: .piece, within: span)
            }
            self.storedPieces = storedPieces
        }

        static func covers(_ range: Range<Int64>, _ day: LocalDay) -> Bool {
            range.contains(day.range.lowerBound) && day.range.upperBound <= range.upperBound
        }

        /// The part of `range` the pieces overlapping it span.
        static func span(of pieces: [PeriodPiece], in range: Range<Int64>) -> Range<Int64>? {
            let inside = pieces.filter { $0.range.overlaps(range) }
            guard let first = inside.first, let last = inside.last else { return nil }
            return max(first.range.lowerBound, range.lowerBound)..<min(last.range.upperBound, range.upperBound)
        }
    }

    /// One machine's part of a report: day rows, piece rows or live computation for each day.
    private func collect(_ context: BuildContext, plan: SitePlan, range: Range<Int64>, grouping: ReportGrouping, sums: inout GroupSums,
                         selections: inout [SummarySelection]) async throws {
        let closedBefore = context.now - settleTime
        var storedDays = plan.storedDays[context.machine] ?? []
        var run: Range<Int64>?
        func closeRun() {
            if let current = run { selections.append(SummarySelection(machine: context.machine, level: .day, range: current)) }
            run = nil
        }
        for day in plan.days {
            let whole = grouping != .shift && SitePlan.covers(range, day) && day.range.upperBound <= closedBefore
            if whole, !storedDays.contains(day.range.lowerBound) {
                if try await buildDay(context, day: day, pieces: plan.calendar.pieces(of: day), sums: &sums) {
                    storedDays.insert(day.range.lowerBound)
                }
            }
            if whole, storedDays.contains(day.range.lowerBound) {
                run = (run?.lowerBound ?? day.range.lowerBound)..<day.range.upperBound
                continue
            }
            closeRun()
            if whole { continue }  // built but not stored: `buildDay` added it live
            let pieces = plan.cut[day.date] ?? plan.calendar.pieces(of: day)
            try await collectPieces(context, pieces: pieces, stored: plan.storedPieces[day.date].map { $0[context.machine] ?? [] }, range: range,
                                    sums: &sums, selections: &selections)
        }
        closeRun()
    }

    /// A day only partly in the range, or still open: stored pieces where closed and inside, live otherwise.
    /// `stored`: the starts of its stored pieces when already known.
    private func collectPieces(_ context: BuildContext, pieces: [PeriodPiece], stored: Set<Int64>?, range: Range<Int64>,
                               sums: inout GroupSums, selections: inout [SummarySelection]) async throws {
        guard let span = SitePlan.span(of: pieces, in: range) else { return }
        let inside = pieces.filter { $0.range.overlaps(range) }
        let closedBefore = context.now - settleTime
        var stored = stored
        if stored == nil {
            stored = try await store.summaryStarts(tenant: context.tenant, machines: [context.machine], level: .piece, within: span)[context.machine]
        }
        let storable = inside.filter { range.contains($0.range.lowerBound) && $0.range.upperBound <= range.upperBound
            && $0.range.upperBound <= closedBefore }
        let missing = storable.filter { stored?.contains($0.range.lowerBound) != true }
        let live = inside.filter { !storable.contains($0) }
        var unstored = live
        if !missing.isEmpty {
            if try await !buildPieces(context, missing) { unstored += missing }
        }
        if !unstored.isEmpty {
            let windowStart = max(unstored.map(\.range.lowerBound).min()!, range.lowerBound)
            let windowEnd = min(unstored.map(\.range.upperBound).max()!, range.upperBound)
            let record = try await load(context, windowStart..<windowEnd)
            for piece in unstored {
                let window = max(piece.range.lowerBound, range.lowerBound)..<min(piece.range.upperBound, range.upperBound)
                sums.add(record.components(window: window, shift: piece.shiftInterval, breaks: piece.breaks), piece: piece)
            }
            cache.withLock { $0.statistics.piecesComputed += unstored.count }
        }
        let storedRange = storable.first.map { $0.range.lowerBound..<storable.last!.range.upperBound }
        if let storedRange { selections.append(SummarySelection(machine: context.machine, level: .piece, range: storedRange)) }
    }

    // MARK: Building summaries

    /// What building one machine's summaries needs.
    struct BuildContext: Sendable {
        var tenant: TenantID
        var machine: AssetPath
        var settings: MachineProductionSettings
        var catalogue: ReasonCatalogue
        var now: Int64
        var key: MachineKey { MachineKey(tenant: tenant, machine: machine) }
    }

    func load(_ context: BuildContext, _ span: Range<Int64>) async throws -> MachineRecord {
        let record = try await MachineRecord.load(tenant: context.tenant, machine: context.machine, span: span, settings: context.settings,
                                                  catalogue: context.catalogue, telemetry: telemetry, store: store, now: context.now)
        cache.withLock { $0.monitoredSince[context.key] = record.monitoredSince }
        return record
    }

    /// Computes a closed day's pieces from raw samples and stores them with the day's total.
    /// Returns false when late data arrived meanwhile (nothing stored; the day was added live).
    private func buildDay(_ context: BuildContext, day: LocalDay, pieces: [PeriodPiece], sums: inout GroupSums) async throws -> Bool {
        let generation = cache.withLock { $0.buildGeneration(context.key) }
        let record = try await load(context, day.range)
        var summaries: [PeriodSummary] = []
        var total = KPIComponents()
        for piece in pieces {
            let components = record.components(window: piece.range, shift: piece.shiftInterval, breaks: piece.breaks)
            total += components
            summaries.append(PeriodSummary(machine: context.machine, level: .piece, start: piece.range.lowerBound,
                                           end: piece.range.upperBound, day: piece.day, shift: piece.shift, components: components))
        }
        summaries.append(PeriodSummary(machine: context.machine, level: .day, start: day.range.lowerBound, end: day.range.upperBound,
                                       day: day.date, shift: "", components: total))
        cache.withLock {
            $0.statistics.piecesComputed += pieces.count
            $0.statistics.daysBuilt += 1
        }
        if try await save(summaries, context, generation: generation) { return true }
        for (piece, summary) in zip(pieces, summaries) { sums.add(summary.components, piece: piece) }
        return false
    }

    /// Computes closed pieces from raw samples and stores them; false when late data arrived meanwhile.
    private func buildPieces(_ context: BuildContext, _ pieces: [PeriodPiece]) async throws -> Bool {
        let generation = cache.withLock { $0.buildGeneration(context.key) }
        let record = try await load(context, pieces.first!.range.lowerBound..<pieces.last!.range.upperBound)
        let summaries = pieces.map { piece in
            PeriodSummary(machine: context.machine, level: .piece, start: piece.range.lowerBound, end: piece.range.upperBound,
                          day: piece.day, shift: piece.shift,
                          components: record.components(window: piece.range, shift: piece.shiftInterval, breaks: piece.breaks))
        }
        cache.withLock { $0.statistics.piecesComputed += pieces.count }
        return try await save(summaries, context, generation: generation)
    }

    /// Stores a build's summaries unless an invalidation came since it began; other nodes hear of
    /// them after the write lock is released (an announcement is a round trip to the database).
    private func save(_ summaries: [PeriodSummary], _ context: BuildContext, generation: Int) async throws -> Bool {
        let end = summaries.map(\.end).max() ?? .min
        let stored = try await writes.withLock {
            guard cache.withLock({ $0.buildGeneration(context.key) }) == generation else { return false }
            try await store.saveSummaries(summaries, tenant: context.tenant)
            noteSummarized(context.key, until: end)
            return true
        }
        if stored { await announce(Change(.summarized, tenant: context.tenant, key: context.machine.description, end: end)) }
        return stored
    }

    /// Notes that `key`'s summaries are stored up to `end`: its samples before then are late.
    func noteSummarized(_ key: MachineKey, until end: Int64) {
        cache.withLock { $0.summarizedUntil[key] = max($0.summarizedUntil[key] ?? .min, end) }
        newestSummaryEnd.max(end, ordering: .relaxed)
    }

    /// Deletes the machine's summaries overlapping `range` (they are rebuilt when next asked for);
    /// builds that began before do not store. For changes made outside the engine that its
    /// records read, such as planned maintenance windows.
    public func invalidate(tenant: TenantID, machine: AssetPath, range: Range<Int64>) async throws {
        try await dropSummaries(tenant: tenant, machine: machine, range: range)
        await announce(Change(.invalidated, tenant: tenant, key: machine.description))
    }

    /// Deletes the machine's summaries overlapping `range` without telling other nodes (callers
    /// announce what changed).
    func dropSummaries(tenant: TenantID, machine: AssetPath, range: Range<Int64>) async throws {
        let key = MachineKey(tenant: tenant, machine: machine)
        try await writes.withLock {
            cache.withLock {
                $0.generation[key, default: 0] += 1
                $0.statistics.invalidations += 1
            }
            try await store.deleteSummaries(tenant: tenant, machine: machine, overlapping: range)
        }
    }

    // MARK: Late data

    /// Notes an accepted sample; one older than its machine's stored summaries marks them for
    /// recomputation. One dictionary look-up under a lock, never blocking: the ingest observer calls
    /// it for the samples ``mayBeLate(_:)`` lets through.
    public func noteSample(tenant: TenantID, machine: AssetPath, tag: String, time: Int64) {
        let key = MachineKey(tenant: tenant, machine: machine)
        cache.withLock { cache in
            guard let until = cache.summarizedUntil[key], time <= until else { return }
            // Any tag's sample from before the machine's monitoring began moves that boundary back.
            if let settings = cache.settings[key], !settings.kpiTags.contains(tag), time >= cache.monitoredSince[key] ?? .max { return }
            let now = clock()
            if var mark = cache.late[key] {
                mark.earliest = min(mark.earliest, time)
                mark.latest = max(mark.latest, time)
                mark.lastSeen = now
                cache.late[key] = mark
            } else {
                cache.late[key] = LateMark(earliest: time, latest: time, lastSeen: now)
            }
        }
    }

    /// How long a late mark is applied again after its last sample was seen (ms): samples are
    /// shown before their commit, so a build that read the raw data just before it is undone.
    static let lateMarkLifetime: Int64 = 5_000

    /// Invalidates the summaries late samples touch: from a microstop threshold before the
    /// earliest to a threshold after the next sample of the machine's KPI tags (where the late
    /// state ends and the next counter delta lands). Runs before every report and every 2 s.
    public func applyLateData() async throws {
        let now = clock()
        let marks = cache.withLock { $0.late }
        for (key, mark) in marks {
            let settings = try await self.settings(tenant: key.tenant, machine: key.machine)
            let range = try await affectedRange(key, mark, settings)
            try await invalidate(tenant: key.tenant, machine: key.machine, range: range)
            cache.withLock { cache in
                if let current = cache.late[key], current.lastSeen == mark.lastSeen, now - mark.lastSeen > Self.lateMarkLifetime {
                    cache.late[key] = nil
                }
            }
        }
    }

    private func affectedRange(_ key: MachineKey, _ mark: LateMark, _ settings: MachineProductionSettings) async throws -> Range<Int64> {
        let series = try await telemetry.series(tenant: key.tenant, machine: key.machine).filter { settings.kpiTags.contains($0.tag.name) }
        var end = mark.latest
        for entry in series {
            let next = try await telemetry.samples(series: entry.id, from: Timestamp(millisecondsSinceEpoch: mark.latest + 1),
                                                   to: Timestamp(millisecondsSinceEpoch: .max / 2), limit: 1).first
            if let next {
                end = max(end, next.time.millisecondsSinceEpoch)
            } else {
                end = settings.noDataTimeout > 0 ? max(end, mark.latest + settings.noDataTimeout) : .max / 2
            }
        }
        // At least a millisecond before: a counter reading at a summary's end counts in that summary.
        return (mark.earliest - max(settings.microstopThreshold, 1))..<(end + settings.microstopThreshold + 1)
    }
}

