public import OPCUA
public import Sparkplug

/// One OPC UA server read as one Gemba machine: where it is, how to sign in, and its tags.
public struct OPCUADeviceConfiguration: Sendable, Hashable {
    /// How the values arrive.
    public enum Mode: String, Sendable, Hashable {
        /// A subscription with monitored items (the server reports changes); polling if the server has no subscriptions.
        case subscribe
        /// Read every `pollInterval`.
        case poll
    }

    /// The Sparkplug device id, which is the machine's id in Gemba (`<group>/<node>/<device>`).
    public var device: String
    public var endpoint: String
    public var securityPolicy: SecurityPolicy
    /// Sign or SignAndEncrypt under a secured policy (None: the best the server offers).
    public var securityMode: MessageSecurityMode = .none
    /// The gateway's PKI directory (secured policies).
    public var pki: String?
    /// Trust exactly this server certificate (SHA-1 thumbprint).
    public var serverThumbprint: String?
    public var identity: UserIdentity
    public var mode: Mode
    /// ms between the server's notifications (subscribe mode).
    public var publishingInterval: Int64
    /// ms between reads (poll mode, and the fallback).
    public var pollInterval: Int64
    /// Bounds the connection and each request, ms.
    public var timeout: Int64
    /// ms the secure channel's tokens are asked to live (renewed at three quarters of it).
    public var channelLifetime: Int64 = 3_600_000
    public var tags: [OPCUATag]

    public init(device: String, endpoint: String, securityPolicy: SecurityPolicy = .none, identity: UserIdentity = .anonymous,
                mode: Mode = .subscribe, publishingInterval: Int64 = 500, pollInterval: Int64 = 1000, timeout: Int64 = 5000, tags: [OPCUATag]) {
        self.device = device
        self.endpoint = endpoint
        self.securityPolicy = securityPolicy
        self.identity = identity
        self.mode = mode
        self.publishingInterval = publishingInterval
        self.pollInterval = pollInterval
        self.timeout = timeout
        self.tags = tags
    }
}

/// One node of an OPC UA server, published as a Sparkplug metric.
public struct OPCUATag: Sendable, Hashable {
    /// Where the node is: its id, or browse names followed from a node (`Objects/2:Press/2:Speed`).
    public enum Target: Sendable, Hashable, CustomStringConvertible {
        case node(NodeId)
        case path(start: NodeId, names: [QualifiedName])

        public var description: String {
            switch self {
            case .node(let id): "\(id)"
            case .path(let start, let names): ([start == WellKnownNode.objectsFolder ? "Objects" : "\(start)"] + names.map(\.description)).joined(separator: "/")
            }
        }
    }

    public var name: String
    public var target: Target
    /// The metric's datatype: values are converted to it.
    public var dataType: SparkplugDataType
    public var unit: String?
    /// Changes smaller than this are not reported (asked of the server; the edge node applies an absolute one too).
    public var deadband: Deadband
    /// ms the server samples the node at (nil: the publishing interval).
    public var samplingInterval: Int64?
    public var queueSize: UInt32
    /// Whether a Sparkplug DCMD may write it.
    public var writable: Bool

    public init(name: String, target: Target, dataType: SparkplugDataType = .double, unit: String? = nil, deadband: Deadband = .none,
                samplingInterval: Int64? = nil, queueSize: UInt32 = 10, writable: Bool = false) {
        self.name = name
        self.target = target
        self.dataType = dataType
        self.unit = unit
        self.deadband = deadband
        self.samplingInterval = samplingInterval
        self.queueSize = queueSize
        self.writable = writable
    }
}

/// A device of the gateway's configuration, of either protocol.
public enum EdgeDeviceConfiguration: Sendable, Hashable {
    case modbus(ModbusDeviceConfiguration)
    case opcua(OPCUADeviceConfiguration)

    /// The Sparkplug device id.
    public var device: String {
        switch self {
        case .modbus(let device): device.device
        case .opcua(let device): device.device
        }
    }

    /// The id of the source that runs it.
    public var sourceId: String {
        switch self {
        case .modbus(let device): ModbusDeviceSource.id(of: device.device)
        case .opcua(let device): OPCUADeviceSource.id(of: device.device)
        }
    }
}
