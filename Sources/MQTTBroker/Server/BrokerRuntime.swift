import DequeModule
import Foundation
import Logging
import MQTTCodec
import Metrics
import NIOCore
import NIOPosix

/// Executes the broker core's actions on the broker's one event loop: every method must run there.
///
/// Outbound packets are encoded into a per-connection buffer and written with one flush per loop
/// iteration, so a burst of publishes costs one syscall per subscriber, not one per message.
final class BrokerRuntime: @unchecked Sendable {
    let loop: BrokerLoop
    /// The largest packet a connection may send.
    let maximumPacketSize: Int
    private let connectTimeout: Int64
    private var state: BrokerState
    private let receiver: (any PublishReceiver)?
    let logger: Logger
    /// Who may connect; the connections' handlers ask it.
    let authenticator: any Authenticator
    private var slots: [ConnectionID: BrokerConnection] = [:]
    /// Connections that have not sent CONNECT yet, with the broker time by which they must, in
    /// registration order (the timeout is the same for all, so deadlines come in order). The tick
    /// closes those late; idle connected devices hold no timer.
    private var awaitingConnect: Deque<(id: ConnectionID, deadline: Int64)> = []
    /// Slots with bytes to write or a close to perform at the next flush.
    private var dirty: [BrokerConnection] = []
    /// The slots the flush under way writes (``dirty``'s storage from the flush before).
    private var flushing: [BrokerConnection] = []
    private var actions: [BrokerAction] = []
    private var nextID = 0
    let allocator = ByteBufferAllocator()
    /// Connections whose reading is paused until the receiver catches up.
    private var paused: Set<ConnectionID> = []
    /// Connections paused because they have `receiveMaximum` acknowledgements outstanding (3.1.1 flow control).
    private var flowPaused: Set<ConnectionID> = []
    private var batchTime: Int64?
    private let metrics = BrokerMetrics()
    private var reported = BrokerStatistics()
    private let persistence: (any BrokerPersistence)?
    /// Whether a save is being written (one at a time; changes gather meanwhile).
    private(set) var isSaving = false
    /// See ``BrokerConfiguration/durableAcknowledgements``.
    private let durableAcknowledgements: Bool
    /// While the actions of a QoS 1/2 publish that changed saved state run: its publisher, and the
    /// mark the save that holds it must reach.
    private var durableHold: (mark: UInt64, publisher: ConnectionID)?
    /// Acknowledgements waiting for a save, in mark order.
    private var awaitingSave: Deque<(mark: UInt64, id: ConnectionID, queue: AckQueue, sequence: Int)> = []
    private var saveRequested = false
    /// How long changes gather before they are saved (``BrokerConfiguration/saveInterval``).
    private let saveInterval: TimeAmount
    /// The save of the changes made since the last; nil while none wait, so an idle broker sets no timer.
    private var scheduledSave: Scheduled<Void>?
    /// Set at shutdown: the last save takes what is left.
    private var savingStopped = false
    private var lastSaveErrorLogged: Int64?

    init(loop: BrokerLoop, configuration: BrokerConfiguration, logger: Logger) {
        self.loop = loop
        self.maximumPacketSize = configuration.limits.maxPacketSize
        self.connectTimeout = configuration.connectTimeout
        self.coalescer = ReadCoalescer(longestWait: UInt64(max(0, configuration.readCoalescing.nanoseconds)))
        self.receiver = configuration.receiver
        self.logger = logger
        self.authenticator = configuration.authenticator
        self.durableAcknowledgements = configuration.persistence != nil && configuration.durableAcknowledgements
        self.persistence = configuration.persistence
        self.saveInterval = .milliseconds(configuration.saveInterval)
        self.state = BrokerState(limits: configuration.limits, authorizer: configuration.authorizer,
                                 hasReceiver: configuration.receiver != nil, tracksChanges: configuration.persistence != nil,
                                 receives: Self.topicFilter(of: configuration.receiver))
        actions.reserveCapacity(64)
        dirty.reserveCapacity(64)
    }

    /// Which topics go to the receiver. The receiver is captured unwrapped: asking an optional
    /// existential copies it (retaining what it holds) at every PUBLISH.
    private static func topicFilter(of receiver: (any PublishReceiver)?) -> @Sendable (String) -> Bool {
        guard let receiver else { return { _ in false } }
        return { receiver.wants(topic: $0) }
    }

    /// Broker time in ms, read once per batch of reads (reset at each flush).
    private func now() -> Int64 {
        if let batchTime { return batchTime }
        let time = Self.clock()
        batchTime = time
        return time
    }

