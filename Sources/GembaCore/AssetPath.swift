/// Where a machine sits in the ISA-95 asset tree: site → (area) → line → machine.
///
/// Written as a slash-separated path, `plant1/press-shop/line3/press-7`, or without the optional
/// area, `plant1/line3/press-7`. Each segment is 1–64 characters of letters, digits, `-`, `_` and `.`.
public struct AssetPath: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let site: String
    public let area: String?
    public let line: String
    public let machine: String

    /// Creates a machine path from validated segments; throws ``ModelError`` naming the bad segment.
    public init(site: String, area: String?, line: String, machine: String) throws(ModelError) {
        try Self.validate(segment: site, role: "site")
        if let area { try Self.validate(segment: area, role: "area") }
        try Self.validate(segment: line, role: "line")
        try Self.validate(segment: machine, role: "machine")
        self.site = site
        self.area = area
        self.line = line
        self.machine = machine
    }

    /// Parses `site/line/machine` or `site/area/line/machine`.
    public init(_ text: some StringProtocol) throws(ModelError) {
        let parts = String(text).split(separator: "/", omittingEmptySubsequences: false).map { String($0) }
        try self.init(segments: parts[...])
    }

    /// Builds a path from 3 (no area) or 4 segments.
    public init(segments: ArraySlice<String>) throws(ModelError) {
        let parts = Array(segments)
        switch parts.count {
        case 3: try self.init(site: parts[0], area: nil, line: parts[1], machine: parts[2])
        case 4: try self.init(site: parts[0], area: parts[1], line: parts[2], machine: parts[3])
        default:
            throw ModelError(.invalidPath, "a machine path has 3 or 4 segments (site/[area/]line/machine), got \(parts.count)")
        }
    }

    /// The segments from the site down to the machine.
    public var segments: [String] { [site] + (area.map { [$0] } ?? []) + [line, machine] }

    public var description: String { segments.joined(separator: "/") }

    /// The path of the line that holds this machine (`site/[area/]line`).
    public var linePath: String { segments.dropLast().joined(separator: "/") }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Checks one path segment or tag name: 1–64 of `A-Z a-z 0-9 - _ .`.
    public static func validate(segment: some StringProtocol, role: String) throws(ModelError) {
        let bytes = segment.utf8
        guard (1...64).contains(bytes.count) else {
            throw ModelError(.invalidPath, "\(role) name must be 1 to 64 characters, got \(bytes.count)")
        }
        guard bytes.allSatisfy(isAllowed) else {
            throw ModelError(.invalidPath, "\(role) name '\(segment)' may hold only letters, digits, '-', '_' and '.'")
        }
    }

    /// Whether a byte may appear in a path segment or tag name.
    @inline(__always)
    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}
