public import GembaCore

/// Stops as operators see them, and the reasons they give: reassigning a stop's reason or
/// splitting it into parts stores a ``StopAssignment`` per part and invalidates the summaries the
/// stop touches, so every KPI follows.
extension OEEEngine {
    /// How far before `from` a stop list looks for the start of a stop already running (ms).
    public static let stopLookBack: Int64 = 86_400_000

    /// The machine's stops overlapping `range` (a stop already running at `from` is listed from
    /// its start, up to `lookBack` before, a day by default), oldest first.
    public func stops(tenant: TenantID, machine: AssetPath, range: Range<Int64>, lookBack: Int64 = stopLookBack) async throws -> [Stop] {
        let now = clock()
        let upper = min(range.upperBound, now)
        guard upper > range.lowerBound else { return [] }
        let context = BuildContext(tenant: tenant, machine: machine, settings: try await settings(tenant: tenant, machine: machine),
                                   catalogue: try await catalogue(tenant: tenant), now: now)
        let lower = range.lowerBound - lookBack
        let record = try await load(context, lower..<upper)
        return record.intervals.filter { $0.category.isStop && $0.end > range.lowerBound && $0.start < upper && $0.start >= lower }
            .map { interval in
                let assignment = record.assignments.last { $0.start <= interval.start && ($0.end ?? .max) > interval.start }
                return Stop(machine: machine, start: interval.start, end: min(interval.end, now), open: interval.end >= now,
                            reason: context.catalogue[interval.reason ?? ""] ?? context.catalogue["idle/unspecified"]!,
                            faultCode: assignment?.faultCode ?? record.faultCode(at: interval.start),
                            assignedBy: assignment?.assignedBy, assignedAt: assignment?.assignedAt)
            }
    }

    /// Gives the stop that starts at `start` a reason (and optionally a fault code).
    @discardableResult
    public func assignReason(tenant: TenantID, machine: AssetPath, stopStart start: Int64, reason: String, faultCode: String?,
                             by person: String) async throws -> [Stop] {
        try await split(tenant: tenant, machine: machine, stopStart: start, parts: [(nil, reason)], faultCode: faultCode, by: person)
    }

    /// Splits the stop that starts at `start` into parts, each with its reason: every part but the
    /// last names its end; the last runs to the stop's end. One part is a plain reassignment.
    @discardableResult
    public func split(tenant: TenantID, machine: AssetPath, stopStart start: Int64, parts: [(end: Int64?, reason: String)],
                      faultCode: String?, by person: String) async throws -> [Stop] {
        let catalogue = try await catalogue(tenant: tenant)
        for part in parts {
            guard let reason = catalogue[part.reason] else { throw ModelError(.invalid, "unknown reason \"\(part.reason)\"") }
            guard reason.category.isStop, reason.category != .unknown else {
                throw ModelError(.invalid, "\"\(part.reason)\" is not a stop reason (a stop can be given idle, microstop, planned or unplanned stop reasons)")
            }
        }
        let now = clock()
        guard let stop = try await stops(tenant: tenant, machine: machine, range: start..<(now + 1)).first(where: { $0.start == start }) else {
            throw ModelError(.notFound, "\(machine) has no stop starting at \(start)")
        }
        guard !parts.isEmpty, parts.last!.end == nil || parts.last!.end == stop.end, parts.dropLast().allSatisfy({ $0.end != nil }) else {
            throw ModelError(.invalid, "every part but the last needs an end; the last runs to the stop's end")
        }
        let ends = parts.dropLast().map { $0.end! }
        guard zip([stop.start] + ends, ends).allSatisfy({ $0 < $1 }), ends.last.map({ $0 < stop.end }) ?? true else {
            throw ModelError(.invalid, "part ends must rise strictly inside the stop (\(stop.start) to \(stop.end))")
        }
        let starts = [stop.start] + ends
        let assignments = parts.indices.map { index in
            StopAssignment(machine: machine, start: starts[index], end: index < ends.count ? ends[index] : (stop.open ? nil : stop.end),
                           reason: parts[index].reason, faultCode: faultCode, assignedBy: person, assignedAt: now)
        }
        let settings = try await settings(tenant: tenant, machine: machine)
        let affected = (stop.start - settings.microstopThreshold)..<(stop.open ? Int64.max / 2 : stop.end + settings.microstopThreshold + 1)
        try await store.replaceStopAssignments(tenant: tenant, machine: machine, startingIn: stop.start..<(stop.end + 1), with: assignments)
        try await invalidate(tenant: tenant, machine: machine, range: affected)
        return try await stops(tenant: tenant, machine: machine, range: stop.start..<(stop.end + 1)).filter { $0.start >= stop.start }
    }
}

/// One machine on the floor: how its current shift goes and the stop it is in, if any.
public struct FloorStatus: Sendable {
    public var machine: AssetPath
    /// `2026-11-22 Early`; nil when no shift runs now.
    public var shift: String?
    public var kpis: KPIs
    public var components: KPIComponents
    /// The stop running now (reported or given), nil while producing.
    public var stop: Stop?
}

extension OEEEngine {
    /// Each machine's current shift KPIs and running stop, for the floor view. Machines are worked
    /// on eight at a time: most of each one's time is spent waiting for its database reads.
    public func floor(tenant: TenantID, machines: [AssetPath]) async throws -> [FloorStatus] {
        let now = clock()
        try await applyLateData()
        return try await withThrowingTaskGroup(of: FloorStatus.self) { group in
            var results: [FloorStatus] = []
            var pending = machines.sorted()[...]
            func start() {
                guard let machine = pending.popFirst() else { return }
                group.addTask { try await self.status(tenant: tenant, machine: machine, now: now) }
            }
            for _ in 0..<8 { start() }
            while let status = try await group.next() {
                results.append(status)
                start()
            }
            return results.sorted { $0.machine < $1.machine }
        }
    }

    private func status(tenant: TenantID, machine: AssetPath, now: Int64) async throws -> FloorStatus {
        let calendar = try await calendar(tenant: tenant, site: machine.site) ?? .roundTheClock
        let shift = calendar.shifts(overlapping: now..<(now + 1)).first { $0.interval.contains(now) }
        let report = try await summed(tenant: tenant, machines: [machine], range: (shift?.interval.lowerBound ?? now)..<now, grouping: .none)
        // The running stop from the last minutes' samples; one that began earlier is looked up over 12 hours.
        let recent: Int64 = 600_000
        var stop = try await stops(tenant: tenant, machine: machine, range: (now - recent)..<now, lookBack: 0).last { $0.open }
        if let running = stop, running.start <= now - recent - (try await settings(tenant: tenant, machine: machine)).microstopThreshold {
            stop = try await stops(tenant: tenant, machine: machine, range: running.start..<now, lookBack: 12 * 3_600_000).last { $0.open }
        }
        return FloorStatus(machine: machine, shift: shift.map { "\($0.date) \($0.name)" }, kpis: report.total.kpis,
                           components: report.total.components, stop: stop)
    }
}