    /// Broker time in ms, read now.
    private static func clock() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    /// Gives a connection that was accepted its id; its writes go through the runtime until ``closed(_:)``.
    func register(_ slot: BrokerConnection) {
        nextID += 1
        slot.id = ConnectionID(nextID)
        slots[slot.id] = slot
        // The clock, not the batch's time: no flush follows a new connection to reset that.
        awaitingConnect.append((slot.id, Self.clock() + connectTimeout * 1000))
    }

    /// Records the version a connection's CONNECT named; every packet to it is encoded in that version.
    func setVersion(_ version: ProtocolVersion, for id: ConnectionID) { slots[id]?.version = version }

    func connect(_ connect: Connect, principal: Principal, on id: ConnectionID) {
        guard slots[id] != nil else { return }
        state.connect(connect, principal: principal, on: id, now: now(), into: &actions)
        executeActions(flush: true)
    }

    func refuse(_ id: ConnectionID, code: ReasonCode) {
        write(.connack(ConnAck(reasonCode: code)), to: id)
        close(id)
        flush()
    }

    func receive(_ packet: Packet, from id: ConnectionID) {
        let before = state.durableChanges
        if case .publish = packet { coalescer.published(by: id) }
        state.receive(packet, from: id, now: now(), into: &actions)
        if durableAcknowledgements, state.durableChanges != before, case .publish(let publish) = packet, publish.qos != .atMostOnce {
            // A QoS 1/2 message a restart must find: its acknowledgement waits for the save that holds it.
            durableHold = (state.durableChanges, id)
        }
        executeActions(flush: false)
        if durableHold != nil {
            durableHold = nil
            requestSave()
        }
    }

    func protocolError(_ id: ConnectionID, _ error: MQTTCodecError) {
        logger.warning("MQTT protocol error", metadata: ["mqtt.connection": "\(id)", "mqtt.error": "\(error)"])
        state.protocolError(id, error.context, code: error.reasonCode, into: &actions)
        executeActions(flush: true)
    }

    func closed(_ id: ConnectionID) {
        slots[id] = nil
        paused.remove(id)
        flowPaused.remove(id)
        state.connectionClosed(id, now: now(), into: &actions)
        executeActions(flush: true)
    }

    func tick() {
        batchTime = nil
        closeSilentConnections()
        state.tick(now: now(), into: &actions)
        executeActions(flush: true)
        reportMetrics()
    }

    /// Closes the connections that have not sent CONNECT in time (a connection whose CONNECT came
    /// has its version set).
    private func closeSilentConnections() {
        let time = now()
        while let first = awaitingConnect.first, first.deadline <= time {
            awaitingConnect.removeFirst()
            guard let slot = slots[first.id], slot.version == nil else { continue }
            logger.info("no CONNECT in time; closing", metadata: ["mqtt.connection": "\(first.id)"])
            close(first.id)
        }
    }

    /// Routes a message the server itself publishes (no connection, no receiver hand-off).
    func publishLocal(_ message: Message) {
        state.route(message, now: now(), into: &actions)
        executeActions(flush: true)
    }

    /// Re-checks every subscription after the authorizer's rules changed.
    func reauthorize() -> Int {
        let removed = state.reauthorizeSubscriptions(into: &actions)
        executeActions(flush: true)
        return removed
    }

    /// Sends DISCONNECT "server shutting down" to v5 clients and closes every connection.
    func shutdown() {
        for (id, slot) in slots {
            if slot.version == .v5 { write(.disconnect(Disconnect(reasonCode: .serverShuttingDown)), to: id) }
            close(id)
        }
        flush()
    }

    // MARK: Persistence

