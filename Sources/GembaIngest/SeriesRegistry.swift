public import GembaCore
public import GembaStorage

/// The in-memory catalogue the pipeline checks every point against: which series exist, their
/// types, and how many machines and tags each tenant has, so that auto-registration stays within
/// the tenant's limits. Owned by the pipeline's writer loop; not shared.
public struct SeriesRegistry: Sendable {
    struct Known: Sendable, Hashable {
        var id: Int64
        var type: ValueType
    }

    private var series: [SeriesKey: Known] = [:]
    private var keysByID: [Int64: SeriesKey] = [:]
    private var machines: [TenantID: Set<AssetPath>] = [:]
    private var tagCounts: [TenantID: [AssetPath: Int]] = [:]
    /// Machines that keep their history and take no new data; a tenant with none has no entry,
    /// so `retired.isEmpty` is the one check a plan pays while nothing is retired.
    private var retired: [TenantID: Set<AssetPath>] = [:]
    private(set) var limits: [TenantID: TenantLimits] = [:]
    /// The registered series of machines in service, kept up to date change by change: publishing
    /// it after a commit copies a reference, not ten thousand series.
    public private(set) var directory = SeriesDirectory()

    public init() {}

    /// Loads what storage already holds.
    public mutating func load(series stored: [Series], machines registered: [(tenant: TenantID, machine: Machine)]) {
        for entry in registered { machines[entry.tenant, default: []].insert(entry.machine.path) }
        for entry in stored { remember(entry) }
    }

    public mutating func setLimits(_ value: TenantLimits, for tenant: TenantID) { limits[tenant] = value }

    /// The key of a registered series.
    public func key(of id: Int64) -> SeriesKey? { keysByID[id] }

    private mutating func remember(_ entry: Series) {
        guard series[entry.key] == nil else { return }
        let known = Known(id: entry.id, type: entry.tag.valueType)
        series[entry.key] = known
        if retired[entry.key.tenant]?.contains(entry.key.machine) != true { directory.insert(entry.key, known) }
        keysByID[entry.id] = entry.key
        machines[entry.key.tenant, default: []].insert(entry.key.machine)
        tagCounts[entry.key.tenant, default: [:]][entry.key.machine, default: 0] += 1
    }

    /// A write batch for `points`, and the index and reason of each point that cannot be stored.
    /// Unknown machines and tags are added to the batch for registration if the tenant's limits allow.
    public func plan(_ points: [Point]) -> (batch: WriteBatch, rejected: [(index: Int, error: ModelError)]) {
        plan(points, known: nil)
    }

