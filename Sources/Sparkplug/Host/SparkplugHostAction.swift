public import GembaCore

/// What the host state machine asks its shell to do.
public enum SparkplugHostAction: Sendable {
    /// Submit these points to the ingest pipeline.
    case store([Point])
    /// Publish a command (a rebirth request, a write) on the broker connection the node is on.
    case publish(topic: String, payload: [UInt8], connection: Int)
    /// Log and count something that happened.
    case event(SparkplugEvent)
}

/// A lifecycle change or a problem with what an edge node sent, for logs and counters.
public struct SparkplugEvent: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case nodeBirth = "node_birth", nodeDeath = "node_death", deviceBirth = "device_birth", deviceDeath = "device_death"
        case rebirthRequested = "rebirth_requested"
        case badTopic = "bad_topic", corruptPayload = "corrupt_payload", invalidMetric = "invalid_metric"
        case unknownMetric = "unknown_metric", dataBeforeBirth = "data_before_birth", seqGap = "seq_gap"
        case missingSeq = "missing_seq", lateMessage = "late_message", staleDeath = "stale_death"
        case rebirthSuppressed = "rebirth_suppressed", unstorable = "unstorable_metric", tooManyNodes = "too_many_nodes"

        /// Whether this kind means an edge node sent something wrong (a warning), rather than a lifecycle step.
        public var isProblem: Bool {
            switch self {
            case .nodeBirth, .nodeDeath, .deviceBirth, .deviceDeath, .rebirthRequested: false
            default: true
            }
        }
    }

    public let kind: Kind
    public let topic: String
    public let detail: String

    public var description: String { "\(kind.rawValue) on \(topic): \(detail)" }
}

/// A command for an edge node or device, ready to publish.
public struct SparkplugCommand: Sendable {
    public let topic: String
    public let connection: Int
    public let payload: [UInt8]
}
