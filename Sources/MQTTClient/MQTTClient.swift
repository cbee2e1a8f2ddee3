import DequeModule
public import Logging
public import MQTTCodec
public import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// An MQTT 3.1.1/5.0 client: connect, publish with QoS 0/1/2, subscribe, and read incoming messages
/// from ``messages``. Reconnects with backoff after losing an established connection, resends
/// unacknowledged messages and, when the server lost the session, subscribes again.
///
/// All state lives on one event loop; the async methods hop onto it.
public final class MQTTClient: @unchecked Sendable {
    private enum State {
        case idle
        case connecting(attempt: Int)
        case connected(any Channel)
        case waitingToReconnect
        case closed
    }

    public let configuration: MQTTClientConfiguration
    /// Every PUBLISH the server sends, in order. With
    /// ``MQTTClientConfiguration/manualAcknowledgement``, call ``InboundMessage/acknowledge()`` on
    /// each once it is safe (committed).
    public let messages: AsyncStream<InboundMessage>
    private let messageSink: AsyncStream<InboundMessage>.Continuation
    /// Takes every PUBLISH on the event loop instead of ``messages``, when given.
    private let handler: (@Sendable (InboundMessage) -> Void)?
    /// Told on the event loop each time a connection is established (the first and each reconnect).
    private let connected: (@Sendable () -> Void)?
    /// Tokens acknowledged off the event loop, waiting for the one task that hands them all to it.
    private let acknowledged = Mutex<[UInt64]>([])
    private let loop: any EventLoop
    private let logger: Logger

    // Confined to `loop`.
    private var state = State.idle
    private var session: ClientSession
    private var clientID: String
    private var connectPromise: EventLoopPromise<ConnAck>?
    private var pending: [UInt16: EventLoopPromise<Packet>] = [:]
    private var backlog: Deque<(Publish, EventLoopPromise<Packet>)> = []
    private var inflightPublishes = 0
    private var sendWindow = Int(UInt16.max)
    private var keepAliveTask: RepeatedTask?
    private var pingOutstanding = false
    private var flushScheduled = false
    private var version: ProtocolVersion
    private var reconnectCount = 0
    private var droppedMessages = 0
    /// Reading stopped because `messageBufferLimit` messages wait for their acknowledgement.
    private var readingPaused = false
    /// Reading stopped by the application (``holdReading()``).
    private var readingHeld = false

    /// With `onMessage`, every PUBLISH is handed to it on the client's event loop, in order, and
    /// ``messages`` stays empty: no task switch per message. `onConnected` is called on the event
    /// loop each time a connection is established (before `connect()` returns), so a user can act
    /// on a reconnect without polling ``reconnects``. Neither handler may block.
    public init(configuration: MQTTClientConfiguration, logger: Logger = Logger(label: "mqtt.client"),
                eventLoopGroup: (any EventLoopGroup)? = nil, onMessage handler: (@Sendable (InboundMessage) -> Void)? = nil,
                onConnected connected: (@Sendable () -> Void)? = nil) {
        self.configuration = configuration
        self.handler = handler
        self.connected = connected
        self.logger = logger
        self.loop = (eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton).next()
        self.clientID = configuration.clientID
        self.version = configuration.version
        self.session = ClientSession(manualAcknowledgement: configuration.manualAcknowledgement)
        // With manual acknowledgement the buffer is bounded by pausing reads instead (no message may be dropped).
        (messages, messageSink) = AsyncStream.makeStream(of: InboundMessage.self,
                                                         bufferingPolicy: configuration.manualAcknowledgement
                                                             ? .unbounded : .bufferingOldest(configuration.messageBufferLimit))
    }

    // MARK: Public API

    /// Opens the connection and waits for CONNACK; throws if the server refuses.
    @discardableResult
    public func connect() async throws -> ConnAck {
        try await loop.flatSubmit { [self] in
            let promise = loop.makePromise(of: ConnAck.self)
            connectPromise = promise
            openConnection(attempt: 0, cleanStart: configuration.cleanStart)
            return promise.futureResult
        }.get()
    }