    /// Wall-clock ms minus broker ms: saved times are wall-clock.
    static func clockOffset() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000) - clock()
    }

    func restore(_ image: BrokerImage) {
        state.restore(image, now: now())
    }

    /// Saves `saveInterval` after the first change since the last save (every flush asks, a tick's too).
    private func scheduleSave() {
        // Unsaved changes are tracked only with persistence configured.
        guard scheduledSave == nil, !savingStopped, state.hasUnsavedChanges else { return }
        scheduledSave = loop.scheduleTask(in: saveInterval) { [self] in
            scheduledSave = nil
            save()
        }
    }

    /// Stops scheduling saves: the last save at shutdown takes what is left.
    func stopSaving() {
        savingStopped = true
        scheduledSave?.cancel()
        scheduledSave = nil
    }

    /// Writes what changed since the last save on a pool thread, one save at a time: `saveInterval`
    /// after the first change, and at once (group commit) while acknowledgements wait for a save. A
    /// failed save (a full disk) is logged at most once a minute and retried with the next; serving goes on.
    func save() {
        saveRequested = false
        guard let persistence, !isSaving else { return }
        let mark = state.durableChanges
        let delta = state.takeChanges()
        guard !delta.isEmpty else { return saved(through: mark) }
        isSaving = true
        let offset = Self.clockOffset()
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { try persistence.save(delta, clockOffset: offset) }
            .whenComplete { [self] result in
                isSaving = false
                switch result {
                case .success:
                    metrics.savedChanges.increment(by: delta.count)
                    saved(through: mark)
                case .failure(let error):
                    state.saveFailed(delta)
                    metrics.saveFailures.increment()
                    let time = now()
                    if lastSaveErrorLogged.map({ time - $0 >= 60_000 }) ?? true {
                        lastSaveErrorLogged = time
                        logger.error("the MQTT broker could not save its sessions and retained messages; it keeps serving and retries",
                                     metadata: ["error": "\(error)"])
                    }
                    // Serving goes on: the acknowledgements waiting go out, without the save's guarantee.
                    saved(through: .max)
                }
                if !awaitingSave.isEmpty { requestSave() }
                scheduleSave()
            }
    }

    /// Releases the acknowledgements whose messages a finished save holds.
    private func saved(through mark: UInt64) {
        guard !awaitingSave.isEmpty else { return }
        while let first = awaitingSave.first, first.mark <= mark {
            awaitingSave.removeFirst()
            guard let slot = slots[first.id], slot.acks === first.queue else { continue }
            release(first.queue.markDone(first.sequence), to: first.id)
        }
        flush()
    }

    private func requestSave() {
        guard !saveRequested, !isSaving else { return }
        saveRequested = true
        loop.execute { [self] in save() }
    }

    /// The changes not yet saved, for the last save at shutdown.
    func takeChanges() -> BrokerDelta { state.takeChanges() }

    // MARK: Executing actions

    private func executeActions(flush shouldFlush: Bool) {
        var index = 0
        while index < actions.count {
            let action = actions[index]
            index += 1
            switch action {
            case .send(let id, let packet): send(packet, to: id)
            case .close(let id): close(id)
            case .receive(let message, let ack, let id): hand(message, ack: ack, to: id)
            case .notice(let id, let text): logger.notice("\(text)", metadata: ["mqtt.connection": "\(id)"])
            }
        }
        actions.removeAll(keepingCapacity: true)
        if shouldFlush { flush() }
    }

    /// Writes a packet, except that a publisher's acknowledgement keeps its place behind those still
    /// held (for the receiver or a save) and is itself held while its message waits for a save.
    private func send(_ packet: Packet, to id: ConnectionID) {
        switch packet {
        case .puback, .pubrec:
            guard let slot = slots[id] else { return }
            let hold = durableHold.flatMap { $0.publisher == id ? $0.mark : nil }
            guard hold != nil || slot.acks?.isEmpty == false else { return write(packet, into: slot) }
            let queue = slot.acks ?? AckQueue()
            slot.acks = queue
            let sequence = queue.append(packet, waitingFor: hold == nil ? 0 : 1, viaReceiver: false)
            if let hold { awaitingSave.append((hold, id, queue, sequence)) }
        default:
            write(packet, to: id)
        }
    }

    /// Writes acknowledgements released from a connection's queue, in order.
    private func release(_ acks: [(packet: Packet, viaReceiver: Bool)], to id: ConnectionID) {
        for ack in acks {
            write(ack.packet, to: id)
            if ack.viaReceiver { state.receiverAcknowledged(ack.packet, on: id) }
        }
    }

    private func write(_ packet: Packet, to id: ConnectionID) {
        guard let slot = slots[id] else { return }
        write(packet, into: slot)
    }

    private func write(_ packet: Packet, into slot: BrokerConnection) {
        guard let version = slot.version else { return }
        if case .publish(let publish) = packet, publish.qos == .atMostOnce, !slot.isWritable {
            metrics.droppedSlowConsumer.increment()
            return
        }
        if slot.pending == nil {
            slot.pending = allocator.buffer(capacity: 512)
            if !slot.closing { dirty.append(slot) }
        }
        do {
            try packet.encode(into: &slot.pending!, version: version)
        } catch {
            logger.error("cannot encode packet", metadata: ["mqtt.connection": "\(slot.id)", "mqtt.error": "\(error)"])
        }
    }

    private func close(_ id: ConnectionID) {
        guard let slot = slots[id], !slot.closing else { return }
        slot.closing = true
        if slot.pending == nil { dirty.append(slot) }
    }

    private var flushScheduled = false
    /// How long the loop waits after an iteration, so that many devices' messages are read together.
    private var coalescer: ReadCoalescer

    /// A connection's read batch ended: the flush waits for the end of the event loop's iteration,
    /// so what every connection sent in one wakeup reaches each subscriber in one write. Then the
    /// ``ReadCoalescer`` may make the loop wait before it polls again.
    func readComplete(from id: ConnectionID) {
        coalescer.read(from: id)
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            flush()
            let wait = coalescer.iterationEnded(at: NIODeadline.now().uptimeNanoseconds)
            if wait > 0 { loop.pausePolling(for: wait) }
        }
    }

    /// Writes every connection's pending bytes with one flush each, then closes those asked to close.
    func flush() {
        batchTime = nil
        scheduleSave()
        guard !dirty.isEmpty else { return }
        // The two lists trade places, so neither is copied or allocated anew at each flush.
        swap(&dirty, &flushing)
        for slot in flushing {
            if let bytes = slot.pending {
                slot.pending = nil
                slot.send(bytes)
            }
            if slot.closing { slot.close() }
        }
        flushing.removeAll(keepingCapacity: true)
    }

    // MARK: The receiver

    private func hand(_ message: ReceivedMessage, ack: Packet?, to id: ConnectionID?) {
        guard let receiver else { return }
        defer { if let id, receiver.isSaturated { pauseReading(id, until: receiver) } }
        guard let ack, let id, let slot = slots[id] else {
            receiver.receive(message) { _ in }
            return
        }
        let queue = slot.acks ?? AckQueue()
        slot.acks = queue
        let sequence = queue.append(ack, waitingFor: durableHold == nil ? 1 : 2, viaReceiver: true)
        if let durableHold { awaitingSave.append((durableHold.mark, id, queue, sequence)) }
        if state.inboundInflight(of: id) >= Int(state.limits.receiveMaximum), flowPaused.insert(id).inserted {
            setReading(id, false)
        }
        receiver.receive(message) { [self] result in
            loop.execute { self.receiverFinished(sequence, on: id, queue: queue, result: result) }
        }
    }

    /// Stops reading from a publisher while the receiver is saturated; all paused connections resume together.
    private func pauseReading(_ id: ConnectionID, until receiver: any PublishReceiver) {
        guard slots[id] != nil, paused.insert(id).inserted else { return }
        setReading(id, false)
        metrics.readPauses.increment()
        guard paused.count == 1 else { return }
        receiver.whenReady { [self] in
            loop.execute { self.resumeReading() }
        }
    }

    private func resumeReading() {
        let resumed = paused
        paused.removeAll()
        for id in resumed where !flowPaused.contains(id) { setReading(id, true) }
    }

    private func setReading(_ id: ConnectionID, _ on: Bool) {
        slots[id]?.setReading(on)
    }

    private func receiverFinished(_ sequence: Int, on id: ConnectionID, queue: AckQueue,
                                  result: Result<Void, any Error>) {
        guard let slot = slots[id], slot.acks === queue else { return }
        if case .failure(let error) = result {
            logger.error("receiver failed; disconnecting publisher so it resends",
                         metadata: ["mqtt.connection": "\(id)", "error": "\(error)"])
            state.protocolError(id, "message could not be stored", code: .implementationSpecificError, into: &actions)
            executeActions(flush: true)
            return
        }
        release(queue.markDone(sequence), to: id)
        if flowPaused.contains(id), state.inboundInflight(of: id) <= Int(state.limits.receiveMaximum) / 2 {
            flowPaused.remove(id)
            if !paused.contains(id) { setReading(id, true) }
        }
        flush()
    }

    // MARK: Metrics

    private func reportMetrics() {
        let s = state.statistics
        metrics.connections.record(state.connectionCount)
        metrics.sessions.record(state.sessionCount)
        metrics.retained.record(state.retainedCount)
        metrics.subscriptions.record(state.subscriptionCount)
        metrics.queued.record(state.queuedMessageCount)
        metrics.inflight.record(state.inflightMessageCount)
        metrics.received.increment(by: s.messagesReceived - reported.messagesReceived)
        metrics.delivered.increment(by: s.messagesDelivered - reported.messagesDelivered)
        metrics.droppedQueueFull.increment(by: s.droppedQueueFull - reported.droppedQueueFull)
        metrics.droppedTooLarge.increment(by: s.droppedTooLarge - reported.droppedTooLarge)
        metrics.droppedExpired.increment(by: s.droppedExpired - reported.droppedExpired)
        metrics.droppedNotAuthorized.increment(by: s.droppedNotAuthorized - reported.droppedNotAuthorized)
        metrics.protocolErrors.increment(by: s.protocolErrors - reported.protocolErrors)
        metrics.refused.increment(by: s.connectionsRefused - reported.connectionsRefused)
        metrics.retainedRejected.increment(by: s.retainedRejected - reported.retainedRejected)
        metrics.subscriptionsRejected.increment(by: s.subscriptionsRejected - reported.subscriptionsRejected)
        metrics.subscriptionsRefused.increment(by: s.subscriptionsRefused - reported.subscriptionsRefused)
        reported = s
    }

    var statistics: BrokerStatistics { state.statistics }
    var connectionCount: Int { state.connectionCount }
}

