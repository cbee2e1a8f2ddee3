public import GembaCore
public import GembaStorage

/// A backtest over stored history: every machine in the rule's scope that has its tags, replayed
/// from the store (``Backtest``), at most ``machineLimit`` machines.
public struct RuleBacktest: Sendable {
    /// Machines one backtest replays at most.
    public static let machineLimit = 50
    /// Samples read per tag at most (30 days of a 1 Hz tag fit).
    public static let sampleLimit = 3_000_000

    let store: any TelemetryStore

    public init(store: any TelemetryStore) { self.store = store }

    /// The shift KPIs of a rule's assets, which the live engine refreshes every 30 s, are replayed at
    /// that step while a backtest computes at most ``kpiPointBudget`` figures in all (each reads the
    /// store), and at no fewer than ``kpiPointMinimum`` points per asset: over a long range or many
    /// assets the step grows.
    public static let kpiStep: Int64 = 30_000
    public static let kpiPointBudget: Int64 = 2_000
    public static let kpiPointMinimum: Int64 = 48

    /// Gives the shift KPIs (fractions) of a group of machines at a time: the shift running then, from its start.
    public typealias ShiftKPIs = @Sendable (_ machines: [AssetPath], _ time: Int64) async throws -> [Operand.KPI: Double]

    /// The alarms the rule would have raised on each machine (for a rule on line or site KPIs, each
    /// line or site, under the path the live engine keeps its alarms) over `range`; `shifts` gives a
    /// site's shifts over the range (for rules during shifts only; a site without is round the
    /// clock); `kpis` gives shift KPIs, for rules that read them (without it they read none).
    public func run(_ rule: AlarmRule, tenant: TenantID, range: Range<Int64>, metadata: [AssetPath: [String: String]] = [:],
                    stateCategory: @escaping @Sendable (String) -> String? = { _ in nil }, kpis: ShiftKPIs? = nil,
                    shifts: (String) async throws -> [Range<Int64>]? = { _ in nil }) async throws -> [(machine: AssetPath, alarms: [Backtest.Raised])] {
        let series = try await store.series(tenant: tenant, machine: nil)
        let byMachine = Dictionary(grouping: series, by: \.key.machine)
        var results: [(machine: AssetPath, alarms: [Backtest.Raised])] = []
        let from = Timestamp(millisecondsSinceEpoch: range.lowerBound), to = Timestamp(millisecondsSinceEpoch: range.upperBound)
        let tags = byMachine.mapValues { Set($0.map(\.key.tag)) }
        let assets = Self.assets(of: rule, machines: tags)
        let kpiTimes = Self.kpiTimes(over: range, assets: assets.count)
        for (asset, machines) in assets {
            var samples: [(tag: String, sample: Sample)] = []
            for entry in byMachine[asset] ?? [] where rule.expression.tags.contains(entry.key.tag) {
                let history = try await store.samples(series: entry.id, from: from, to: to, limit: Self.sampleLimit)
                samples += history.map { (entry.key.tag, Sample(time: $0.time, value: $0.value.restored(as: entry.tag.valueType), quality: $0.quality)) }
            }
            samples.sort { $0.sample.time < $1.sample.time }
            var points: [Backtest.KPIPoint] = []
            if rule.expression.readsKPIs, let kpis {
                for time in kpiTimes { points.append(Backtest.KPIPoint(time: time, values: try await kpis(machines, time))) }
            }
            let siteShifts = rule.duringShifts ? try await shifts(asset.site) ?? [Int64.min..<Int64.max] : nil
            let context = EvaluationContext(signals: MachineSignals(), metadata: metadata[asset] ?? [:], stateCategory: stateCategory,
                                            watchingSince: range.lowerBound, now: range.lowerBound, shifts: siteShifts)
            results.append((asset, Backtest.run(rule, samples: samples, kpis: points, range: range, context: context)))
        }
        return results
    }

    /// The assets a rule watches among `machines` (each with its tags), each with the machines whose
    /// KPIs are its own (a machine: itself; a line or site: its machines), in path order, at most
    /// ``machineLimit``.
    static func assets(of rule: AlarmRule, machines: [AssetPath: Set<String>]) -> [(asset: AssetPath, machines: [AssetPath])] {
        let level = rule.expression.level
        var groups: [AssetPath: [AssetPath]] = [:]
        for machine in machines.keys {
            guard let asset = level.asset(of: machine) else { continue }
            groups[asset, default: []].append(machine)
        }
        // A machine's rule watches it when it has the tags the rule's target asks for; a line's or site's reads no tags.
        let watched = groups.keys.sorted().filter { asset in rule.watches(asset) { machines[asset]?.contains($0) == true } }
        return watched.prefix(Self.machineLimit).map { ($0, groups[$0]!.sorted()) }
    }

    /// When the KPIs of each of `assets` are replayed over `range`: every ``kpiStep`` from its start,
    /// or a longer step that keeps within the budget.
    static func kpiTimes(over range: Range<Int64>, assets: Int) -> StrideTo<Int64> {
        let points = max(kpiPointMinimum, kpiPointBudget / Int64(max(assets, 1)))
        let step = max(kpiStep, (range.upperBound - range.lowerBound) / points)
        return stride(from: range.lowerBound + step, to: range.upperBound, by: Int(step))
    }
}
