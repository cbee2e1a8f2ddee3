public import GembaCore
public import GembaIngest
public import GembaAnalytics
public import GembaRules
public import GembaStorage

/// A change to a machine that each node keeps in memory as well as in the database: its ingest
/// registry (so data for a retired, moved or deleted machine is treated as the change says), its
/// alarm engine and its OEE engine's caches. The node making the change applies it and announces
/// it; with several nodes on one database, the others apply it when they hear of it.
public struct AssetChange: NodeChange, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The machine's data is refused from now on.
        case retired
        /// The machine is back in service.
        case reinstated
        /// The machine moved to `target`.
        case moved
        /// The machine and everything it held are gone.
        case deleted
    }

    public var kind: Kind
    public var tenant: String
    public var machine: String
    public var target: String?

    public init(_ kind: Kind, tenant: TenantID, machine: AssetPath, target: AssetPath? = nil) {
        self.kind = kind
        self.tenant = tenant.rawValue
        self.machine = machine.description
        self.target = target?.description
    }

    /// Applies the change to this node's registry, alarm engine and OEE engine. A change naming no
    /// valid tenant or machine changes nothing; applying one twice changes nothing more.
    public func apply(to pipeline: IngestPipeline, alarms: AlarmEngine?, oee: OEEEngine?) {
        guard let tenant = TenantID(tenant), let machine = try? AssetPath(machine) else { return }
        switch kind {
        case .retired, .reinstated:
            try? pipeline.updateRegistry { registry in registry.setRetired(machine, tenant: tenant, kind == .retired) }
        case .moved:
            guard let target = target.flatMap({ try? AssetPath($0) }) else { return }
            try? pipeline.updateRegistry { registry in registry.move(machine, to: target, tenant: tenant) }
            alarms?.machineMoved(tenant: tenant, from: machine, to: target)
            oee?.machineMoved(tenant: tenant, from: machine, to: target)
        case .deleted:
            try? pipeline.updateRegistry { registry in registry.remove(machine, tenant: tenant) }
            alarms?.machineDeleted(tenant: tenant, machine: machine)
            oee?.machineDeleted(tenant: tenant, machine: machine)
        }
    }
}