/// QoS 1/2 acknowledgements waiting for the receiver, released strictly in arrival order (MQTT 5.0 §4.6).
final class AckQueue: @unchecked Sendable {  // confined to the broker loop
    /// An acknowledgement and how many conditions (the receiver's commit, a save) it still waits for.
    /// `viaReceiver`: the broker state counted the message as in flight until the receiver's word.
    private var entries: Deque<(packet: Packet, waiting: Int, viaReceiver: Bool)> = []
    private var firstSequence = 0

    var isEmpty: Bool { entries.isEmpty }

    func append(_ packet: Packet, waitingFor conditions: Int, viaReceiver: Bool) -> Int {
        entries.append((packet, conditions, viaReceiver))
        return firstSequence + entries.count - 1
    }

    /// One condition of one acknowledgement is met; returns the acknowledgements now releasable
    /// from the head (in arrival order).
    func markDone(_ sequence: Int) -> [(packet: Packet, viaReceiver: Bool)] {
        let index = sequence - firstSequence
        guard index >= 0, index < entries.count else { return [] }
        entries[index].waiting -= 1
        var ready: [(packet: Packet, viaReceiver: Bool)] = []
        while let head = entries.first, head.waiting <= 0 {
            ready.append((head.packet, head.viaReceiver))
            entries.removeFirst()
            firstSequence += 1
        }
        return ready
    }
}

