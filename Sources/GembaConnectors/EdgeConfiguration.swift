public import Modbus
public import MQTTClient

/// What `gemba edge --config` runs: one Sparkplug B edge node on a broker, and the devices it reads.
public struct EdgeConfiguration: Sendable {
    /// The broker, with the password resolved from the file or environment it was taken from.
    public var broker: MQTTClientConfiguration
    public var group: String
    public var node: String
    /// A primary host id whose STATE `online` the node waits for before its births.
    public var primaryHost: String?
    /// Store-and-forward; nil: values that cannot reach the host are lost.
    public var buffer: BufferConfiguration?
    public var modbus: [ModbusDeviceConfiguration]
    public var opcua: [OPCUADeviceConfiguration] = []

    /// Every device, Modbus first.
    public var devices: [EdgeDeviceConfiguration] { modbus.map { .modbus($0) } + opcua.map { .opcua($0) } }
}

/// Where and how much the gateway buffers while the broker or the primary host is away.
public struct BufferConfiguration: Sendable, Hashable {
    public var directory: String
    public var limits: ForwardBuffer.Limits
    /// Values a second replayed at most.
    public var replayRate: Int
}

/// One Modbus TCP device: where it is, how to talk to it, and its register map.
public struct ModbusDeviceConfiguration: Sendable, Hashable {
    /// The Sparkplug device id, which is the machine's id in Gemba (`<group>/<node>/<device>`).
    public var device: String
    public var host: String
    public var port: Int
    public var unit: UInt8
    /// Bounds the connection and each request, ms.
    public var timeout: Int64
    /// Least ms between two requests to this device.
    public var pacing: Int64
    /// Unused items a read may span to join two tags (0: never read what is not mapped).
    public var maximumGap: Int
    public var tags: [ModbusTag]

    public init(device: String, host: String, port: Int = 502, unit: UInt8 = 1, timeout: Int64 = 2000, pacing: Int64 = 0,
                maximumGap: Int = 16, tags: [ModbusTag]) {
        self.device = device
        self.host = host
        self.port = port
        self.unit = unit
        self.timeout = timeout
        self.pacing = pacing
        self.maximumGap = maximumGap
        self.tags = tags
    }
}

/// One value of a device's register map, published as a Sparkplug metric of the same name.
public struct ModbusTag: Sendable, Hashable {
    public var name: String
    public var point: ModbusPoint
    public var order: ModbusWordOrder
    /// Published value = raw × scale + offset.
    public var scale: Double
    public var offset: Double
    public var unit: String?
    /// Published again only once it moved more than this (nil: on any change).
    public var deadband: Double?
    /// Poll interval, ms.
    public var interval: Int64
    /// Whether a Sparkplug DCMD may write it (coils and holding registers only).
    public var writable: Bool

    public init(name: String, point: ModbusPoint, order: ModbusWordOrder = .abcd, scale: Double = 1, offset: Double = 0,
                unit: String? = nil, deadband: Double? = nil, interval: Int64 = 1000, writable: Bool = false) {
        self.name = name
        self.point = point
        self.order = order
        self.scale = scale
        self.offset = offset
        self.unit = unit
        self.deadband = deadband
        self.interval = interval
        self.writable = writable
    }

    /// Whether the published value is the raw one (no scale, no offset).
    public var isRaw: Bool { scale == 1 && offset == 0 }
}

/// What changed between two versions of a gateway configuration, for a reload.
public struct EdgeConfigurationChange: Sendable {
    /// Devices added or changed: start (or restart) them.
    public var changed: [EdgeDeviceConfiguration] = []
    /// Devices no longer listed, or now of another protocol: stop them.
    public var removed: [EdgeDeviceConfiguration] = []
    /// Settings a reload cannot apply (the broker, the Sparkplug ids): they wait for a restart.
    public var needsRestart: [String] = []

    public var isEmpty: Bool { changed.isEmpty && removed.isEmpty && needsRestart.isEmpty }
}

extension EdgeConfiguration {
    /// What reloading `new` over this configuration changes; devices that did not change keep running.
    public func change(to new: EdgeConfiguration) -> EdgeConfigurationChange {
        var change = EdgeConfigurationChange()
        let old = Dictionary(devices.map { ($0.sourceId, $0) }, uniquingKeysWith: { first, _ in first })
        let next = Set(new.devices.map(\.sourceId))
        change.changed = new.devices.filter { old[$0.sourceId] != $0 }
        change.removed = devices.filter { !next.contains($0.sourceId) }
        let (a, b) = (broker, new.broker)
        if a.host != b.host || a.port != b.port || a.username != b.username || a.password != b.password
            || a.clientID != b.clientID || (a.tls == nil) != (b.tls == nil) {
            change.needsRestart.append("broker")
        }
        if group != new.group || node != new.node || primaryHost != new.primaryHost { change.needsRestart.append("sparkplug") }
        return change
    }
}
