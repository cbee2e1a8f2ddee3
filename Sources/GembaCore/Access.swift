/// A member's role inside one tenant. Roles are ordered: each holds every permission of the ones below it.
public enum Role: String, CaseIterable, Sendable, Hashable, Comparable, Codable {
    /// Reads data and dashboards.
    case viewer
    /// Acknowledges alerts, assigns downtime reasons, enters decisions.
    case `operator`
    /// Decides maintenance work: approves, rejects, defers, schedules and cancels work orders.
    case maintenanceLead = "maintenance_lead"
    /// Configures assets, rules and reasons; writes data and commands.
    case engineer
    /// Manages users, API keys, device credentials and tenant settings; reads the audit log.
    case admin
    /// Everything an admin may do, plus granting and removing the owner role.
    case owner

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    /// Parses a role name; throws ``ModelError`` listing the valid names.
    public init(parsing name: String) throws(ModelError) {
        guard let role = Role(rawValue: name) else {
            throw ModelError(.invalid, "unknown role \"\(name)\"; roles are \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = role
    }
}

/// One thing a caller may be allowed to do. Every route names exactly one (see the server's access table).
public enum Permission: String, CaseIterable, Sendable, Hashable {
    /// Read assets, tags, latest values, history, exports and the live stream.
    case readData
    /// Write samples (HTTP ingest, line protocol).
    case ingest
    /// Acknowledge alerts, assign downtime reasons, enter decisions.
    case operate
    /// Approve, reject, defer, schedule and cancel maintenance work orders.
    case decideMaintenance
    /// Configure assets, tags, rules, reason codes and calendars; send commands to devices.
    case configure
    /// Invite users, change roles, remove members.
    case manageUsers
    /// Create and revoke API keys.
    case manageAPIKeys
    /// Create and revoke device credentials.
    case manageDevices
    /// Change tenant settings such as limits.
    case manageTenant
    /// Read the audit log.
    case readAudit

    /// The least role holding this permission (devices hold only ``ingest``).
    public var minimumRole: Role {
        switch self {
        case .readData: .viewer
        case .operate: .operator
        case .decideMaintenance: .maintenanceLead
        case .ingest, .configure: .engineer
        case .manageUsers, .manageAPIKeys, .manageDevices, .manageTenant, .readAudit: .admin
        }
    }
}

extension Role {
    /// Whether this role holds `permission`.
    public func allows(_ permission: Permission) -> Bool { self >= permission.minimumRole }
}

/// Who is making a request, once authenticated: a person, a service's API key, or a device.
public struct Caller: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case user
        case apiKey = "api_key"
        case device
        /// The server itself or `gemba admin` on the data directory.
        case system
    }

    public var kind: Kind
    /// The user, key or device id (stable, never a secret).
    public var id: String
    /// What the audit log shows (email, key name, device username).
    public var name: String
    public var tenant: TenantID
    /// The role users and API keys act with; devices have none.
    public var role: Role?
    /// For devices: the part of the asset tree they may write to (nil: the whole tenant).
    public var subtree: AssetSubtree?
    /// For users: the session (refresh-token family) the access token belongs to.
    public var session: String?

    public init(kind: Kind, id: String, name: String, tenant: TenantID, role: Role?, subtree: AssetSubtree? = nil,
                session: String? = nil) {
        self.kind = kind
        self.id = id
        self.name = name
        self.tenant = tenant
        self.role = role
        self.subtree = subtree
        self.session = session
    }

    /// Whether this caller holds `permission` (devices: only ingest).
    public func may(_ permission: Permission) -> Bool {
        switch kind {
        case .device: permission == .ingest
        case .user, .apiKey, .system: role?.allows(permission) == true
        }
    }

    /// The caller `gemba admin` and start-up acts as.
    public static func system(_ tenant: TenantID) -> Caller {
        Caller(kind: .system, id: "system", name: "gemba", tenant: tenant, role: .owner)
    }

    /// Whether this caller may write samples of `machine`.
    public func mayWrite(_ machine: AssetPath) -> Bool {
        may(.ingest) && (subtree?.contains(machine) ?? true)
    }
}

/// A prefix of the asset tree: a site, an area or line inside it, or one machine (`plant1`, `plant1/press-shop`,
/// `plant1/press-shop/line3`, `plant1/press-shop/line3/press-7`). Matches by whole path segments.
public struct AssetSubtree: Sendable, Hashable, CustomStringConvertible {
    public let segments: [String]

    public init(_ text: String) throws(ModelError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...4).contains(parts.count) else {
            throw ModelError(.invalid, "asset subtree \"\(text)\" must have 1 to 4 segments (site[/area]/line/machine)")
        }
        for part in parts { try AssetPath.validate(segment: part, role: "asset subtree segment") }
        segments = parts
    }

    public var description: String { segments.joined(separator: "/") }

    /// Whether `machine` lies in this subtree; a prefix matches with or without the optional area.
    public func contains(_ machine: AssetPath) -> Bool {
        let full = [machine.site] + (machine.area.map { [$0] } ?? []) + [machine.line, machine.machine]
        return full.starts(with: segments)
    }

}
