import DequeModule
public import MQTTCodec

/// What the client's pure session logic asks its shell to do.
public enum ClientSessionAction: Hashable, Sendable {
    /// Write this packet.
    case send(Packet)
    /// Hand this message to the application. With manual acknowledgement, a QoS 1/2 message
    /// carries the token its acknowledgement names (``ClientSession/acknowledge(_:)``).
    case deliver(Publish, token: UInt64?)
    /// The operation with this packet id finished; the packet is the final acknowledgement.
    case complete(UInt16, Packet)
}

/// The client's side of an MQTT session, free of I/O: packet ids, in-flight publishes and their QoS 1/2
/// handshakes, pending SUBSCRIBE/UNSUBSCRIBE, inbound QoS 2 state, and what to resend after reconnecting.
public struct ClientSession: Sendable {
    /// With manual acknowledgement, an inbound QoS 1 message is acknowledged (PUBACK), and a QoS 2
    /// one received (PUBREC), only when the application says it is safe, in the order they arrived.
    public let manualAcknowledgement: Bool

    /// An inbound QoS 1/2 message delivered but not yet acknowledged to the server.
    struct AwaitingAck: Sendable {
        var id: UInt16
        var qos: QoS
        var token: UInt64
        var done = false
        /// The server sent the message again (after a reconnect) before this copy was acknowledged:
        /// only the newer copy's acknowledgement reaches the server.
        var superseded = false
    }

    enum Outgoing: Sendable {
        enum Stage: Sendable { case awaitingPuback, awaitingPubrec, awaitingPubcomp }
        case publish(Publish, Stage)
        case subscribe(Subscribe)
        case unsubscribe(Unsubscribe)
    }

    private var lastID: UInt16 = 0
    private var outgoing: [UInt16: Outgoing] = [:]
    private var order: [UInt16] = []
    private var inboundQoS2: Set<UInt16> = []
    /// Active subscriptions by filter, kept to resubscribe when the server lost the session.
    public private(set) var subscriptions: [String: Subscription] = [:]
    private var subscriptionIdentifiers: [String: Int] = [:]
    /// In arrival order, so by increasing token.
    private var awaitingAck = Deque<AwaitingAck>()
    /// The token of the copy of each packet id that is still to be acknowledged (not superseded).
    private var awaitingByID: [UInt16: UInt64] = [:]
    private var lastToken: UInt64 = 0

    public init(manualAcknowledgement: Bool = false) {
        self.manualAcknowledgement = manualAcknowledgement
    }

    /// Inbound messages delivered and not yet acknowledged (manual acknowledgement).
    public var unacknowledgedCount: Int { awaitingAck.count }

    /// The application is done with the message of `token`: answers the acknowledgements now due,
    /// in arrival order (an earlier message still being handled holds back later ones).
    public mutating func acknowledge(_ token: UInt64) -> [Packet] {
        guard let index = awaitingIndex(of: token) else { return [] }
        awaitingAck[index].done = true
        var packets: [Packet] = []
        while let first = awaitingAck.first, first.done {
            awaitingAck.removeFirst()
            guard !first.superseded else { continue }
            awaitingByID[first.id] = nil
            packets.append(first.qos == .atLeastOnce ? .puback(PublishAck(packetID: first.id)) : .pubrec(PublishAck(packetID: first.id)))
        }
        return packets
    }

    /// Where the message of `token` waits, by binary search (tokens grow in arrival order).
    private func awaitingIndex(of token: UInt64) -> Int? {
        var low = awaitingAck.startIndex, high = awaitingAck.endIndex
        while low < high {
            let middle = (low + high) / 2
            if awaitingAck[middle].token < token { low = middle + 1 } else { high = middle }
        }
        return low < awaitingAck.endIndex && awaitingAck[low].token == token ? low : nil
    }

    /// Operations awaiting their acknowledgement.
    public var inflightCount: Int { outgoing.count }

    private mutating func allocateID() -> UInt16 {
        repeat { lastID = lastID == UInt16.max ? 1 : lastID + 1 } while outgoing[lastID] != nil
        return lastID
    }

    private mutating func track(_ id: UInt16, _ operation: Outgoing) {
        outgoing[id] = operation
        order.append(id)
    }

    private mutating func finish(_ id: UInt16) -> Outgoing? {
        guard let operation = outgoing.removeValue(forKey: id) else { return nil }
        order.removeAll { $0 == id }
        return operation
    }

    /// Assigns a packet id to a QoS 1/2 publish and tracks it; QoS 0 passes through.
    public mutating func publish(_ publish: Publish) -> Publish {
        guard publish.qos != .atMostOnce else { return publish }
        var publish = publish
        publish.packetID = allocateID()
        track(publish.packetID!, .publish(publish, publish.qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec))
        return publish
    }

    public mutating func subscribe(_ subscriptions: [Subscription], properties: Properties = Properties()) -> Subscribe {
        let subscribe = Subscribe(packetID: allocateID(), subscriptions: subscriptions, properties: properties)
        track(subscribe.packetID, .subscribe(subscribe))
        return subscribe
    }

    public mutating func unsubscribe(_ filters: [String], properties: Properties = Properties()) -> Unsubscribe {
        let unsubscribe = Unsubscribe(packetID: allocateID(), filters: filters, properties: properties)
        track(unsubscribe.packetID, .unsubscribe(unsubscribe))
        return unsubscribe
    }

