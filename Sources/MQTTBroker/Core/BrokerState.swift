public import MQTTCodec
import NIOCore

/// An instruction from the broker core to its I/O shell.
public enum BrokerAction: Sendable {
    /// Encode and write this packet to the connection (flushed at the end of the batch).
    case send(ConnectionID, Packet)
    /// Close the connection after the packets already sent.
    case close(ConnectionID)
    /// Hand an accepted PUBLISH to the receiver; once it reports the message safe, send `acknowledgement`.
    case receive(ReceivedMessage, acknowledgement: Packet?, to: ConnectionID?)
    /// Something an operator should see in the log (a refused publish or subscription).
    case notice(ConnectionID, String)
}

/// An accepted PUBLISH as the rest of Gemba sees it.
public struct ReceivedMessage: Sendable {
    public let message: Message
    public let clientID: String
    public let principal: Principal
}

/// Counters the core keeps; the shell exports them as metrics.
public struct BrokerStatistics: Sendable {
    public var messagesReceived = 0
    public var messagesDelivered = 0
    public var droppedQueueFull = 0
    public var droppedTooLarge = 0
    public var droppedExpired = 0
    public var droppedNotAuthorized = 0
    public var retainedRejected = 0
    public var subscriptionsRejected = 0
    /// Subscriptions the authorizer refused, at SUBSCRIBE or when the rules changed.
    public var subscriptionsRefused = 0
    public var protocolErrors = 0
    public var connectionsRefused = 0
}

/// The broker's whole protocol logic as a pure state machine: sessions, subscriptions, retained messages,
/// wills, QoS flows and limits. Events go in with the broker time (ms); actions for the shell come out.
public struct BrokerState: Sendable {
    /// A connected client. Kept small (104 bytes, not 184): a broker holds one per connection, most
    /// of them idle devices, so the fields are ordered to pack and stored in the widths MQTT gives
    /// them, and the rare will is boxed.
    struct Connection: Sendable {
        let id: ConnectionID
        let clientID: String
        let principal: Principal
        var lastActivity: Int64
        var topicAliases: [UInt16: String] = [:]
        /// Aliases the broker gave topics it sends (v5, within the client's Topic Alias Maximum).
        var outboundAliases: [String: UInt16] = [:]
        private var boxedWill: Boxed<Will>?
        private var maximumPacketSize32: UInt32
        let sessionExpiryAtConnect: UInt32
        private var inboundInflight32: Int32 = 0
        private var receiveMaximum16: UInt16
        var keepAlive: UInt16
        let clientTopicAliasMaximum: UInt16
        let version: ProtocolVersion

        init(id: ConnectionID, clientID: String, version: ProtocolVersion, principal: Principal, keepAlive: UInt16,
             lastActivity: Int64, clientReceiveMaximum: UInt16, clientMaximumPacketSize: UInt32, clientTopicAliasMaximum: UInt16,
             will: Will?, sessionExpiryAtConnect: UInt32) {
            self.id = id
            self.clientID = clientID
            self.version = version
            self.principal = principal
            self.keepAlive = keepAlive
            self.lastActivity = lastActivity
            self.receiveMaximum16 = clientReceiveMaximum
            self.maximumPacketSize32 = clientMaximumPacketSize
            self.clientTopicAliasMaximum = clientTopicAliasMaximum
            self.boxedWill = will.map(Boxed.value)
            self.sessionExpiryAtConnect = sessionExpiryAtConnect
        }

        var recipient: Recipient {
            Recipient(id: id, clientID: clientID, version: version, maximumPacketSize: clientMaximumPacketSize,
                      receiveMaximum: clientReceiveMaximum, topicAliasMaximum: clientTopicAliasMaximum)
        }

        var clientReceiveMaximum: Int { Int(receiveMaximum16) }
        var clientMaximumPacketSize: Int { Int(maximumPacketSize32) }
        /// Inbound QoS 2 messages received and not yet released (bounded by the broker's receive maximum).
        var inboundInflight: Int {
            get { Int(inboundInflight32) }
            set { inboundInflight32 = Int32(clamping: newValue) }
        }
        var will: Will? {
            get { if case .value(let will)? = boxedWill { will } else { nil } }
            set { boxedWill = newValue.map(Boxed.value) }
        }

        /// Whether no packet came within 1.5 × the keep alive by `now` (ms).
        func hasLapsed(at now: Int64) -> Bool {
            keepAlive > 0 && now - lastActivity > Int64(keepAlive) * 1500
        }
    }

    /// What sending to a connection needs, taken from its record without the record's references.
    struct Recipient {
        let id: ConnectionID
        let clientID: String
        let version: ProtocolVersion
        let maximumPacketSize: Int
        let receiveMaximum: Int
        let topicAliasMaximum: UInt16
    }