/// The broker's metrics, exported by whatever swift-metrics backend the process bootstraps.
struct BrokerMetrics {
    let connections = Gauge(label: "gemba_mqtt_connections")
    let readPauses = Counter(label: "gemba_mqtt_read_pauses_total")
    let sessions = Gauge(label: "gemba_mqtt_sessions")
    let retained = Gauge(label: "gemba_mqtt_retained_messages")
    let subscriptions = Gauge(label: "gemba_mqtt_subscriptions")
    let queued = Gauge(label: "gemba_mqtt_queued_messages")
    let inflight = Gauge(label: "gemba_mqtt_inflight_messages")
    let received = Counter(label: "gemba_mqtt_messages_received_total")
    let delivered = Counter(label: "gemba_mqtt_messages_delivered_total")
    let droppedQueueFull = Counter(label: "gemba_mqtt_messages_dropped_total", dimensions: [("reason", "queue_full")])
    let droppedTooLarge = Counter(label: "gemba_mqtt_messages_dropped_total", dimensions: [("reason", "too_large")])
    let droppedExpired = Counter(label: "gemba_mqtt_messages_dropped_total", dimensions: [("reason", "expired")])
    let droppedNotAuthorized = Counter(label: "gemba_mqtt_messages_dropped_total", dimensions: [("reason", "not_authorized")])
    let droppedSlowConsumer = Counter(label: "gemba_mqtt_messages_dropped_total", dimensions: [("reason", "slow_consumer")])
    let protocolErrors = Counter(label: "gemba_mqtt_protocol_errors_total")
    let refused = Counter(label: "gemba_mqtt_connections_refused_total")
    let retainedRejected = Counter(label: "gemba_mqtt_retained_rejected_total")
    let savedChanges = Counter(label: "gemba_mqtt_persistence_saved_changes_total")
    let saveFailures = Counter(label: "gemba_mqtt_persistence_save_failures_total")
    let subscriptionsRejected = Counter(label: "gemba_mqtt_subscriptions_rejected_total")
    let subscriptionsRefused = Counter(label: "gemba_mqtt_subscriptions_refused_total")
}
