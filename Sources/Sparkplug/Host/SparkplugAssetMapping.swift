public import GembaCore

/// Where Sparkplug data lands in Gemba's asset tree, and what its tags are called.
///
/// A path template of 3 or 4 segments names the machine of a device message, with `{group}`,
/// `{node}` and `{device}` standing for the ids; the default `{group}/{node}/{device}` puts a group
/// at a site, an edge node at a line and a device at a machine. Node metrics (NBIRTH/NDATA) belong
/// to the machine whose `{device}` is ``nodeMachine`` (default `_node`).
///
/// Ids and metric names may hold characters asset paths and tag names do not: a metric folder `/`
/// becomes `.`, and any other character outside `A-Z a-z 0-9 - _ .` becomes `_`.
public struct SparkplugAssetMapping: Sendable, Hashable {
    public let template: [String]
    public let nodeMachine: String

    public static let `default` = try! SparkplugAssetMapping(template: "{group}/{node}/{device}")

    /// Checks the template: 3 or 4 segments, each a valid segment once the placeholders are filled.
    public init(template: String, nodeMachine: String = "_node") throws(ModelError) {
        let segments = template.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard segments.count == 3 || segments.count == 4 else {
            throw ModelError(.invalidPath, "a Sparkplug path template has 3 or 4 segments, got \(segments.count) in \"\(template)\"")
        }
        guard template.contains("{device}") else {
            throw ModelError(.invalidPath, "a Sparkplug path template must place {device} (\"\(template)\")")
        }
        self.template = segments
        self.nodeMachine = nodeMachine
        _ = try path(group: "g", node: "n", device: "d")
        try AssetPath.validate(segment: nodeMachine, role: "node machine")
    }

    /// The machine of a device (or, with `device` nil, of the edge node's own metrics).
    public func path(group: String, node: String, device: String?) throws(ModelError) -> AssetPath {
        let filled = template.map { segment in
            segment.replacing("{group}", with: Self.segment(group))
                .replacing("{node}", with: Self.segment(node))
                .replacing("{device}", with: device.map(Self.segment) ?? nodeMachine)
        }
        return try AssetPath(segments: filled[...])
    }

    /// An id as a path segment: disallowed characters become `_`, at most 64 characters.
    static func segment(_ id: String) -> String {
        String(String(decoding: id.utf8.map { AssetPath.isAllowed($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self).prefix(64))
    }

    /// The tag a metric name is stored as, nil when it cannot be one (longer than 64 bytes once mapped).
    public static func tagName(_ metric: String) -> String? {
        let bytes = metric.utf8.map { byte -> UInt8 in
            if byte == UInt8(ascii: "/") { return UInt8(ascii: ".") }
            return AssetPath.isAllowed(byte) ? byte : UInt8(ascii: "_")
        }
        guard (1...64).contains(bytes.count) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