    /// Reacts to a packet from the server.
    public mutating func receive(_ packet: Packet) -> [ClientSessionAction] {
        switch packet {
        case .publish(let publish):
            return inbound(publish)
        case .pubrel(let ack):
            inboundQoS2.remove(ack.packetID)
            return [.send(.pubcomp(PublishAck(packetID: ack.packetID)))]
        case .puback(let ack):
            guard case .publish(_, .awaitingPuback)? = outgoing[ack.packetID] else { return [] }
            _ = finish(ack.packetID)
            return [.complete(ack.packetID, packet)]
        case .pubrec(let ack):
            guard case .publish(let publish, .awaitingPubrec)? = outgoing[ack.packetID] else {
                return [.send(.pubrel(PublishAck(packetID: ack.packetID, reasonCode: .packetIdentifierNotFound)))]
            }
            if ack.reasonCode.isFailure {
                _ = finish(ack.packetID)
                return [.complete(ack.packetID, packet)]
            }
            outgoing[ack.packetID] = .publish(publish, .awaitingPubcomp)
            return [.send(.pubrel(PublishAck(packetID: ack.packetID)))]
        case .pubcomp(let ack):
            guard case .publish(_, .awaitingPubcomp)? = outgoing[ack.packetID] else { return [] }
            _ = finish(ack.packetID)
            return [.complete(ack.packetID, packet)]
        case .suback(let suback):
            guard case .subscribe(let subscribe)? = finish(suback.packetID) else { return [] }
            for (index, subscription) in subscribe.subscriptions.enumerated()
            where index < suback.reasonCodes.count && !suback.reasonCodes[index].isFailure {
                subscriptions[subscription.filter] = subscription
                subscriptionIdentifiers[subscription.filter] = subscribe.properties.subscriptionIdentifiers.first
            }
            return [.complete(suback.packetID, packet)]
        case .unsuback(let unsuback):
            guard case .unsubscribe(let unsubscribe)? = finish(unsuback.packetID) else { return [] }
            for filter in unsubscribe.filters {
                subscriptions[filter] = nil
                subscriptionIdentifiers[filter] = nil
            }
            return [.complete(unsuback.packetID, packet)]
        default:
            return []
        }
    }

    private mutating func inbound(_ publish: Publish) -> [ClientSessionAction] {
        if manualAcknowledgement && publish.qos != .atMostOnce { return inboundAwaitingAck(publish) }
        switch publish.qos {
        case .atMostOnce:
            return [.deliver(publish, token: nil)]
        case .atLeastOnce:
            return [.deliver(publish, token: nil), .send(.puback(PublishAck(packetID: publish.packetID!)))]
        case .exactlyOnce:
            let id = publish.packetID!
            let isNew = inboundQoS2.insert(id).inserted
            return (isNew ? [.deliver(publish, token: nil)] : []) + [.send(.pubrec(PublishAck(packetID: id)))]
        }
    }

    /// Manual acknowledgement: the message waits for the application's word. A QoS 2 message the
    /// application already has is not delivered again; its PUBREC is repeated once it was sent.
    private mutating func inboundAwaitingAck(_ publish: Publish) -> [ClientSessionAction] {
        let id = publish.packetID!
        if publish.qos == .exactlyOnce && !inboundQoS2.insert(id).inserted {
            return awaitingByID[id] != nil ? [] : [.send(.pubrec(PublishAck(packetID: id)))]
        }
        if let earlier = awaitingByID[id], let index = awaitingIndex(of: earlier) { awaitingAck[index].superseded = true }
        lastToken += 1
        awaitingAck.append(AwaitingAck(id: id, qos: publish.qos, token: lastToken))
        awaitingByID[id] = lastToken
        return [.deliver(publish, token: lastToken)]
    }

    /// Packets to send after a reconnect. When the server kept no session, every subscription comes first,
    /// so resent messages reach subscriptions restored in the same connection; then unacknowledged
    /// publishes (DUP set) or their PUBREL, and pending (un)subscribes, in their original order.
    public mutating func resume(sessionPresent: Bool) -> [Packet] {
        var packets: [Packet] = []
        if !sessionPresent {
            inboundQoS2.removeAll()
            // The server forgot those messages: acknowledging them would name ids it may reuse.
            for index in awaitingAck.indices { awaitingAck[index].superseded = true }
            awaitingByID.removeAll()
            let pendingFilters = Set(outgoing.values.flatMap { operation -> [String] in
                if case .subscribe(let subscribe) = operation { subscribe.subscriptions.map(\.filter) } else { [] }
            })
            for (filter, subscription) in subscriptions.sorted(by: { $0.key < $1.key }) where !pendingFilters.contains(filter) {
                var properties = Properties()
                if let id = subscriptionIdentifiers[filter] { properties.subscriptionIdentifiers = [id] }
                let subscribe = Subscribe(packetID: allocateID(), subscriptions: [subscription], properties: properties)
                outgoing[subscribe.packetID] = .subscribe(subscribe)
                packets.append(.subscribe(subscribe))
            }
            order.insert(contentsOf: packets.compactMap { if case .subscribe(let s) = $0 { s.packetID } else { nil } }, at: 0)
        }
        let restored = packets.count
        for id in order.dropFirst(restored) {
            switch outgoing[id] {
            case .publish(var publish, let stage)?:
                if stage == .awaitingPubcomp {
                    packets.append(.pubrel(PublishAck(packetID: id)))
                } else {
                    publish.dup = true
                    packets.append(.publish(publish))
                }
            case .subscribe(let subscribe)?:
                packets.append(.subscribe(subscribe))
            case .unsubscribe(let unsubscribe)?:
                packets.append(.unsubscribe(unsubscribe))
            case nil:
                break
            }
        }
        return packets
    }
}