    /// ``plan(_:)`` with, per point, the series it was already resolved to against this registry's
    /// current directory (nil: not resolved), so those points are not looked up again.
    func plan(_ points: [Point], known resolved: [Known?]?) -> (batch: WriteBatch, rejected: [(index: Int, error: ModelError)]) {
        var batch = WriteBatch()
        batch.samples.reserveCapacity(points.count)
        var rejected: [(Int, ModelError)] = []
        var newSeries: [SeriesKey: (index: Int, type: ValueType)] = [:]
        var newMachines: [TenantID: Set<AssetPath>] = [:]
        var newTags: [TenantID: [AssetPath: Int]] = [:]
        for (index, point) in points.enumerated() {
            if let known = resolved?[index], let value = point.sample.value.converted(to: known.type) {
                var sample = point.sample
                sample.value = value
                batch.samples.append(SeriesSample(series: known.id, sample: sample))
                continue
            }
            let key = point.series
            if !retired.isEmpty, retired[key.tenant]?.contains(key.machine) == true {
                rejected.append((index, ModelError(.retired, "machine \(key.machine) is retired: it keeps its history and takes no new data")))
                continue
            }
            if let known = series[key] {
                guard let value = point.sample.value.converted(to: known.type) else {
                    rejected.append((index, Self.mismatch(key, point.sample.value, known.type)))
                    continue
                }
                var sample = point.sample
                sample.value = value
                batch.samples.append(SeriesSample(series: known.id, sample: sample))
                continue
            }
            if let pending = newSeries[key] {
                guard let value = point.sample.value.converted(to: pending.type) else {
                    rejected.append((index, Self.mismatch(key, point.sample.value, pending.type)))
                    continue
                }
                var sample = point.sample
                sample.value = value
                batch.samples.append(.forNewSeries(pending.index, sample))
                continue
            }
            let tenantLimits = limits[key.tenant] ?? TenantLimits()
            let machineKnown = machines[key.tenant]?.contains(key.machine) == true
            if !machineKnown, newMachines[key.tenant]?.contains(key.machine) != true {
                let count = (machines[key.tenant]?.count ?? 0) + (newMachines[key.tenant]?.count ?? 0)
                guard count < tenantLimits.maxMachines else {
                    rejected.append((index, ModelError(.limitExceeded,
                        "machine \(key.machine) not registered: tenant \(key.tenant) has reached its limit of \(tenantLimits.maxMachines) machines")))
                    continue
                }
                newMachines[key.tenant, default: []].insert(key.machine)
                batch.newMachines.append((key.tenant, key.machine))
            }
            let tags = (tagCounts[key.tenant]?[key.machine] ?? 0) + (newTags[key.tenant]?[key.machine] ?? 0)
            guard tags < tenantLimits.maxTagsPerMachine else {
                rejected.append((index, ModelError(.limitExceeded,
                    "tag \(key.tag) not registered: machine \(key.machine) has reached its limit of \(tenantLimits.maxTagsPerMachine) tags")))
                continue
            }
            newTags[key.tenant, default: [:]][key.machine, default: 0] += 1
            let type = point.sample.value.valueType
            let tag = Tag(name: key.tag, unit: point.unit, valueType: type, kind: Tag.inferredKind(name: key.tag, valueType: type))
            newSeries[key] = (batch.newSeries.count, type)
            batch.samples.append(.forNewSeries(batch.newSeries.count, point.sample))
            batch.newSeries.append(NewSeries(key: key, tag: tag))
        }
        return (batch, rejected)
    }

    /// Records what a successful commit registered.
    public mutating func committed(_ batch: WriteBatch, _ result: WriteResult) {
        for entry in batch.newMachines { machines[entry.tenant, default: []].insert(entry.machine) }
        for entry in result.series { remember(entry) }
    }

    // MARK: Managed assets

    /// Marks a machine retired (its points are refused) or back in service.
    public mutating func setRetired(_ machine: AssetPath, tenant: TenantID, _ isRetired: Bool) {
        if isRetired {
            retired[tenant, default: []].insert(machine)
        } else {
            retired[tenant]?.remove(machine)
            if retired[tenant]?.isEmpty == true { retired[tenant] = nil }
        }
        refreshDirectory(machine, tenant: tenant)
    }

    /// Sets a machine's entry in the directory from the registry (a scan of every series: for
    /// managed-asset changes, which are rare).
    private mutating func refreshDirectory(_ machine: AssetPath, tenant: TenantID) {
        var tags: [String: Known] = [:]
        if retired[tenant]?.contains(machine) != true {
            for (key, known) in series where key.tenant == tenant && key.machine == machine { tags[key.tag] = known }
        }
        directory.setTags(tags, of: machine, tenant: tenant)
    }

    /// Registers a machine before its data, within the tenant's machine limit; known machines pass.
    public mutating func register(_ machine: AssetPath, tenant: TenantID) throws(ModelError) {
        guard machines[tenant]?.contains(machine) != true else { return }
        let limit = (limits[tenant] ?? TenantLimits()).maxMachines
        guard (machines[tenant]?.count ?? 0) < limit else {
            throw ModelError(.limitExceeded, "tenant \(tenant) has reached its limit of \(limit) machines")
        }
        machines[tenant, default: []].insert(machine)
    }

