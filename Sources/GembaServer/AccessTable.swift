public import GembaCore
public import Hummingbird

/// Who may call a route.
public enum RouteAccess: Sendable, Hashable {
    /// No credentials: health, readiness, sign-in, refresh, invitation acceptance (and `/metrics` unless configured otherwise).
    case open
    /// Any signed-in user, whatever their role (their own profile, password, sign-out).
    case signedIn
    /// A caller holding the permission.
    case requires(Permission)
}

/// The one table that decides every route: method and path pattern → access. A route missing
/// from it answers 500 (and fails the route × role test), so no route is ever open by accident.
public enum AccessTable {
    public static let routes: [String: RouteAccess] = [
        "GET /health": .open,
        "GET /ready": .open,
        "GET /metrics": .open,
        "GET /openapi.json": .requires(.readData),
        "POST /api/v1/auth/login": .open,
        "POST /api/v1/auth/refresh": .open,
        "POST /api/v1/invitations/accept": .open,
        "GET /api/v1/auth/me": .signedIn,
        "POST /api/v1/auth/logout": .signedIn,
        "POST /api/v1/auth/logout-everywhere": .signedIn,
        "POST /api/v1/auth/password": .signedIn,
        "POST /api/v1/ingest": .requires(.ingest),
        "POST /api/v2/write": .requires(.ingest),
        "POST /write": .requires(.ingest),
        "GET /api/v1/assets": .requires(.readData),
        "GET /api/v1/machines": .requires(.readData),
        "GET /api/v1/tags": .requires(.readData),
        "GET /api/v1/latest": .requires(.readData),
        "GET /api/v1/history": .requires(.readData),
        "GET /api/v1/export.csv": .requires(.readData),
        "GET /api/v1/live": .requires(.readData),
        "POST /api/v1/commands": .requires(.operate),
        "GET /api/v1/oee": .requires(.readData),
        "GET /api/v1/oee/current": .requires(.readData),
        "GET /api/v1/floor": .requires(.readData),
        "GET /": .open,
        "GET /assets/{file}": .open,
        "GET /api/v1/live/oee": .requires(.readData),
        "GET /api/v1/stops": .requires(.readData),
        "POST /api/v1/stops/reason": .requires(.operate),
        "POST /api/v1/stops/split": .requires(.operate),
        "GET /api/v1/reasons": .requires(.readData),
        "PUT /api/v1/reasons": .requires(.configure),
        "GET /api/v1/calendars/{site}": .requires(.readData),
        "PUT /api/v1/calendars/{site}": .requires(.configure),
        "GET /api/v1/production-settings": .requires(.readData),
        "PUT /api/v1/production-settings": .requires(.configure),
        "GET /api/v1/orders": .requires(.readData),
        "PUT /api/v1/orders/{id}": .requires(.operate),
        "GET /api/v1/tenant": .requires(.readData),
        "PUT /api/v1/tenant/limits": .requires(.manageTenant),
        "GET /api/v1/members": .requires(.manageUsers),
        "PUT /api/v1/members/{user}": .requires(.manageUsers),
        "DELETE /api/v1/members/{user}": .requires(.manageUsers),
        "GET /api/v1/invitations": .requires(.manageUsers),
        "POST /api/v1/invitations": .requires(.manageUsers),
        "DELETE /api/v1/invitations/{id}": .requires(.manageUsers),
        "GET /api/v1/api-keys": .requires(.manageAPIKeys),
        "POST /api/v1/api-keys": .requires(.manageAPIKeys),
        "DELETE /api/v1/api-keys/{id}": .requires(.manageAPIKeys),
        "GET /api/v1/devices": .requires(.manageDevices),
        "POST /api/v1/devices": .requires(.manageDevices),
        "DELETE /api/v1/devices/{id}": .requires(.manageDevices),
        "GET /api/v1/audit": .requires(.readAudit),
        "GET /api/v1/audit.csv": .requires(.readAudit),
    ]

    /// The access of a route as Hummingbird names it (`GET /api/v1/members/{user}`).
    public static func access(method: HTTPRequest.Method, path: String, publicMetrics: Bool) -> RouteAccess? {
        if path == "/metrics", !publicMetrics { return .requires(.readAudit) }
        return routes["\(method.rawValue) \(path)"]
    }
}