    /// Publishes; returns once the QoS flow completes (PUBACK, or PUBCOMP for QoS 2) with the final ack,
    /// or immediately for QoS 0 (`nil`). Throws when the server rejects it with a failure reason code.
    @discardableResult
    public func publish(_ topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
                        properties: Properties = Properties()) async throws -> Packet? {
        let publish = Publish(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        let ack = try await loop.flatSubmit { [self] in startPublish(publish) }.get()
        switch ack {
        case .puback(let result)? where result.reasonCode.isFailure, .pubrec(let result)? where result.reasonCode.isFailure:
            throw MQTTClientError(.rejected, reasonCode: result.reasonCode, "PUBLISH to \(topic) rejected")
        default:
            return ack
        }
    }

    /// Convenience for string payloads.
    @discardableResult
    public func publish(_ topic: String, _ payload: String, qos: QoS = .atMostOnce, retain: Bool = false,
                        properties: Properties = Properties()) async throws -> Packet? {
        try await publish(topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties)
    }

    /// Subscribes and returns the server's SUBACK (check its reason codes for refusals).
    @discardableResult
    public func subscribe(_ subscriptions: [Subscription], properties: Properties = Properties()) async throws -> SubAck {
        let packet = try await loop.flatSubmit { [self] () -> EventLoopFuture<Packet> in
            let subscribe = session.subscribe(subscriptions, properties: properties)
            return track(subscribe.packetID, send: .subscribe(subscribe))
        }.get()
        guard case .suback(let suback) = packet else { preconditionFailure("SUBSCRIBE completed by \(packet.type)") }
        return suback
    }

    /// Subscribes to one filter at `qos`.
    @discardableResult
    public func subscribe(_ filter: String, qos: QoS = .atMostOnce) async throws -> SubAck {
        try await subscribe([Subscription(filter: filter, options: SubscriptionOptions(qos: qos))])
    }

    @discardableResult
    public func unsubscribe(_ filters: [String], properties: Properties = Properties()) async throws -> UnsubAck {
        let packet = try await loop.flatSubmit { [self] () -> EventLoopFuture<Packet> in
            let unsubscribe = session.unsubscribe(filters, properties: properties)
            return track(unsubscribe.packetID, send: .unsubscribe(unsubscribe))
        }.get()
        guard case .unsuback(let unsuback) = packet else { preconditionFailure("UNSUBSCRIBE completed by \(packet.type)") }
        return unsuback
    }

    /// Sends DISCONNECT and closes; no reconnect follows. Pending operations fail with `connectionClosed`.
    public func disconnect(_ disconnect: Disconnect = Disconnect()) async {
        let close: EventLoopFuture<Void> = loop.flatSubmit { [self] in
            let channel: (any Channel)? = if case .connected(let channel) = state { channel } else { nil }
            state = .closed
            guard let channel else {
                failAll(MQTTClientError(.connectionClosed, "client disconnected"))
                return loop.makeSucceededVoidFuture()
            }
            return channel.writeAndFlush(Packet.disconnect(disconnect)).flatMap { channel.close() }
        }
        try? await close.get()
        messageSink.finish()
    }

    /// Whether a connection is established right now.
    public var isConnected: Bool {
        get async { (try? await loop.submit { [self] in if case .connected = state { true } else { false } }.get()) ?? false }
    }

    /// How many times the client reconnected after losing a connection.
    public var reconnects: Int {
        get async { (try? await loop.submit { [self] in reconnectCount }.get()) ?? 0 }
    }

    /// QoS 1/2 publishes sent or waiting to be sent whose flow has not completed.
    public var inflightPublishCount: Int {
        get async { (try? await loop.submit { [self] in inflightPublishes + backlog.count }.get()) ?? 0 }
    }

    /// Messages dropped because ``messages`` held `messageBufferLimit` unread ones.
    public var droppedMessageCount: Int {
        get async { (try? await loop.submit { [self] in droppedMessages }.get()) ?? 0 }
    }

    /// Closes the TCP connection abruptly, without DISCONNECT (so the server publishes the will).
    /// Reconnect follows if configured. For tests and tools.
    public func dropConnection() async {
        try? await loop.flatSubmit { [self] in
            if case .connected(let channel) = state { return channel.close() }
            return loop.makeSucceededVoidFuture()
        }.get()
    }

    // MARK: Connection lifecycle (on the loop)

    private func openConnection(attempt: Int, cleanStart: Bool) {
        state = .connecting(attempt: attempt)
        let configuration = self.configuration
        let version = self.version
        var connect = Connect(protocolVersion: version, clientID: clientID, cleanStart: cleanStart,
                              keepAlive: configuration.keepAlive, username: configuration.username,
                              password: configuration.password, will: configuration.will,
                              properties: configuration.connectProperties)
        if version == .v311 {
            connect.properties = Properties()
        } else if configuration.manualAcknowledgement && connect.properties.receiveMaximum == nil {
            // Unacknowledged messages then fit in the buffer: none is dropped while waiting for its commit.
            connect.properties.receiveMaximum = UInt16(clamping: max(1, configuration.messageBufferLimit))
        }
        let request = connect
        let tls: NIOSSLContext?
        do {
            tls = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        } catch {
            return connectionFailed(error)
        }
        let hostname = configuration.serverHostname ?? configuration.host
        ClientBootstrap(group: loop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handlers = channel.pipeline.syncOperations
                    if let tls { try handlers.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: hostname)) }
                    try handlers.addHandler(ByteToMessageHandler(PacketDecoder(version: version)))
                    try handlers.addHandler(MessageToByteHandler(PacketEncoder(version: version)))
                    try handlers.addHandler(ClientChannelHandler(client: self, connect: request))
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .whenFailure { [self] error in connectionFailed(error) }
    }

