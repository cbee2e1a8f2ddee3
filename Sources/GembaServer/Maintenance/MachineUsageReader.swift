public import GembaAnalytics
public import GembaCore
public import GembaMaintenance
public import GembaStorage

/// What preventive plans read of a machine: run time from the OEE engine (zero without one) and a
/// tag's newest reading from the store.
public struct MachineUsageReader: MachineUsage {
    let store: any TelemetryStore
    let oee: OEEEngine?

    public init(store: any TelemetryStore, oee: OEEEngine?) {
        self.store = store
        self.oee = oee
    }

    public func runTime(tenant: TenantID, machine: AssetPath, range: Range<Int64>) async throws -> Int64 {
        guard let oee else { return 0 }
        return try await oee.report(tenant: tenant, machines: [machine], range: range, grouping: .none).total.components.runTime
    }

    public func latest(tenant: TenantID, machine: AssetPath, tag: String) async throws -> Double? {
        guard let series = try await store.series(tenant: tenant, machine: machine).first(where: { $0.tag.name == tag }) else { return nil }
        return try await store.latest(series: [series.id])[series.id]?.value.numeric
    }
}
