/// A level of the ISA-95 asset tree.
public enum AssetLevel: String, Sendable, Hashable, Codable, CaseIterable {
    case site, area, line, machine

    /// How many path segments an asset of this level may have (a line without an area has two).
    public var segmentCounts: ClosedRange<Int> {
        switch self {
        case .site: 1...1
        case .area: 2...2
        case .line: 2...3
        case .machine: 3...4
        }
    }
}

/// What people say about a site, area, line or machine besides its path: the name to show, a
/// description, metadata (vendor, model, serial, location, commissioning date…), who created and
/// last changed it, and for a machine whether it is retired (it keeps its history and takes no
/// new data).
public struct AssetDetails: Sendable, Hashable {
    public var level: AssetLevel
    /// `plant1`, `plant1/press-shop`, `plant1/press-shop/line3` or a machine path.
    public var path: String
    public var displayName: String?
    public var description: String?
    public var metadata: [String: String]
    public var createdBy: String?
    public var createdAt: Timestamp?
    public var updatedBy: String?
    public var updatedAt: Timestamp?
    /// When the machine was retired; nil while it is in service.
    public var retiredAt: Timestamp?

    public init(level: AssetLevel, path: String, displayName: String? = nil, description: String? = nil, metadata: [String: String] = [:],
                createdBy: String? = nil, createdAt: Timestamp? = nil, updatedBy: String? = nil, updatedAt: Timestamp? = nil,
                retiredAt: Timestamp? = nil) {
        self.level = level
        self.path = path
        self.displayName = displayName
        self.description = description
        self.metadata = metadata
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedBy = updatedBy
        self.updatedAt = updatedAt
        self.retiredAt = retiredAt
    }

    /// Most metadata entries an asset holds.
    public static let maxMetadata = 50

    /// Checks the path against the level and the texts against their limits; the message names the field.
    public func validate() throws(ModelError) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let counts = level.segmentCounts
        guard counts.contains(segments.count) else {
            let expected = counts.count == 1 ? "\(counts.lowerBound)" : "\(counts.lowerBound) or \(counts.upperBound)"
            throw ModelError(.invalidPath, "a \(level.rawValue) path has \(expected) segments, got \(segments.count) in '\(path)'")
        }
        for segment in segments { try AssetPath.validate(segment: segment, role: level.rawValue + " path segment") }
        if let displayName, !(1...200).contains(displayName.count) {
            throw ModelError(.invalid, "display_name must be 1 to 200 characters")
        }
        if let description, description.count > 2000 { throw ModelError(.invalid, "description must be at most 2000 characters") }
        guard metadata.count <= Self.maxMetadata else { throw ModelError(.invalid, "metadata holds at most \(Self.maxMetadata) entries") }
        for (key, value) in metadata {
            do { try AssetPath.validate(segment: key, role: "metadata key") } catch { throw ModelError(.invalid, error.message) }
            guard value.count <= 500 else { throw ModelError(.invalid, "metadata[\"\(key)\"] must be at most 500 characters") }
        }
    }
}

/// Engineering details of a tag that people set: the name to show, a description, the unit, the
/// range the value should lie in and the decimals to show.
public struct TagDetails: Sendable, Hashable {
    public var displayName: String?
    public var description: String?
    public var unit: String?
    public var minimum: Double?
    public var maximum: Double?
    public var decimals: Int?

    public init(displayName: String? = nil, description: String? = nil, unit: String? = nil, minimum: Double? = nil,
                maximum: Double? = nil, decimals: Int? = nil) {
        self.displayName = displayName
        self.description = description
        self.unit = unit
        self.minimum = minimum
        self.maximum = maximum
        self.decimals = decimals
    }

    public func validate() throws(ModelError) {
        if let displayName, !(1...200).contains(displayName.count) { throw ModelError(.invalid, "display_name must be 1 to 200 characters") }
        if let description, description.count > 2000 { throw ModelError(.invalid, "description must be at most 2000 characters") }
        if let unit, !(1...32).contains(unit.count) { throw ModelError(.invalid, "unit must be 1 to 32 characters") }
        for (name, value) in [("minimum", minimum), ("maximum", maximum)] {
            if let value, !value.isFinite { throw ModelError(.invalid, "\(name) must be a finite number") }
        }
        if let minimum, let maximum, minimum > maximum { throw ModelError(.invalid, "minimum must not be above maximum") }
        if let decimals, !(0...10).contains(decimals) { throw ModelError(.invalid, "decimals must be 0 to 10") }
    }
}
