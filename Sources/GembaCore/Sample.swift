/// How far a sample can be trusted, after OPC UA's good/uncertain/bad.
public enum Quality: UInt8, Sendable, Codable, CaseIterable {
    case good = 0
    case uncertain = 1
    case bad = 2

    /// The lowercase name used in the APIs.
    public var name: String {
        switch self {
        case .good: "good"
        case .uncertain: "uncertain"
        case .bad: "bad"
        }
    }

    public init?(name: String) {
        switch name {
        case "good": self = .good
        case "uncertain": self = .uncertain
        case "bad": self = .bad
        default: return nil
        }
    }
}

/// One value of a tag. Doubles are always finite.
public enum SampleValue: Hashable, Sendable {
    case double(Double)
    case int(Int64)
    case bool(Bool)
    case string(String)

    /// The value type this value has on its own.
    public var valueType: ValueType {
        switch self {
        case .double: .double
        case .int: .int
        case .bool: .bool
        case .string: .string
        }
    }

    /// The numeric reading used for rollups and charts: booleans are 0/1, strings have none.
    public var numeric: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        case .bool(let value): value ? 1 : 0
        case .string: nil
        }
    }

    /// Reads a stored value back as its series' type: storage keeps booleans as the integers 0 and 1.
    public func restored(as type: ValueType) -> SampleValue {
        if type == .bool, case .int(let number) = self { return .bool(number != 0) }
        if type == .double, case .int(let number) = self { return .double(Double(number)) }
        return self
    }

    /// Converts this value to `type` where nothing is lost (an integral double to int, an int to double).
    public func converted(to type: ValueType) -> SampleValue? {
        switch (self, type) {
        case (.double, .double), (.int, .int), (.bool, .bool), (.string, .string): return self
        case (.int(let value), .double): return .double(Double(value))
        case (.double(let value), .int):
            guard let exact = Int64(exactly: value) else { return nil }
            return .int(exact)
        default: return nil
        }
    }
}

/// One reading of a tag: when, what, and how trustworthy.
public struct Sample: Hashable, Sendable {
    public var time: Timestamp
    public var value: SampleValue
    public var quality: Quality

    public init(time: Timestamp, value: SampleValue, quality: Quality = .good) {
        self.time = time
        self.value = value
        self.quality = quality
    }
}

/// Names one time series: a tag on a machine of a tenant.
public struct SeriesKey: Hashable, Sendable, CustomStringConvertible {
    public var tenant: TenantID
    public var machine: AssetPath
    public var tag: String

    public init(tenant: TenantID, machine: AssetPath, tag: String) {
        self.tenant = tenant
        self.machine = machine
        self.tag = tag
    }

    public var description: String { "\(tenant)/\(machine)/\(tag)" }
}

/// A sample the ingest pipeline accepted (valid, of a registered series, its value in the series'
/// type), as live consumers (the live views, the alarm engine) are shown it.
public struct AcceptedSample: Sendable, Hashable {
    public var seriesID: Int64
    public var key: SeriesKey
    public var sample: Sample

    public init(seriesID: Int64, key: SeriesKey, sample: Sample) {
        self.seriesID = seriesID
        self.key = key
        self.sample = sample
    }
}

/// A sample on its way in: the series it belongs to, and optionally the unit the source gave.
public struct Point: Sendable, Hashable {
    public var series: SeriesKey
    public var sample: Sample
    public var unit: String?

    public init(series: SeriesKey, sample: Sample, unit: String? = nil) {
        self.series = series
        self.sample = sample
        self.unit = unit
    }
}

extension SampleValue {
    /// The value as a state word: strings as they are, numbers in decimal (`3`), Booleans as `true`/`false`.
    public var text: String {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        }
    }
}