    /// A value kept out of line, so that the type holding it stays small while it is absent.
    indirect enum Boxed<Value: Sendable>: Sendable {
        case value(Value)
    }

    struct PendingWill: Sendable {
        var will: Will
        var principal: Principal
        var fireAt: Int64
    }

    public let limits: BrokerLimits
    public let hasReceiver: Bool
    /// The topics the receiver takes; messages on others are routed and acknowledged at once.
    let receives: @Sendable (String) -> Bool
    /// Whether changes are gathered for saving (``takeChanges()``).
    public let tracksChanges: Bool
    /// Counts changes to what a restart must find (retained messages, messages queued or in flight
    /// for persistent sessions). A save that starts at value N holds every change up to N, so a
    /// publisher's acknowledgement can wait for it (``takeChanges()``).
    public private(set) var durableChanges: UInt64 = 0
    let authorizer: any Authorizer
    var connections: [ConnectionID: Connection] = [:]
    var sessions: [String: Session] = [:]
    var subscriptions = SubscriptionTrie()
    var retained: [String: Message] = [:]
    /// The retained topics by level, for subscriptions with wildcards.
    var retainedIndex = RetainedIndex()
    var pendingWills: [String: PendingWill] = [:]
    public internal(set) var statistics = BrokerStatistics()
    private var assignedIDCounter = 0
    /// The next queued or in-flight message's sequence number.
    var nextSequence: Int64 = 1
    /// What changed since the last ``takeChanges()``, when tracking.
    var changes = PersistenceChanges()

    public init(limits: BrokerLimits, authorizer: any Authorizer, hasReceiver: Bool, tracksChanges: Bool = false,
                receives: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.limits = limits
        self.authorizer = authorizer
        self.hasReceiver = hasReceiver
        self.receives = receives
        self.tracksChanges = tracksChanges
    }

    // MARK: Change tracking

    private mutating func sessionChanged(_ clientID: String) {
        if tracksChanges { changes.sessions.insert(clientID) }
    }

    /// A session is gone: its saved form and messages go too.
    private mutating func sessionEnded(_ clientID: String) {
        if tracksChanges { changes.endedSessions.insert(clientID) }
    }

    private mutating func messageChanged(_ clientID: String, _ sequence: Int64) {
        if tracksChanges, sessions.read(clientID, { $0.expiryInterval != 0 }) ?? true {
            changes.messages.insert(SessionMessageKey(clientID: clientID, sequence: sequence))
            durableChanges &+= 1
        }
    }

    /// Whether changes to sessions or retained messages wait to be saved.
    public var hasUnsavedChanges: Bool { tracksChanges && !changes.isEmpty }

    public var connectionCount: Int { connections.count }
    public var sessionCount: Int { sessions.count }
    public var retainedCount: Int { retained.count }
    public var subscriptionCount: Int { subscriptions.count }
    public var queuedMessageCount: Int { sessions.values.reduce(0) { $0 + $1.queue.count } }
    /// Inbound QoS 1/2 messages of a connection not yet acknowledged. Mutating only because the
    /// record is read where it is stored (see `Dictionary+InPlace`): the ingest path asks per message.
    public mutating func inboundInflight(of id: ConnectionID) -> Int { connections.read(id, { $0.inboundInflight }) ?? 0 }

    public var inflightMessageCount: Int { sessions.values.reduce(0) { $0 + $1.inflight.count } }

    // MARK: Connect and disconnect

    /// What the broker grants a CONNECT, and the CONNACK properties that tell the client.
    struct Grant {
        var clientID: String
        var sessionExpiry: UInt32
        var keepAlive: UInt16
        var connackProperties = Properties()
    }

