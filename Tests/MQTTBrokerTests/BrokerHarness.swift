@testable import MQTTBroker
import MQTTCodec
import NIOCore

/// Drives the pure broker core with packets and a hand-moved clock, and reads back what it sent.
struct BrokerHarness {
    var state: BrokerState
    var now: Int64 = 1_000_000

    init(limits: BrokerLimits = BrokerLimits(), authorizer: any Authorizer = AllowAll(), hasReceiver: Bool = false) {
        state = BrokerState(limits: limits, authorizer: authorizer, hasReceiver: hasReceiver)
    }

    static func connect(_ clientID: String, _ version: ProtocolVersion = .v5, clean: Bool = true,
                        expiry: UInt32? = nil, keepAlive: UInt16 = 60, will: Will? = nil,
                        receiveMaximum: UInt16? = nil, maximumPacketSize: UInt32? = nil,
                        topicAliasMaximum: UInt16? = nil) -> Connect {
        var properties = Properties()
        properties.topicAliasMaximum = topicAliasMaximum
        properties.sessionExpiryInterval = expiry
        properties.receiveMaximum = receiveMaximum
        properties.maximumPacketSize = maximumPacketSize
        return Connect(protocolVersion: version, clientID: clientID, cleanStart: clean, keepAlive: keepAlive,
                       will: will, properties: version == .v5 ? properties : Properties())
    }

    @discardableResult
    mutating func connect(_ id: Int, _ connect: Connect, principal: Principal = .anonymous) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        state.connect(connect, principal: principal, on: ConnectionID(id), now: now, into: &actions)
        return actions
    }

    @discardableResult
    mutating func send(_ id: Int, _ packet: Packet) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        state.receive(packet, from: ConnectionID(id), now: now, into: &actions)
        return actions
    }

    @discardableResult
    mutating func close(_ id: Int) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        state.connectionClosed(ConnectionID(id), now: now, into: &actions)
        return actions
    }

    @discardableResult
    mutating func advance(seconds: Int64) -> [BrokerAction] {
        now += seconds * 1000
        var actions: [BrokerAction] = []
        state.tick(now: now, into: &actions)
        return actions
    }

    @discardableResult
    mutating func subscribe(_ id: Int, _ filter: String, qos: QoS = .atMostOnce, options: SubscriptionOptions? = nil,
                            identifier: Int? = nil, packetID: UInt16 = 1) -> [BrokerAction] {
        var properties = Properties()
        if let identifier { properties.subscriptionIdentifiers = [identifier] }
        let subscription = Subscription(filter: filter, options: options ?? SubscriptionOptions(qos: qos))
        return send(id, .subscribe(Subscribe(packetID: packetID, subscriptions: [subscription], properties: properties)))
    }

    @discardableResult
    mutating func publish(_ id: Int, _ topic: String, _ payload: String, qos: QoS = .atMostOnce, retain: Bool = false,
                          packetID: UInt16? = nil, properties: Properties = Properties()) -> [BrokerAction] {
        let pid = qos == .atMostOnce ? nil : (packetID ?? 1)
        return send(id, .publish(Publish(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain,
                                         packetID: pid, properties: properties)))
    }
}

extension Array where Element == BrokerAction {
    /// Packets sent to connection `id`, in order.
    func sent(to id: Int) -> [Packet] {
        compactMap { if case .send(let target, let packet) = $0, target == ConnectionID(id) { packet } else { nil } }
    }

    /// PUBLISH packets sent to connection `id`.
    func publishes(to id: Int) -> [Publish] {
        sent(to: id).compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }

    func closes(_ id: Int) -> Bool {
        contains { if case .close(let target) = $0 { target == ConnectionID(id) } else { false } }
    }

    var received: [ReceivedMessage] {
        compactMap { if case .receive(let message, _, _) = $0 { message } else { nil } }
    }
}

extension Publish {
    var text: String { String(buffer: payload) }
}
