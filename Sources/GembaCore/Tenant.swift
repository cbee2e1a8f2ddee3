/// Identifies a tenant: one company or plant whose data is kept apart from every other's.
///
/// Single-tenant installations use ``TenantID/default``.
public struct TenantID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The tenant's stable, URL-safe identifier.
    public let rawValue: String

    /// The tenant used when a deployment does not distinguish tenants.
    public static let `default` = TenantID(validated: "default")

    /// Creates an identifier, returning `nil` unless `rawValue` is 1–64 characters of `a-z`, `0-9`, `-` and `_`.
    public init?(_ rawValue: String) {
        guard (1...64).contains(rawValue.utf8.count),
              rawValue.utf8.allSatisfy({ Self.allowed.contains($0) })
        else { return nil }
        self.rawValue = rawValue
    }

    private init(validated: String) { self.rawValue = validated }

    public var description: String { rawValue }

    private static let allowed: Set<UInt8> = Set(Array("abcdefghijklmnopqrstuvwxyz0123456789-_".utf8))
}