    private func connectionFailed(_ error: any Error) {
        if let promise = connectPromise {
            connectPromise = nil
            state = .idle
            promise.fail(error)
            return
        }
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard case .connecting(let attempt) = state, let policy = configuration.reconnect else {
            if case .closed = state { return }
            state = .closed
            failAll(MQTTClientError(.connectionClosed, "connection lost"))
            messageSink.finish()
            return
        }
        state = .waitingToReconnect
        let delay = policy.delay(attempt: attempt)
        logger.info("MQTT reconnecting", metadata: ["mqtt.attempt": "\(attempt + 1)", "mqtt.delay_ms": "\(delay.nanoseconds / 1_000_000)"])
        loop.scheduleTask(in: delay) { [self] in
            guard case .waitingToReconnect = state else { return }
            openConnection(attempt: attempt + 1, cleanStart: !configuration.sessionPersists && configuration.cleanStart)
        }
    }

    fileprivate func connected(_ connack: ConnAck, channel: any Channel) {
        guard case .connecting(let attempt) = state else { return }
        guard !connack.reasonCode.isFailure else {
            let error = MQTTClientError(.connectionRefused, reasonCode: connack.reasonCode, "server refused the connection")
            // Settle state before closing: close() runs channelInactive synchronously.
            if let promise = connectPromise {
                connectPromise = nil
                state = .closed
                channel.close(promise: nil)
                promise.fail(error)
            } else {
                logger.warning("MQTT reconnect refused", metadata: ["mqtt.reason": "\(connack.reasonCode)"])
                channel.close(promise: nil)
            }
            return
        }
        if attempt > 0 || connectPromise == nil { reconnectCount += 1 }
        state = .connected(channel)
        if readingPaused || readingHeld { updateReading(channel) }
        if let assigned = connack.properties.assignedClientIdentifier { clientID = assigned }
        sendWindow = Int(connack.properties.receiveMaximum ?? UInt16.max)
        inflightPublishes = 0
        for packet in session.resume(sessionPresent: connack.sessionPresent) {
            if case .publish = packet { inflightPublishes += 1 }
            channel.write(packet, promise: nil)
        }
        drainBacklog()
        channel.flush()
        startKeepAlive(seconds: connack.properties.serverKeepAlive ?? configuration.keepAlive, channel: channel)
        connected?()
        connectPromise?.succeed(connack)
        connectPromise = nil
    }

