internal import GembaCore

/// What an MQTT channel publishes: a topic made from the alarm (`andon/{{machine}}`), at QoS 0
/// or 1, retained or not. The payload is the webhook body (event type, time and the alarm's
/// variables); a retained topic per machine keeps an andon light at its latest state.
public struct MQTTTarget: Sendable, Hashable, Codable {
    /// The variables a topic may name: each fills one or more whole topic levels and holds no wildcard.
    public static let topicVariables = ["machine", "rule", "severity", "event", "state", "tenant"]

    public var topic: String
    public var qos: Int
    public var retain: Bool
    /// For an external broker that wants a user name; the password is the channel's secret.
    public var username: String?

    public init(topic: String, qos: Int = 1, retain: Bool = false, username: String? = nil) {
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.username = username
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        topic = try container.decode(String.self, forKey: .topic)
        qos = try container.decodeIfPresent(Int.self, forKey: .qos) ?? 1
        retain = try container.decodeIfPresent(Bool.self, forKey: .retain) ?? false
        username = try container.decodeIfPresent(String.self, forKey: .username)
    }

    func validate() throws(ModelError) {
        guard !topic.isEmpty, topic.utf8.count <= 500, !topic.hasPrefix("$"),
              !topic.unicodeScalars.contains(where: { $0 == "+" || $0 == "#" || $0.value == 0 }) else {
            throw ModelError(.invalid, "mqtt.topic is 1–500 characters without + # or a leading $")
        }
        try NotificationMessage.checkTemplate(topic, variables: Self.topicVariables, what: "mqtt.topic")
        guard qos == 0 || qos == 1 else { throw ModelError(.invalid, "mqtt.qos is 0 or 1") }
        if let username, username.isEmpty || username.utf8.count > 200 { throw ModelError(.invalid, "mqtt.username is 1–200 characters") }
    }

    /// The topic for one message; variables a message lacks (a test message) read `test`.
    func topic(_ values: [String: String]) -> String {
        var text = topic
        for name in Self.topicVariables {
            let value = (values[name] ?? "test").filter { $0 != "+" && $0 != "#" }
            text = text.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        return text
    }
}

/// Publishes a notification to a broker: the embedded one (given by the server) or an external one.
public protocol MQTTPublishing: Sendable {
    func publish(topic: String, payload: String, qos: Int, retain: Bool) async throws
}
