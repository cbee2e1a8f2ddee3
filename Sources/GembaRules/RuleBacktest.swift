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

    /// The alarms the rule would have raised on each machine over `range`; `shifts` gives a site's
    /// shifts over the range (for rules during shifts only; a site without is round the clock).
    public func run(_ rule: AlarmRule, tenant: TenantID, range: Range<Int64>, metadata: [AssetPath: [String: String]] = [:],
                    stateCategory: @escaping @Sendable (String) -> String? = { _ in nil },
                    shifts: (String) async throws -> [Range<Int64>]? = { _ in nil }) async throws -> [(machine: AssetPath, alarms: [Backtest.Raised])] {
        let series = try await store.series(tenant: tenant, machine: nil)
        let byMachine = Dictionary(grouping: series, by: \.key.machine)
        let machines = byMachine.keys.sorted().filter { machine in
            rule.watches(machine) { tag in byMachine[machine]?.contains { $0.key.tag == tag } == true }
        }.prefix(Self.machineLimit)
        var results: [(machine: AssetPath, alarms: [Backtest.Raised])] = []
        let from = Timestamp(millisecondsSinceEpoch: range.lowerBound), to = Timestamp(millisecondsSinceEpoch: range.upperBound)
        for machine in machines {
            var samples: [(tag: String, sample: Sample)] = []
            for entry in byMachine[machine] ?? [] where rule.expression.tags.contains(entry.key.tag) {
                let history = try await store.samples(series: entry.id, from: from, to: to, limit: Self.sampleLimit)
                samples += history.map { (entry.key.tag, Sample(time: $0.time, value: $0.value.restored(as: entry.tag.valueType), quality: $0.quality)) }
            }
            samples.sort { $0.sample.time < $1.sample.time }
            let siteShifts = rule.duringShifts ? try await shifts(machine.site) ?? [Int64.min..<Int64.max] : nil
            let context = EvaluationContext(signals: MachineSignals(), metadata: metadata[machine] ?? [:], stateCategory: stateCategory,
                                            watchingSince: range.lowerBound, now: range.lowerBound, shifts: siteShifts)
            results.append((machine, Backtest.run(rule, samples: samples, range: range, context: context)))
        }
        return results
    }
}
