/// The type of the values a tag carries; fixed when the tag is registered.
public enum ValueType: String, Sendable, Codable, CaseIterable {
    case double, int, bool, string
}

/// What a tag measures, which decides how it is aggregated and shown.
public enum TagKind: String, Sendable, Codable, CaseIterable {
    /// A level that goes up and down (temperature, speed).
    case gauge
    /// A cumulative count (parts made), possibly resetting or wrapping.
    case counter
    /// A machine state (running, idle, fault code).
    case state
    /// A discrete occurrence (cycle finished, alarm raised).
    case event
}

/// A signal on a machine: its name and what its values mean.
public struct Tag: Hashable, Sendable, Codable {
    public var name: String
    public var unit: String?
    public var valueType: ValueType
    public var kind: TagKind
    public var description: String?
    /// What people set about the tag (display name, range, decimals; unit and description above).
    public var displayName: String?
    public var minimum: Double?
    public var maximum: Double?
    public var decimals: Int?

    public init(name: String, unit: String? = nil, valueType: ValueType, kind: TagKind, description: String? = nil,
                displayName: String? = nil, minimum: Double? = nil, maximum: Double? = nil, decimals: Int? = nil) {
        self.name = name
        self.unit = unit
        self.valueType = valueType
        self.kind = kind
        self.description = description
        self.displayName = displayName
        self.minimum = minimum
        self.maximum = maximum
        self.decimals = decimals
    }

    /// The kind a tag gets when it is registered automatically from its first value.
    public static func inferredKind(name: String, valueType: ValueType) -> TagKind {
        if valueType == .string || name == "state" || name.hasSuffix("_state") { return .state }
        if name.hasSuffix("_count") || name.hasSuffix("_total") || name.hasSuffix("count") { return .counter }
        return .gauge
    }

    /// Checks a tag name: 1–64 of `A-Z a-z 0-9 - _ .`.
    public static func validate(name: some StringProtocol) throws(ModelError) {
        do {
            try AssetPath.validate(segment: name, role: "tag")
        } catch {
            throw ModelError(.invalidTag, error.message)
        }
    }
}

/// A machine, as registered in the catalogue.
public struct Machine: Hashable, Sendable, Codable {
    public var path: AssetPath
    public var registeredAt: Timestamp

    public init(path: AssetPath, registeredAt: Timestamp) {
        self.path = path
        self.registeredAt = registeredAt
    }
}
