/// A Sparkplug B topic, parsed strictly after Eclipse Sparkplug 3.0 (§ 4.1):
///
/// ```
/// spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]
/// spBv1.0/STATE/<sparkplug_host_id>
/// ```
///
/// Node messages (`N…`) have no device id; device messages (`D…`) must have one. Every id is a
/// non-empty UTF-8 string without `/`, `+` or `#` (MQTT's separator and wildcards).
public enum SparkplugTopic: Sendable, Hashable, CustomStringConvertible {
    /// A message of or to an edge node, or of or to one of its devices.
    case edge(SparkplugMessageType, group: String, node: String, device: String?)
    /// A primary host application's STATE message.
    case state(host: String)

    /// The namespace element every Sparkplug B topic starts with.
    public static let namespace = "spBv1.0"

    /// Parses a topic name; throws ``SparkplugTopicError`` naming what is wrong.
    public init(parsing topic: String) throws(SparkplugTopicError) {
        // Split on the byte, not the Character: no grapheme breaking on every message.
        let levels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
        guard levels.first == Self.namespace[...] else {
            throw SparkplugTopicError(topic, "does not start with \(Self.namespace)/")
        }
        if levels.count >= 2, levels[1] == "STATE" {
            guard levels.count == 3 else { throw SparkplugTopicError(topic, "a STATE topic is spBv1.0/STATE/<host id>") }
            try Self.check(levels[2], role: "host id", in: topic)
            self = .state(host: String(levels[2]))
            return
        }
        guard levels.count == 4 || levels.count == 5 else {
            throw SparkplugTopicError(topic, "expected spBv1.0/<group>/<message type>/<edge node>[/<device>], got \(levels.count) levels")
        }
        guard let type = SparkplugMessageType(rawValue: String(levels[2])) else {
            throw SparkplugTopicError(topic, "unknown message type \"\(levels[2])\"")
        }
        try Self.check(levels[1], role: "group id", in: topic)
        try Self.check(levels[3], role: "edge node id", in: topic)
        let device = levels.count == 5 ? String(levels[4]) : nil
        switch (type.isDeviceMessage, device) {
        case (true, nil): throw SparkplugTopicError(topic, "\(type.rawValue) needs a device id")
        case (false, .some): throw SparkplugTopicError(topic, "\(type.rawValue) takes no device id")
        case (true, let device?): try Self.check(device, role: "device id", in: topic)
        case (false, nil): break
        }
        self = .edge(type, group: String(levels[1]), node: String(levels[3]), device: device)
    }

    private static func check(_ id: some StringProtocol, role: String, in topic: String) throws(SparkplugTopicError) {
        guard !id.isEmpty else { throw SparkplugTopicError(topic, "the \(role) is empty") }
        if let bad = id.first(where: { $0 == "+" || $0 == "#" }) {
            throw SparkplugTopicError(topic, "the \(role) \"\(id)\" contains the reserved character \(bad)")
        }
    }

    public var description: String {
        switch self {
        case .state(let host): "\(Self.namespace)/STATE/\(host)"
        case .edge(let type, let group, let node, let device?): "\(Self.namespace)/\(group)/\(type.rawValue)/\(node)/\(device)"
        case .edge(let type, let group, let node, nil): "\(Self.namespace)/\(group)/\(type.rawValue)/\(node)"
        }
    }
}

/// The message types of the Sparkplug B namespace (STATE has its own topic form).
public enum SparkplugMessageType: String, Sendable, Hashable, CaseIterable {
    case nbirth = "NBIRTH"
    case ndeath = "NDEATH"
    case dbirth = "DBIRTH"
    case ddeath = "DDEATH"
    case ndata = "NDATA"
    case ddata = "DDATA"
    case ncmd = "NCMD"
    case dcmd = "DCMD"

    /// Whether the topic carries a device id.
    public var isDeviceMessage: Bool { rawValue.hasPrefix("D") }
}

/// A topic that is not a valid Sparkplug B topic, with the reason.
public struct SparkplugTopicError: Error, Sendable, Hashable, CustomStringConvertible {
    public let topic: String
    public let reason: String

    init(_ topic: String, _ reason: String) {
        self.topic = topic
        self.reason = reason
    }

    public var description: String { "invalid Sparkplug topic \"\(topic)\": \(reason)" }
}
