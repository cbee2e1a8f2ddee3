/// CreateSubscription (Part 4 §5.13.2).
public struct CreateSubscriptionRequest: ServiceRequest {
    public static let encodingId: UInt32 = 787
    /// ms.
    public var publishingInterval: Double
    public var lifetimeCount: UInt32
    public var maxKeepAliveCount: UInt32
    public var maxNotificationsPerPublish: UInt32 = 0

    public init(publishingInterval: Double, lifetimeCount: UInt32, maxKeepAliveCount: UInt32) {
        self.publishingInterval = publishingInterval
        self.lifetimeCount = lifetimeCount
        self.maxKeepAliveCount = maxKeepAliveCount
    }

    public func encodeBody(to writer: inout UAWriter) {
        writer.double(publishingInterval)
        writer.uint32(lifetimeCount)
        writer.uint32(maxKeepAliveCount)
        writer.uint32(maxNotificationsPerPublish)
        writer.boolean(true)  // publishing enabled
        writer.byte(0)  // priority
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 790
        public var subscriptionId: UInt32
        public var publishingInterval: Double
        public var lifetimeCount: UInt32
        public var maxKeepAliveCount: UInt32

        public init(body reader: inout UAReader) throws(UADecodingError) {
            subscriptionId = try reader.uint32()
            publishingInterval = try reader.double()
            lifetimeCount = try reader.uint32()
            maxKeepAliveCount = try reader.uint32()
        }
    }
}

/// A deadband on a monitored value (Part 4 §7.22.2).
public enum Deadband: Sendable, Hashable {
    case none
    /// Changes smaller than this, in the value's unit, are not reported.
    case absolute(Double)
    /// Changes smaller than this percentage of the node's EURange are not reported.
    case percent(Double)

    /// The DataChangeFilter that asks for it (trigger: status or value).
    var filter: ExtensionObject {
        let (type, value): (UInt32, Double) = switch self {
        case .none: (0, 0)
        case .absolute(let value): (1, value)
        case .percent(let value): (2, value)
        }
        var writer = UAWriter()
        writer.int32(1)  // trigger: status or value
        writer.uint32(type)
        writer.double(value)
        return ExtensionObject(typeId: NodeId(EncodingId.dataChangeFilter), body: .binary(writer.bytes))
    }
}

/// One item to monitor (Part 4 §7.21 and §5.12.2).
public struct MonitoredItemRequest: Sendable, Hashable, UAEncodable {
    public var node: NodeId
    public var clientHandle: UInt32
    /// ms; -1: the publishing interval.
    public var samplingInterval: Double
    public var queueSize: UInt32
    public var deadband: Deadband

    public init(node: NodeId, clientHandle: UInt32, samplingInterval: Double = -1, queueSize: UInt32 = 10, deadband: Deadband = .none) {
        self.node = node
        self.clientHandle = clientHandle
        self.samplingInterval = samplingInterval
        self.queueSize = queueSize
        self.deadband = deadband
    }

    public func encode(to writer: inout UAWriter) {
        ReadValueId(node).encode(to: &writer)
        writer.int32(2)  // monitoring mode: reporting
        writer.uint32(clientHandle)
        writer.double(samplingInterval)
        (deadband == .none ? ExtensionObject.empty : deadband.filter).encode(to: &writer)
        writer.uint32(queueSize)
        writer.boolean(true)  // discard oldest
    }
}

/// CreateMonitoredItems (Part 4 §5.12.2).
public struct CreateMonitoredItemsRequest: ServiceRequest {
    public static let encodingId: UInt32 = 751
    public var subscriptionId: UInt32
    public var items: [MonitoredItemRequest]

    public init(subscriptionId: UInt32, items: [MonitoredItemRequest]) {
        self.subscriptionId = subscriptionId
        self.items = items
    }

    public func encodeBody(to writer: inout UAWriter) {
        writer.uint32(subscriptionId)
        writer.int32(TimestampsToReturn.both.rawValue)
        writer.array(items)
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 754
        public var results: [(status: StatusCode, monitoredItemId: UInt32, samplingInterval: Double, queueSize: UInt32)]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            results = try reader.array { (reader: inout UAReader) throws(UADecodingError) in
                let status = try StatusCode(from: &reader)
                let id = try reader.uint32()
                let interval = try reader.double()
                let queue = try reader.uint32()
                _ = try ExtensionObject(from: &reader)  // filter result
                return (status, id, interval, queue)
            }
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}

/// What a subscription sent (Part 4 §7.25): its sequence number and the changes it carries.
public struct NotificationMessage: Sendable, Hashable, UADecodable {
    public var sequenceNumber: UInt32
    public var publishTime: UADateTime
    /// Value changes by client handle, in the order the server gave them.
    public var dataChanges: [(clientHandle: UInt32, value: DataValue)]
    /// A subscription status change (for example BadTimeout: the subscription is gone).
    public var statusChange: StatusCode?