    /// A CONNECT whose credentials the authenticator accepted as `principal`.
    public mutating func connect(_ connect: Connect, principal: Principal, on id: ConnectionID, now: Int64,
                                 into actions: inout [BrokerAction]) {
        let grant: Grant
        switch negotiate(connect, now: now) {
        case .success(let granted):
            grant = granted
        case .failure(let refusal):
            statistics.connectionsRefused += 1
            actions.append(.send(id, .connack(ConnAck(reasonCode: refusal.reasonCode))))
            actions.append(.close(id))
            return
        }
        let clientID = grant.clientID
        let otherParty = sessions[clientID].map { !$0.principal.isSameParty(as: principal) } ?? false
        if otherParty, sessions[clientID]?.connection != nil {
            // Another party's live client id: taking it over would let one device cut off another.
            statistics.connectionsRefused += 1
            actions.append(.notice(id, "client id '\(clientID)' is in use by another principal; '\(principal.name)' refused"))
            actions.append(.send(id, .connack(ConnAck(reasonCode: .clientIdentifierNotValid))))
            actions.append(.close(id))
            return
        }
        if let old = sessions[clientID]?.connection { takeOver(old, now: now, into: &actions) }
        // Only its own party resumes a session; anyone else starts clean.
        let cleanStart = connect.cleanStart || otherParty
        // A resumed session cancels a delayed will; a clean start ends the old session, so the will is due now.
        if let pending = pendingWills.removeValue(forKey: clientID), cleanStart {
            publishWill(pending.will, clientID: clientID, principal: pending.principal, now: now, into: &actions)
        }
        if cleanStart, let old = sessions.removeValue(forKey: clientID) {
            removeSubscriptions(of: old)
            sessionEnded(clientID)
        }
        let sessionPresent = sessions[clientID] != nil
        var session = sessions[clientID] ?? Session(clientID: clientID, principal: principal, expiryInterval: grant.sessionExpiry)
        session.principal = principal
        session.connection = id
        session.disconnectedAt = nil
        session.expiryInterval = grant.sessionExpiry
        sessions[clientID] = session
        sessionChanged(clientID)
        connections[id] = Connection(
            id: id, clientID: clientID, version: connect.protocolVersion, principal: principal,
            keepAlive: grant.keepAlive, lastActivity: now,
            clientReceiveMaximum: connect.properties.receiveMaximum ?? UInt16.max,
            clientMaximumPacketSize: connect.properties.maximumPacketSize ?? UInt32(Packet.maximumSize),
            clientTopicAliasMaximum: connect.protocolVersion == .v5 ? connect.properties.topicAliasMaximum ?? 0 : 0,
            will: connect.will, sessionExpiryAtConnect: grant.sessionExpiry)
        let connack = ConnAck(sessionPresent: sessionPresent, properties: grant.connackProperties)
        actions.append(.send(id, .connack(connack)))
        if sessionPresent { resend(clientID: clientID, now: now, into: &actions) }
    }

    /// Applies the broker's limits to a CONNECT: client id (assigned when empty), session expiry, keepalive.
    private mutating func negotiate(_ connect: Connect, now: Int64) -> Result<Grant, AuthenticationFailure> {
        let v5 = connect.protocolVersion == .v5
        if connect.properties.authenticationMethod != nil { return .failure(.init(.badAuthenticationMethod)) }
        if connections.count >= limits.maxConnections {
            return .failure(.init(v5 ? .quotaExceeded : .serverUnavailable))
        }
        var grant = Grant(
            clientID: connect.clientID,
            sessionExpiry: v5 ? connect.properties.sessionExpiryInterval ?? 0 : (connect.cleanStart ? 0 : UInt32.max),
            keepAlive: connect.keepAlive)
        if grant.clientID.isEmpty {
            guard v5 || connect.cleanStart else { return .failure(.init(.clientIdentifierNotValid)) }
            assignedIDCounter += 1
            grant.clientID = "gemba-\(now)-\(assignedIDCounter)"
            if v5 { grant.connackProperties.assignedClientIdentifier = grant.clientID }
        }
        if grant.sessionExpiry > limits.maxSessionExpiry {
            grant.sessionExpiry = limits.maxSessionExpiry
            if v5 { grant.connackProperties.sessionExpiryInterval = grant.sessionExpiry }
        }
        if let maximum = limits.maxKeepAlive, grant.keepAlive == 0 || grant.keepAlive > maximum {
            grant.keepAlive = maximum
            if v5 { grant.connackProperties.serverKeepAlive = maximum }
        }
        if v5 {
            grant.connackProperties.receiveMaximum = limits.receiveMaximum
            grant.connackProperties.maximumPacketSize = UInt32(limits.maxPacketSize)
            grant.connackProperties.topicAliasMaximum = limits.topicAliasMaximum
        }
        return .success(grant)
    }

    private mutating func takeOver(_ old: ConnectionID, now: Int64, into actions: inout [BrokerAction]) {
        if connections[old]?.version == .v5 {
            actions.append(.send(old, .disconnect(Disconnect(reasonCode: .sessionTakenOver))))
        }
        actions.append(.close(old))
        connectionClosed(old, now: now, into: &actions)
    }