    fileprivate func channelClosed(_ channel: any Channel) {
        keepAliveTask?.cancel()
        keepAliveTask = nil
        switch state {
        case .connected(let current) where current === channel:
            logger.info("MQTT connection lost")
            state = .connecting(attempt: 0)
            scheduleReconnect()
        case .connecting:
            connectionFailed(MQTTClientError(.connectionClosed, "connection closed before CONNACK"))
        default:
            break
        }
    }

    private func startKeepAlive(seconds: UInt16, channel: any Channel) {
        keepAliveTask?.cancel()
        pingOutstanding = false
        guard seconds > 0 else { return }
        keepAliveTask = loop.scheduleRepeatedTask(initialDelay: .seconds(Int64(seconds)), delay: .seconds(Int64(seconds))) { [self] _ in
            if pingOutstanding {
                logger.warning("MQTT server did not answer PINGREQ; closing")
                channel.close(promise: nil)
                return
            }
            pingOutstanding = true
            channel.writeAndFlush(Packet.pingreq, promise: nil)
        }
    }

    // MARK: Operations (on the loop)

    private func startPublish(_ publish: Publish) -> EventLoopFuture<Packet?> {
        if publish.qos == .atMostOnce {
            guard case .connected(let channel) = state else {
                return loop.makeFailedFuture(MQTTClientError(.notConnected, "QoS 0 needs a live connection"))
            }
            write(.publish(publish), on: channel)
            return loop.makeSucceededFuture(nil)
        }
        if case .closed = state { return loop.makeFailedFuture(MQTTClientError(.connectionClosed, "client is closed")) }
        let promise = loop.makePromise(of: Packet.self)
        backlog.append((publish, promise))
        drainBacklog()
        return promise.futureResult.map { Optional($0) }
    }

    /// Sends queued publishes while the server's receive maximum allows.
    private func drainBacklog() {
        while inflightPublishes < sendWindow, let (publish, promise) = backlog.popFirst() {
            let tracked = session.publish(publish)
            pending[tracked.packetID!] = promise
            inflightPublishes += 1
            if case .connected(let channel) = state { write(.publish(tracked), on: channel) }
        }
    }

    private func track(_ id: UInt16, send packet: Packet) -> EventLoopFuture<Packet> {
        let promise = loop.makePromise(of: Packet.self)
        pending[id] = promise
        if case .connected(let channel) = state {
            write(packet, on: channel)
        } else if case .closed = state {
            pending[id] = nil
            promise.fail(MQTTClientError(.connectionClosed, "client is closed"))
        }
        return promise.futureResult
    }

    /// Writes now and flushes once at the end of this loop tick, so bursts share a syscall.
    private func write(_ packet: Packet, on channel: any Channel) {
        channel.write(packet, promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            channel.flush()
        }
    }

    fileprivate func received(_ packet: Packet, channel: any Channel) {
        pingOutstanding = false
        if case .disconnect(let disconnect) = packet {
            logger.warning("MQTT server disconnected us", metadata: ["mqtt.reason": "\(disconnect.reasonCode)"])
            channel.close(promise: nil)
            return
        }
        for action in session.receive(packet) {
            switch action {
            case .send(let reply):
                write(reply, on: channel)
            case .deliver(let publish, let token):
                let message = InboundMessage(publish: publish, acknowledgement: token.map { ($0, self) })
                if let handler {
                    handler(message)
                } else if case .dropped = messageSink.yield(message) {
                    droppedMessages += 1
                }
            case .complete(let id, let ack):
                switch ack {
                case .puback, .pubrec, .pubcomp: inflightPublishes -= 1
                default: break
                }
                pending.removeValue(forKey: id)?.succeed(ack)
            }
        }
        pauseReadingIfBehind(channel)
        drainBacklog()
    }

