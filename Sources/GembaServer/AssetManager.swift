internal import GembaAnalytics
internal import GembaCore
internal import GembaIngest
internal import GembaRules
internal import GembaStorage

/// Carries out changes to the asset model everywhere they matter: the store (one transaction
/// each), the ingest registry (so data for a retired, moved or deleted machine is treated at
/// once as the change says), the alarm engine and the OEE engine's caches, on this node and,
/// through ``ServerContext/announceAssetChange``, on the other nodes of the same database.
struct AssetManager {
    let store: any AssetStore
    let telemetry: any TelemetryStore
    let pipeline: IngestPipeline
    let oee: OEEEngine?
    let alarms: AlarmEngine?
    let announce: (@Sendable (AssetChange) async -> Void)?

    /// Nil when the server's store keeps no asset model.
    init?(_ server: ServerContext) {
        guard let store = server.store as? any AssetStore else { return nil }
        self.store = store
        telemetry = server.store
        pipeline = server.pipeline
        oee = server.oee
        alarms = server.alarms
        announce = server.announceAssetChange
    }

    /// Applies `change` to this node's memory and tells the other nodes.
    private func follow(_ change: AssetChange) async {
        change.apply(to: pipeline, alarms: alarms, oee: oee)
        await announce?(change)
    }

    /// Every site, area, line and machine the tenant's machines imply or someone described, in path order.
    func details(tenant: TenantID) async throws -> [AssetDetails] {
        var all: [String: AssetDetails] = [:]
        func key(_ level: AssetLevel, _ path: String) -> String { "\(path)\u{0}\(level.rawValue)" }
        for machine in try await telemetry.machines(tenant: tenant).map(\.path) {
            let site = machine.site
            all[key(.site, site)] = AssetDetails(level: .site, path: site)
            if let area = machine.area { all[key(.area, site + "/" + area)] = AssetDetails(level: .area, path: site + "/" + area) }
            all[key(.line, machine.linePath)] = AssetDetails(level: .line, path: machine.linePath)
            all[key(.machine, machine.description)] = AssetDetails(level: .machine, path: machine.description)
        }
        for stored in try await store.assetDetails(tenant: tenant) { all[key(stored.level, stored.path)] = stored }
        return all.sorted { $0.key < $1.key }.map(\.value)
    }

    /// Stores new details (keeping who created them); a machine not registered yet is registered
    /// now, within the tenant's machine limit.
    func save(_ details: AssetDetails, tenant: TenantID, by person: String) async throws -> AssetDetails {
        try details.validate()
        let now = Timestamp.now()
        var updated = details
        let existing = try await stored(details.level, details.path, tenant: tenant)
        updated.createdBy = existing?.createdBy ?? person
        updated.createdAt = existing?.createdAt ?? now
        updated.updatedBy = person
        updated.updatedAt = now
        updated.retiredAt = existing?.retiredAt
        if details.level == .machine {
            let machine = try AssetPath(details.path)
            try pipeline.updateRegistry { registry throws(ModelError) in try registry.register(machine, tenant: tenant) }
            try await store.registerMachine(machine, tenant: tenant, at: now)
        }
        try await store.saveAssetDetails(updated, tenant: tenant)
        return updated
    }

    /// Retires a machine (its data is refused from now on) or puts it back in service.
    func retire(_ machine: AssetPath, _ retired: Bool, tenant: TenantID, by person: String) async throws -> AssetDetails {
        try await requireMachine(machine, tenant: tenant)
        let now = Timestamp.now()
        var details = try await stored(.machine, machine.description, tenant: tenant)
            ?? AssetDetails(level: .machine, path: machine.description, createdBy: person, createdAt: now)
        details.retiredAt = retired ? (details.retiredAt ?? now) : nil
        details.updatedBy = person
        details.updatedAt = now
        try await store.saveAssetDetails(details, tenant: tenant)
        await follow(AssetChange(retired ? .retired : .reinstated, tenant: tenant, machine: machine))
        return details
    }

    /// Gives a machine a new path; history, settings, stops, orders and summaries follow it.
    func move(_ machine: AssetPath, to target: AssetPath, tenant: TenantID, by person: String) async throws -> AssetDetails {
        try await store.moveMachine(machine, to: target, tenant: tenant)
        await follow(AssetChange(.moved, tenant: tenant, machine: machine, target: target))
        let now = Timestamp.now()
        var details = try await stored(.machine, target.description, tenant: tenant)
            ?? AssetDetails(level: .machine, path: target.description, createdBy: person, createdAt: now)
        details.updatedBy = person
        details.updatedAt = now
        try await store.saveAssetDetails(details, tenant: tenant)
        return details
    }

    /// Deletes a machine and everything it holds; answers the samples deleted.
    func delete(_ machine: AssetPath, tenant: TenantID) async throws -> Int {
        try await requireMachine(machine, tenant: tenant)
        // The registry forgets it first, so nothing new is planned for its series while they go.
        try pipeline.updateRegistry { registry in registry.remove(machine, tenant: tenant) }
        let deleted = try await store.deleteMachine(machine, tenant: tenant)
        await follow(AssetChange(.deleted, tenant: tenant, machine: machine))
        return deleted
    }

    /// Changes a tag's details; a value type other than the stored one is refused with the reason.
    func updateTag(_ details: TagDetails, valueType: String?, tenant: TenantID, machine: AssetPath, tag: String) async throws -> Series {
        try details.validate()
        guard let current = try await telemetry.series(tenant: tenant, machine: machine).first(where: { $0.key.tag == tag }) else {
            throw ModelError(.notFound, "machine \(machine) has no tag \(tag)")
        }
        if let valueType, valueType != current.tag.valueType.rawValue {
            throw ModelError(.conflict, "tag \(tag) holds \(current.tag.valueType.rawValue) values: a tag's value type is fixed by its "
                + "first value and cannot become \(valueType) (send the new values under a new tag name)")
        }
        guard let updated = try await store.updateTag(details, tenant: tenant, machine: machine, tag: tag) else {
            throw ModelError(.notFound, "machine \(machine) has no tag \(tag)")
        }
        return updated
    }

    private func stored(_ level: AssetLevel, _ path: String, tenant: TenantID) async throws -> AssetDetails? {
        try await store.assetDetails(tenant: tenant).first { $0.level == level && $0.path == path }
    }

    private func requireMachine(_ machine: AssetPath, tenant: TenantID) async throws {
        guard try await telemetry.machines(tenant: tenant).contains(where: { $0.path == machine }) else {
            throw ModelError(.notFound, "no machine \(machine)")
        }
    }
}