    public static func == (lhs: NotificationMessage, rhs: NotificationMessage) -> Bool {
        lhs.sequenceNumber == rhs.sequenceNumber && lhs.publishTime == rhs.publishTime && lhs.statusChange == rhs.statusChange
            && lhs.dataChanges.elementsEqual(rhs.dataChanges) { $0.clientHandle == $1.clientHandle && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(sequenceNumber) }

    /// A keep-alive carries no notifications.
    public var isKeepAlive: Bool { dataChanges.isEmpty && statusChange == nil }

    public init(from reader: inout UAReader) throws(UADecodingError) {
        sequenceNumber = try reader.uint32()
        publishTime = try UADateTime(from: &reader)
        let objects = try reader.array(of: ExtensionObject.self)
        dataChanges = []
        statusChange = nil
        for object in objects {
            if let changes = try object.decode(DataChangeNotification.self, encodingId: EncodingId.dataChangeNotification) {
                dataChanges += changes.items
            } else if let change = try object.decode(StatusChangeNotification.self, encodingId: EncodingId.statusChangeNotification) {
                statusChange = change.status
            }
        }
    }
}

struct DataChangeNotification: UADecodable {
    var items: [(clientHandle: UInt32, value: DataValue)]

    init(from reader: inout UAReader) throws(UADecodingError) {
        items = try reader.array { (reader: inout UAReader) throws(UADecodingError) in (try reader.uint32(), try DataValue(from: &reader)) }
        _ = try reader.array(of: DiagnosticInfo.self)
    }
}

struct StatusChangeNotification: UADecodable {
    var status: StatusCode

    init(from reader: inout UAReader) throws(UADecodingError) {
        status = try StatusCode(from: &reader)
        _ = try DiagnosticInfo(from: &reader)
    }
}

/// Publish (Part 4 §5.13.5): acknowledges what arrived, and asks for the next notification.
public struct PublishRequest: ServiceRequest {
    public static let encodingId: UInt32 = 826
    public var acknowledgements: [(subscriptionId: UInt32, sequenceNumber: UInt32)]

    public init(acknowledgements: [(subscriptionId: UInt32, sequenceNumber: UInt32)]) { self.acknowledgements = acknowledgements }

    public func encodeBody(to writer: inout UAWriter) {
        writer.array(acknowledgements) { writer, ack in
            writer.uint32(ack.subscriptionId)
            writer.uint32(ack.sequenceNumber)
        }
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 829
        public var subscriptionId: UInt32
        public var availableSequenceNumbers: [UInt32]
        public var moreNotifications: Bool
        public var notification: NotificationMessage
        public var results: [StatusCode]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            subscriptionId = try reader.uint32()
            availableSequenceNumbers = try reader.array { (reader: inout UAReader) throws(UADecodingError) in try reader.uint32() }
            moreNotifications = try reader.boolean()
            notification = try NotificationMessage(from: &reader)
            results = try reader.array(of: StatusCode.self)
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}

/// Republish (Part 4 §5.13.6): a notification message again, after a gap in sequence numbers.
public struct RepublishRequest: ServiceRequest {
    public static let encodingId: UInt32 = 832
    public var subscriptionId: UInt32
    public var sequenceNumber: UInt32

    public init(subscriptionId: UInt32, sequenceNumber: UInt32) {
        self.subscriptionId = subscriptionId
        self.sequenceNumber = sequenceNumber
    }

    public func encodeBody(to writer: inout UAWriter) {
        writer.uint32(subscriptionId)
        writer.uint32(sequenceNumber)
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 835
        public var notification: NotificationMessage

        public init(body reader: inout UAReader) throws(UADecodingError) { notification = try NotificationMessage(from: &reader) }
    }
}

/// DeleteSubscriptions (Part 4 §5.13.8).
public struct DeleteSubscriptionsRequest: ServiceRequest {
    public static let encodingId: UInt32 = 847
    public var subscriptionIds: [UInt32]

    public init(subscriptionIds: [UInt32]) { self.subscriptionIds = subscriptionIds }

    public func encodeBody(to writer: inout UAWriter) { writer.array(subscriptionIds) { $0.uint32($1) } }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 850
        public var results: [StatusCode]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            results = try reader.array(of: StatusCode.self)
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}