    /// Follows a machine to its new path: its series keep their ids (and so their history).
    public mutating func move(_ machine: AssetPath, to target: AssetPath, tenant: TenantID) {
        for (key, known) in series where key.tenant == tenant && key.machine == machine {
            let moved = SeriesKey(tenant: tenant, machine: target, tag: key.tag)
            series[key] = nil
            series[moved] = known
            keysByID[known.id] = moved
        }
        if machines[tenant]?.remove(machine) != nil { machines[tenant, default: []].insert(target) }
        if let count = tagCounts[tenant]?.removeValue(forKey: machine) { tagCounts[tenant]?[target] = count }
        if retired[tenant]?.contains(machine) == true {
            setRetired(machine, tenant: tenant, false)
            setRetired(target, tenant: tenant, true)
        }
        refreshDirectory(machine, tenant: tenant)
        refreshDirectory(target, tenant: tenant)
    }

    /// Forgets a deleted machine and its series.
    public mutating func remove(_ machine: AssetPath, tenant: TenantID) {
        for (key, known) in series where key.tenant == tenant && key.machine == machine {
            series[key] = nil
            keysByID[known.id] = nil
        }
        machines[tenant]?.remove(machine)
        tagCounts[tenant]?[machine] = nil
        setRetired(machine, tenant: tenant, false)  // refreshes the directory: no series left
    }

    private static func mismatch(_ key: SeriesKey, _ value: SampleValue, _ type: ValueType) -> ModelError {
        ModelError(.typeMismatch, "tag \(key.machine)/\(key.tag) holds \(type) values, got \(value.valueType)")
    }
}

/// A snapshot of the registered series: resolves points of known series without the registry's lock,
/// so live consumers can see them the moment they arrive.
public struct SeriesDirectory: Sendable {
    private struct MachineKey: Hashable, Sendable {
        var tenant: TenantID
        var machine: AssetPath
    }

    /// By machine, then tag: a message's points share their machine, which is then looked up once.
    private var machines: [MachineKey: [String: SeriesRegistry.Known]] = [:]

    public init() {}

    mutating func insert(_ key: SeriesKey, _ known: SeriesRegistry.Known) {
        machines[MachineKey(tenant: key.tenant, machine: key.machine), default: [:]][key.tag] = known
    }

    /// Replaces a machine's series (none: the machine leaves the directory).
    mutating func setTags(_ tags: [String: SeriesRegistry.Known], of machine: AssetPath, tenant: TenantID) {
        machines[MachineKey(tenant: tenant, machine: machine)] = tags.isEmpty ? nil : tags
    }

    /// The points as the pipeline will store them (into `resolved`), for those whose series is
    /// registered and whose value fits the series' type; per point, its series, or nil when it needs
    /// the registry (a new series, or a point it will reject). The batch's plan reuses the series.
    func series(of points: [Point], into resolved: inout [AcceptedSample]) -> [SeriesRegistry.Known?] {
        points.withUnsafeBufferPointer { series(of: $0, into: &resolved) }
    }

    /// Through a buffer, reading a point's field projects it instead of copying the whole point.
    private func series(of points: UnsafeBufferPointer<Point>, into resolved: inout [AcceptedSample]) -> [SeriesRegistry.Known?] {
        var announced = [SeriesRegistry.Known?](repeating: nil, count: points.count)
        var index = points.startIndex
        while index < points.endIndex {
            let machine = MachineKey(tenant: points[index].series.tenant, machine: points[index].series.machine)
            let tags = machines[machine] ?? [:]
            repeat {
                if let known = tags[points[index].series.tag], let value = points[index].sample.value.converted(to: known.type) {
                    var sample = points[index].sample
                    sample.value = value
                    resolved.append(AcceptedSample(seriesID: known.id, key: points[index].series, sample: sample))
                    announced[index] = known
                }
                index += 1
            } while index < points.endIndex && points[index].series.machine == machine.machine && points[index].series.tenant == machine.tenant
        }
        return announced
    }
}
