public import GembaCore

/// Scrap and rework operators record: stored, then the summaries holding the entry's time are
/// rebuilt, so quality, first-pass yield and the quality Pareto follow.
extension OEEEngine {
    /// Stores an entry (its machine must exist; the caller checks) and rebuilds what it touches.
    public func record(_ entry: QualityEntry, tenant: TenantID) async throws {
        try QualityEntry.validate(reason: entry.reason)
        guard entry.quantity > 0, entry.quantity <= 1_000_000 else { throw ModelError(.invalid, "quantity must be 1 to 1,000,000 units") }
        try await store.saveQualityEntry(entry, tenant: tenant)
        try await invalidate(tenant: tenant, machine: entry.machine, range: Self.range(holding: entry))
    }

    /// Removes an entry and rebuilds what it touched; nil when there is none with that id.
    public func deleteQualityEntry(id: String, tenant: TenantID) async throws -> QualityEntry? {
        guard let entry = try await store.qualityEntry(tenant: tenant, id: id), try await store.deleteQualityEntry(tenant: tenant, id: id)
        else { return nil }
        try await invalidate(tenant: tenant, machine: entry.machine, range: Self.range(holding: entry))
        return entry
    }

    /// The summaries an entry at `time` belongs to: those ending at it or running across it.
    private static func range(holding entry: QualityEntry) -> Range<Int64> { (entry.time - 1)..<(entry.time + 1) }
}