    /// Sends what acknowledging `token` makes due, on the connection of the moment: after a
    /// reconnect the server resends what it has not had acknowledged, and a resent copy's own
    /// acknowledgement supersedes the old one.
    /// Acknowledgements that arrive together off the loop (a commit's worth) reach it in one task.
    fileprivate func acknowledge(_ token: UInt64) {
        if loop.inEventLoop { return settle([token]) }
        let first = acknowledged.withLock { tokens in
            tokens.append(token)
            return tokens.count == 1
        }
        guard first else { return }
        loop.execute { [self] in
            settle(acknowledged.withLock { tokens in
                defer { tokens.removeAll(keepingCapacity: true) }
                return tokens
            })
        }
    }

    private func settle(_ tokens: [UInt64]) {
        var packets: [Packet] = []
        for token in tokens { packets += session.acknowledge(token) }
        guard case .connected(let channel) = state else { return }
        for packet in packets { write(packet, on: channel) }
        if readingPaused && session.unacknowledgedCount <= configuration.messageBufferLimit / 2 {
            readingPaused = false
            updateReading(channel)
        }
    }

    /// Stops reading from the server (TCP then pushes back on it) until ``resumeReading()``: for an
    /// application whose own queue is full.
    public func holdReading() {
        loop.execute { [self] in
            readingHeld = true
            if case .connected(let channel) = state { updateReading(channel) }
        }
    }

    /// Reads again after ``holdReading()``.
    public func resumeReading() {
        loop.execute { [self] in
            readingHeld = false
            if case .connected(let channel) = state { updateReading(channel) }
        }
    }

    private func updateReading(_ channel: any Channel) {
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: !(readingPaused || readingHeld))
    }

    /// With manual acknowledgement, every message waiting for the application is unacknowledged:
    /// past `messageBufferLimit` of them, the client stops reading (TCP then pushes back on the
    /// server) until the application has caught up by half, whatever the server's flow control.
    private func pauseReadingIfBehind(_ channel: any Channel) {
        guard configuration.manualAcknowledgement, !readingPaused,
              session.unacknowledgedCount >= configuration.messageBufferLimit else { return }
        readingPaused = true
        updateReading(channel)
    }

    private func failAll(_ error: MQTTClientError) {
        for (_, promise) in pending { promise.fail(error) }
        pending.removeAll()
        for (_, promise) in backlog { promise.fail(error) }
        backlog.removeAll()
        connectPromise?.fail(error)
        connectPromise = nil
    }

    deinit {
        messageSink.finish()
    }
}

/// Sends CONNECT when the channel opens and forwards packets to the client on its loop.
private final class ClientChannelHandler: ChannelInboundHandler {
    typealias InboundIn = Packet
    typealias OutboundOut = Packet

    private let client: MQTTClient
    private let connect: Connect
    private var connected = false

    init(client: MQTTClient, connect: Connect) {
        self.client = client
        self.connect = connect
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(.connect(connect)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = Self.unwrapInboundIn(data)
        if !connected {
            guard case .connack(let connack) = packet else {
                context.close(promise: nil)
                return
            }
            connected = true
            client.connected(connack, channel: context.channel)
            return
        }
        client.received(packet, channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        client.channelClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A message from the server. With manual acknowledgement, its QoS 1/2 acknowledgement waits for
/// ``acknowledge()``; otherwise it was acknowledged on arrival and `acknowledge()` does nothing.
public struct InboundMessage: Sendable {
    public let publish: Publish
    private let acknowledgement: (token: UInt64, client: MQTTClient)?

    init(publish: Publish, acknowledgement: (UInt64, MQTTClient)?) {
        self.publish = publish
        self.acknowledgement = acknowledgement
    }

    public var topic: String { publish.topic }
    public var payload: ByteBuffer { publish.payload }

    /// The application is done with the message (stored it, or refused it for good): the server
    /// may forget it. Acknowledgements reach the server in the order the messages arrived.
    public func acknowledge() {
        guard let acknowledgement else { return }
        acknowledgement.client.acknowledge(acknowledgement.token)
    }
}