    /// The network connection ended (any reason). Publishes or schedules the will unless a normal DISCONNECT cleared it.
    public mutating func connectionClosed(_ id: ConnectionID, now: Int64, into actions: inout [BrokerAction]) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        guard var session = sessions[connection.clientID], session.connection == id else { return }
        session.connection = nil
        session.disconnectedAt = now
        if let will = connection.will {
            let delay = min(will.properties.willDelayInterval ?? 0, session.expiryInterval)
            if delay == 0 {
                publishWill(will, clientID: connection.clientID, principal: connection.principal, now: now, into: &actions)
            } else {
                pendingWills[connection.clientID] = PendingWill(will: will, principal: connection.principal,
                                                                fireAt: now + Int64(delay) * 1000)
            }
        }
        if session.expiryInterval == 0 {
            sessions[connection.clientID] = nil
            removeSubscriptions(of: session)
            sessionEnded(connection.clientID)
        } else {
            sessions[connection.clientID] = session
            sessionChanged(connection.clientID)
        }
    }

    private mutating func removeSubscriptions(of session: Session) {
        for filter in session.subscriptions.keys { subscriptions.remove(filter: filter, clientID: session.clientID) }
    }

    private mutating func publishWill(_ will: Will, clientID: String, principal: Principal, now: Int64,
                                      into actions: inout [BrokerAction]) {
        guard authorizer.mayPublish(principal, clientID: clientID, topic: will.topic) else {
            statistics.droppedNotAuthorized += 1
            return
        }
        let message = Message(will: will, publisherID: clientID, now: now)
        if hasReceiver, receives(message.topic) {
            actions.append(.receive(ReceivedMessage(message: message, clientID: clientID, principal: principal),
                                    acknowledgement: nil, to: nil))
        }
        route(message, now: now, into: &actions)
    }

    // MARK: Packets

    /// A packet from a connected client (anything after its CONNECT).
    public mutating func receive(_ packet: Packet, from id: ConnectionID, now: Int64, into actions: inout [BrokerAction]) {
        guard connections.update(id, { $0.lastActivity = now }) != nil else { return }
        switch packet {
        case .publish(let publish): receivePublish(publish, from: id, now: now, into: &actions)
        case .puback(let ack): outboundAcknowledged(ack.packetID, from: id, now: now, into: &actions)
        case .pubrec(let ack): pubrec(ack, from: id, now: now, into: &actions)
        case .pubrel(let ack): pubrel(ack, from: id, into: &actions)
        case .pubcomp(let ack): outboundAcknowledged(ack.packetID, from: id, now: now, into: &actions)
        case .subscribe(let subscribe): self.subscribe(subscribe, from: id, now: now, into: &actions)
        case .unsubscribe(let unsubscribe): self.unsubscribe(unsubscribe, from: id, into: &actions)
        case .pingreq: actions.append(.send(id, .pingresp))
        case .disconnect(let disconnect): self.disconnect(disconnect, from: id, now: now, into: &actions)
        case .connect: protocolError(id, "a second CONNECT", into: &actions)
        case .auth: protocolError(id, "AUTH without an authentication method", into: &actions)
        case .connack, .suback, .unsuback, .pingresp:
            protocolError(id, "\(packet.type) is sent by servers only", into: &actions)
        }
    }

    /// Closes a connection that broke the protocol, with the reason code in v5.
    public mutating func protocolError(_ id: ConnectionID, _ why: String, code: ReasonCode = .protocolError,
                                       into actions: inout [BrokerAction]) {
        statistics.protocolErrors += 1
        if connections[id]?.version == .v5 {
            var properties = Properties()
            properties.reasonString = why
            actions.append(.send(id, .disconnect(Disconnect(reasonCode: code, properties: properties))))
        }
        actions.append(.close(id))
    }

    private mutating func receivePublish(_ publish: Publish, from id: ConnectionID, now: Int64,
                                         into actions: inout [BrokerAction]) {
        guard let topic = resolveTopic(publish, from: id, into: &actions) else { return }
        let (clientID, version, principal, inboundInflight) = connections.read(id) {
            ($0.clientID, $0.version, $0.principal, $0.inboundInflight)
        }!
        if publish.qos == .exactlyOnce, let packetID = publish.packetID,
           sessions.read(clientID, { $0.inboundQoS2.contains(packetID) }) == true {
            // A retransmission of a QoS 2 message we already own: acknowledge again, deliver nothing.
            actions.append(.send(id, .pubrec(PublishAck(packetID: packetID))))
            return
        }
        // v5 clients were told the Receive Maximum in CONNACK; 3.1.1 has none, so the shell pauses
        // reading from such a client instead (see `inboundInflight(of:)`).
        if publish.qos != .atMostOnce, version == .v5, inboundInflight >= Int(limits.receiveMaximum) {
            return protocolError(id, "more than \(limits.receiveMaximum) unacknowledged publishes",
                                 code: .receiveMaximumExceeded, into: &actions)
        }
        statistics.messagesReceived += 1
        guard authorizer.mayPublish(principal, clientID: clientID, topic: topic) else {
            statistics.droppedNotAuthorized += 1
            actions.append(.notice(id, "publish to '\(topic)' refused for '\(principal.name)' (client \(clientID))"))
            if let ack = acknowledgement(for: publish, code: .notAuthorized, version: version) {
                actions.append(.send(id, ack))
            }
            return
        }
        let message = Message(publish, topic: topic, publisherID: clientID, now: now)
        let delivered = route(message, now: now, into: &actions)
        let toReceiver = hasReceiver && receives(topic)
        let code: ReasonCode = delivered == 0 && !toReceiver ? .noMatchingSubscribers : .success
        if publish.qos == .exactlyOnce, let packetID = publish.packetID {
            sessions.update(clientID) { _ = $0.inboundQoS2.insert(packetID) }
            sessionChanged(clientID)
            connections.update(id) { $0.inboundInflight += 1 }
        }
        let ack = acknowledgement(for: publish, code: code, version: version)
        if toReceiver {
            let received = ReceivedMessage(message: message, clientID: clientID, principal: principal)
            if publish.qos == .atLeastOnce { connections.update(id) { $0.inboundInflight += 1 } }
            actions.append(.receive(received, acknowledgement: ack, to: ack == nil ? nil : id))
        } else if let ack {
            actions.append(.send(id, ack))
        }
    }

    /// The PUBLISH's topic after applying (or defining) a v5 topic alias; `nil` after a protocol error.
    private mutating func resolveTopic(_ publish: Publish, from id: ConnectionID,
                                       into actions: inout [BrokerAction]) -> String? {
        guard !publish.properties.isEmpty, let alias = publish.properties.topicAlias else { return publish.topic }
        guard alias <= limits.topicAliasMaximum else {
            protocolError(id, "topic alias \(alias) above maximum", code: .topicAliasInvalid, into: &actions)
            return nil
        }
        if !publish.topic.isEmpty {
            connections.update(id) { $0.topicAliases[alias] = publish.topic }
            return publish.topic
        }
        guard let known = connections.read(id, { $0.topicAliases[alias] }) ?? nil else {
            protocolError(id, "topic alias \(alias) was never defined", into: &actions)
            return nil
        }
        return known
    }

    private func acknowledgement(for publish: Publish, code: ReasonCode, version: ProtocolVersion) -> Packet? {
        guard let packetID = publish.packetID else { return nil }
        let ack = PublishAck(packetID: packetID, reasonCode: version == .v5 ? code : .success)
        return publish.qos == .atLeastOnce ? .puback(ack) : .pubrec(ack)
    }

    /// The receiver reported a QoS 1 message safe and the shell sent its PUBACK.
    public mutating func receiverAcknowledged(_ ack: Packet, on id: ConnectionID) {
        if case .puback = ack { connections.update(id) { $0.inboundInflight -= 1 } }
    }

    private mutating func pubrel(_ ack: PublishAck, from id: ConnectionID, into actions: inout [BrokerAction]) {
        guard let (clientID, version) = connections.read(id, { ($0.clientID, $0.version) }) else { return }
        let known = (sessions.update(clientID) { $0.inboundQoS2.remove(ack.packetID) } ?? nil) != nil
        if known {
            connections.update(id) { $0.inboundInflight -= 1 }
            sessionChanged(clientID)
        }
        let code: ReasonCode = known || version == .v311 ? .success : .packetIdentifierNotFound
        actions.append(.send(id, .pubcomp(PublishAck(packetID: ack.packetID, reasonCode: code))))
    }

    private mutating func pubrec(_ ack: PublishAck, from id: ConnectionID, now: Int64, into actions: inout [BrokerAction]) {
        guard let clientID = connections.read(id, { $0.clientID }),
              sessions.read(clientID, { $0.inflight[ack.packetID] != nil }) == true else {
            if connections.read(id, { $0.version }) == .v5 {
                actions.append(.send(id, .pubrel(PublishAck(packetID: ack.packetID, reasonCode: .packetIdentifierNotFound))))
            }
            return
        }
        if ack.reasonCode.isFailure {
            return outboundAcknowledged(ack.packetID, from: id, now: now, into: &actions)
        }
        let sequence = sessions.update(clientID) { session -> Int64 in
            session.inflight[ack.packetID]!.stage = .awaitingPubcomp
            return session.inflight[ack.packetID]!.sequence
        }!
        messageChanged(clientID, sequence)
        actions.append(.send(id, .pubrel(PublishAck(packetID: ack.packetID))))
    }

    private mutating func outboundAcknowledged(_ packetID: UInt16, from id: ConnectionID, now: Int64,
                                               into actions: inout [BrokerAction]) {
        guard let clientID = connections.read(id, { $0.clientID }),
              let removed = sessions.update(clientID, { $0.removeInflight(packetID) }) ?? nil else { return }
        messageChanged(clientID, removed.sequence)
        drainQueue(clientID: clientID, now: now, into: &actions)
    }

    private mutating func disconnect(_ disconnect: Disconnect, from id: ConnectionID, now: Int64,
                                     into actions: inout [BrokerAction]) {
        guard var connection = connections[id] else { return }
        if let expiry = disconnect.properties.sessionExpiryInterval {
            guard connection.sessionExpiryAtConnect != 0 || expiry == 0 else {
                return protocolError(id, "session expiry set on DISCONNECT after 0 at CONNECT", into: &actions)
            }
            let granted = min(expiry, limits.maxSessionExpiry)
            sessions[connection.clientID]?.expiryInterval = granted
        }
        if disconnect.reasonCode != .disconnectWithWillMessage { connection.will = nil }
        connections[id] = connection
        actions.append(.close(id))
        connectionClosed(id, now: now, into: &actions)
    }

    // MARK: Subscriptions

    private mutating func subscribe(_ subscribe: Subscribe, from id: ConnectionID, now: Int64,
                                    into actions: inout [BrokerAction]) {
        let connection = connections[id]!
        var codes: [ReasonCode] = []
        var retainedToSend: [(Message, QoS, [Int])] = []
        for subscription in subscribe.subscriptions {
            let filter = subscription.filter
            let shared = SharedSubscription(filter)
            if shared != nil, subscription.options.noLocal {
                return protocolError(id, "no-local on a shared subscription", into: &actions)
            }
            if (try? Topic.validateFilter(filter)) == nil {
                codes.append(.topicFilterInvalid)
                continue
            }
            guard case .granted(let excluded) = authorizer.subscription(connection.principal, clientID: connection.clientID,
                                                                       filter: filter) else {
                statistics.subscriptionsRefused += 1
                actions.append(.notice(id, "subscription to '\(filter)' refused for '\(connection.principal.name)' (client \(connection.clientID))"))
                codes.append(.notAuthorized)
                continue
            }
            if let session = sessions[connection.clientID], session.subscriptions[filter] == nil,
               session.subscriptions.count >= limits.maxSubscriptionsPerSession {
                statistics.subscriptionsRejected += 1
                codes.append(connection.version == .v5 ? .quotaExceeded : .unspecifiedError)
                continue
            }
            let entry = SubscriptionEntry(options: subscription.options,
                                          identifier: subscribe.properties.subscriptionIdentifiers.first, excluded: excluded)
            let existed = subscriptions.insert(filter: filter, clientID: connection.clientID, entry: entry)
            sessions[connection.clientID]?.subscriptions[filter] = entry
            sessionChanged(connection.clientID)
            codes.append(.granted(subscription.options.qos))
            let handling = subscription.options.retainHandling
            if shared == nil, handling == .sendOnSubscribe || (handling == .sendIfNew && !existed) {
                for topic in retainedIndex.topics(matching: filter) where !entry.excludes(topic) {
                    guard let message = retained[topic] else { continue }
                    retainedToSend.append((message, min(message.qos, subscription.options.qos), entry.identifier.map { [$0] } ?? []))
                }
            }
        }
        actions.append(.send(id, .suback(SubAck(packetID: subscribe.packetID, reasonCodes: codes))))
        for (message, qos, ids) in retainedToSend {
            if message.isExpired(at: now) { continue }
            deliver(message, to: connection.clientID, qos: qos, retain: true, subscriptionIDs: ids, now: now, into: &actions)
        }
    }

    /// Asks the authorizer again about every session's subscriptions (after its rules changed):
    /// refused ones are removed, the others take up their new exclusions. Returns how many were removed.
    @discardableResult
    public mutating func reauthorizeSubscriptions(into actions: inout [BrokerAction]) -> Int {
        var removed = 0
        for (clientID, session) in sessions {
            for (filter, entry) in session.subscriptions {
                switch authorizer.subscription(session.principal, clientID: clientID, filter: filter) {
                case .refused:
                    subscriptions.remove(filter: filter, clientID: clientID)
                    sessions[clientID]?.subscriptions[filter] = nil
                    sessionChanged(clientID)
                    statistics.subscriptionsRefused += 1
                    removed += 1
                    if let connection = session.connection {
                        actions.append(.notice(connection, "subscription to '\(filter)' of '\(session.principal.name)' (client \(clientID)) removed: the topic rules no longer allow it"))
                    }
                case .granted(let excluded) where excluded != entry.excluded:
                    var changed = entry
                    changed.excluded = excluded
                    subscriptions.insert(filter: filter, clientID: clientID, entry: changed)
                    sessions[clientID]?.subscriptions[filter] = changed
                    sessionChanged(clientID)
                case .granted:
                    continue
                }
            }
        }
        return removed
    }

    private mutating func unsubscribe(_ unsubscribe: Unsubscribe, from id: ConnectionID, into actions: inout [BrokerAction]) {
        let clientID = connections[id]!.clientID
        let codes = unsubscribe.filters.map { filter -> ReasonCode in
            sessions[clientID]?.subscriptions[filter] = nil
            return subscriptions.remove(filter: filter, clientID: clientID) ? .success : .noSubscriptionExisted
        }
        sessionChanged(clientID)
        actions.append(.send(id, .unsuback(UnsubAck(packetID: unsubscribe.packetID, reasonCodes: codes))))
    }

    // MARK: Routing

    /// Stores or clears the retained copy and delivers `message` to every matching subscriber; returns how many.
    @discardableResult
    mutating func route(_ message: Message, now: Int64, into actions: inout [BrokerAction]) -> Int {
        if message.retain { retain(message) }
        let matches: [MatchedSubscriber]
        do {
            // The online check reads the sessions while the trie (mutating) matches: they are moved
            // out for it and back, not copied (a shared dictionary would make each read copy it whole).
            var sessions: [String: Session] = [:]
            swap(&sessions, &self.sessions)
            defer { swap(&sessions, &self.sessions) }
            matches = subscriptions.match(topic: message.topic, publisherID: message.publisherID) {
                sessions.read($0, { $0.connection != nil }) ?? false
            }
        }
        for match in matches {
            deliver(message, to: match.clientID, qos: min(message.qos, match.qos),
                    retain: match.retainAsPublished && message.retain, subscriptionIDs: match.subscriptionIDs,
                    now: now, into: &actions)
        }
        return matches.count
    }

    /// Stores, replaces or (empty payload) clears the retained copy for the message's topic, within the limit.
    private mutating func retain(_ message: Message) {
        if message.payload.readableBytes == 0 {
            if retained.removeValue(forKey: message.topic) != nil { retainedIndex.remove(message.topic) }
        } else if retained[message.topic] != nil || retained.count < limits.maxRetainedMessages {
            if retained.updateValue(message, forKey: message.topic) == nil { retainedIndex.insert(message.topic) }
        } else {
            statistics.retainedRejected += 1
            return
        }
        if tracksChanges {
            changes.retained.insert(message.topic)
            durableChanges &+= 1
        }
    }

    private mutating func deliver(_ message: Message, to clientID: String, qos: QoS, retain: Bool,
                                  subscriptionIDs: [Int], now: Int64, into actions: inout [BrokerAction]) {
        // Read in place what is needed: a copy of the session kept alive would make the queue append
        // below copy the whole queue.
        guard let (connectionID, inflight, queued) = sessions.read(clientID, {
            ($0.connection, $0.inflight.count, $0.queue.count)
        }) else { return }
        let connection = connectionID.flatMap { connections.read($0, { $0.recipient }) }
        if qos == .atMostOnce {
            guard let connection else { return }  // QoS 0 is not queued offline.
            send(message, qos: qos, retain: retain, packetID: nil, subscriptionIDs: subscriptionIDs, dup: false,
                 connection: connection, now: now, into: &actions)
            return
        }
        if let connection, inflight < inflightWindow(connection), queued == 0 {
            startInflight(message, qos: qos, retain: retain, subscriptionIDs: subscriptionIDs,
                          connection: connection, now: now, into: &actions)
            return
        }
        guard queued < limits.maxQueuedMessagesPerSession else {
            statistics.droppedQueueFull += 1
            return
        }
        let sequence = takeSequence()
        sessions.update(clientID) {
            $0.queue.append(QueuedMessage(sequence: sequence, message: message, qos: qos, retain: retain,
                                          subscriptionIDs: subscriptionIDs))
        }
        messageChanged(clientID, sequence)
    }

    private mutating func takeSequence() -> Int64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    private func inflightWindow(_ connection: Recipient) -> Int {
        min(connection.receiveMaximum, limits.maxInflightPerSession)
    }

    /// Sends a message under a new packet id and keeps it until acknowledged; `sequence` is a queued message's.
    private mutating func startInflight(_ message: Message, qos: QoS, retain: Bool, subscriptionIDs: [Int], sequence: Int64? = nil,
                                        connection: Recipient, now: Int64, into actions: inout [BrokerAction]) {
        let sequence = sequence ?? takeSequence()
        defer { messageChanged(connection.clientID, sequence) }
        let packetID = sessions.update(connection.clientID) { $0.nextPacketID() }!
        let sent = send(message, qos: qos, retain: retain, packetID: packetID, subscriptionIDs: subscriptionIDs,
                        dup: false, connection: connection, now: now, into: &actions)
        guard sent else { return }
        let inflight = InflightMessage(sequence: sequence, message: message, qos: qos, retain: retain,
                                       subscriptionIDs: subscriptionIDs,
                                       stage: qos == .atLeastOnce ? .awaitingPuback : .awaitingPubrec)
        sessions.update(connection.clientID) { $0.addInflight(packetID, inflight) }
    }

    @discardableResult
    private mutating func send(_ message: Message, qos: QoS, retain: Bool, packetID: UInt16?, subscriptionIDs: [Int],
                               dup: Bool, connection: Recipient, now: Int64, into actions: inout [BrokerAction]) -> Bool {
        var publish = message.publish(qos: qos, retain: retain, packetID: packetID, subscriptionIDs: subscriptionIDs,
                                      dup: dup, now: now)
        if connection.maximumPacketSize < Packet.maximumSize,
           let size = try? publish.encodedSize(version: connection.version), size > connection.maximumPacketSize {
            statistics.droppedTooLarge += 1
            return false
        }
        if connection.topicAliasMaximum > 0 { applyOutboundAlias(to: &publish, on: connection.id) }
        statistics.messagesDelivered += 1
        actions.append(.send(connection.id, .publish(consume publish)))
        return true
    }

    /// Sends a topic the connection has an alias for as the alias alone; gives the next topics aliases
    /// (topic and alias together, once) until the client's Topic Alias Maximum is reached.
    private mutating func applyOutboundAlias(to publish: inout Publish, on id: ConnectionID) {
        connections.update(id) { connection in
            if let alias = connection.outboundAliases[publish.topic] {
                publish.properties.topicAlias = alias
                publish.topic = ""
            } else if connection.outboundAliases.count < Int(connection.clientTopicAliasMaximum) {
                let alias = UInt16(connection.outboundAliases.count + 1)
                connection.outboundAliases[publish.topic] = alias
                publish.properties.topicAlias = alias
            }
        }
    }

    /// Moves queued messages into the in-flight window as it frees up.
    private mutating func drainQueue(clientID: String, now: Int64, into actions: inout [BrokerAction]) {
        guard let connectionID = sessions.read(clientID, { $0.connection }) ?? nil,
              let connection = connections.read(connectionID, { $0.recipient }) else { return }
        let window = inflightWindow(connection)
        while let next = sessions.update(clientID, { $0.inflight.count < window ? $0.queue.popFirst() : nil }) ?? nil {
            if next.message.isExpired(at: now) {
                statistics.droppedExpired += 1
                messageChanged(clientID, next.sequence)
                continue
            }
            startInflight(next.message, qos: next.qos, retain: next.retain, subscriptionIDs: next.subscriptionIDs,
                          sequence: next.sequence, connection: connection, now: now, into: &actions)
        }
    }

    /// Redelivers a resumed session's unacknowledged messages (DUP set, same packet ids), then its queue.
    private mutating func resend(clientID: String, now: Int64, into actions: inout [BrokerAction]) {
        guard let session = sessions[clientID], let connectionID = session.connection,
              let connection = connections[connectionID]?.recipient else { return }
        for packetID in session.inflightOrder {
            guard let inflight = session.inflight[packetID] else { continue }
            if inflight.stage == .awaitingPubcomp {
                actions.append(.send(connectionID, .pubrel(PublishAck(packetID: packetID))))
            } else {
                send(inflight.message, qos: inflight.qos, retain: inflight.retain, packetID: packetID,
                     subscriptionIDs: inflight.subscriptionIDs, dup: true, connection: connection, now: now,
                     into: &actions)
            }
        }
        drainQueue(clientID: clientID, now: now, into: &actions)
    }

    // MARK: Time

    /// Enforces keepalive (1.5 × the interval), fires delayed wills and ends expired sessions.
    ///
    /// Every connection and session is looked at where it is stored, not copied: a tick of a broker
    /// with thousands of idle devices would otherwise retain and release every record's references.
    public mutating func tick(now: Int64, into actions: inout [BrokerAction]) {
        let lapsed = connections.values.indices.compactMap { index in
            connections.values[index].hasLapsed(at: now) ? connections.values[index].id : nil
        }
        for id in lapsed {
            protocolError(id, "no packet within 1.5 × keep alive", code: .keepAliveTimeout, into: &actions)
        }
        for (clientID, pending) in pendingWills
        where pending.fireAt <= now || sessions.read(clientID, { $0.isExpired(at: now) }) ?? true {
            pendingWills[clientID] = nil
            sessionChanged(clientID)
            publishWill(pending.will, clientID: clientID, principal: pending.principal, now: now, into: &actions)
        }
        let expired = sessions.values.indices.compactMap { index in
            sessions.values[index].isExpired(at: now) ? sessions.keys[index] : nil
        }
        for clientID in expired {
            guard let session = sessions.removeValue(forKey: clientID) else { continue }
            removeSubscriptions(of: session)
            sessionEnded(clientID)
        }
    }
}
