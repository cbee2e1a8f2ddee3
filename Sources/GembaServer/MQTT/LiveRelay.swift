internal import GembaCore
public import GembaIngest
public import Logging
public import MQTTClient
internal import MQTTCodec
internal import NIOCore
public import ServiceLifecycle
internal import Synchronization
internal import Foundation

/// Shows every node's live clients the samples any node of the cluster ingested, through the
/// broker the nodes already share (the one their share group takes the stream from).
///
/// Each node says on a retained topic whether it has live clients
/// (`gemba/cluster/<group>/watching/<node>`, "1" or cleared; its will clears it when the node
/// dies). While another node watches, this node publishes what it accepted every
/// ``window`` as one ``LiveBatch`` at QoS 0 on `gemba/cluster/<group>/live/<node>`, and it feeds
/// the other nodes' batches to its own ``LiveHub``. A node falling behind gets the latest sample
/// of each series (``LiveHub``'s bound), and a batch lost with a connection is not sent again:
/// the live view is a view, storage has every sample. Nothing is relayed while nobody watches.
public final class LiveRelay: Service, Sendable {
    private let client: MQTTClient
    private let hub: LiveHub
    private let node: String
    private let prefix: String
    private let logger: Logger
    /// The broker's address, for logs.
    private let broker: String
    /// The other nodes with live clients.
    private let watchers = Mutex<Set<String>>([])
    /// Wakes the announcing loop: this node's live clients came or went, or the client reconnected.
    private let announceDue = Wakeup()
    /// Wakes the forwarding loop: the set of other nodes watching changed.
    private let watchersChanged = Wakeup()
    /// How long accepted samples gather before they go out as one message.
    let window: Duration
    /// Samples held for one window at most; past that, the latest of each series.
    static let maxPending = 50_000

    /// `configuration`: the shared broker (the client id is this relay's own); `group`: the share group.
    public init(configuration: MQTTClientConfiguration, group: String, hub: LiveHub, window: Duration = .milliseconds(100),
                logger: Logger) {
        let node = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        self.node = String(node)
        self.prefix = "gemba/cluster/\(group)/"
        var configuration = configuration
        configuration.clientID = "gemba-live-\(node)"
        configuration.cleanStart = true
        configuration.connectProperties = Properties()
        configuration.manualAcknowledgement = false
        configuration.will = Will(topic: "\(prefix)watching/\(node)", payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
        let announceDue = self.announceDue
        self.client = MQTTClient(configuration: configuration, logger: logger, onConnected: announceDue.signal)
        hub.whenClientsChange(announceDue.signal)
        self.broker = "\(configuration.host):\(configuration.port)"
        self.hub = hub
        self.window = window
        self.logger = logger
    }

    /// Connects (retrying while the broker cannot be reached: live views across nodes wait for it,
    /// the node does not), then relays until graceful shutdown.
    public func run() async throws {
        guard try await client.connectPatiently(to: broker, logger: logger) else { return }
        logger.info("relaying live samples through the broker", metadata: ["cluster.node": "\(node)"])
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.receive() }
                group.addTask { await self.announce() }
                group.addTask { await self.forward() }
            }
        }
        await leave()
    }

    /// Says this node no longer watches, then disconnects (a normal disconnect sends no will).
    /// The farewell waits for its PUBACK at most ``farewellWait``: with the broker down, the client
    /// would hold it until the broker came back, and the node would never stop. Disconnecting
    /// fails it then; a retained "watching" of this node may then outlive it, and other nodes send
    /// their batches (QoS 0) to a topic nobody reads.
    private func leave() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try? await self.client.publish("\(self.prefix)watching/\(self.node)", payload: ByteBuffer(), qos: .atLeastOnce,
                                                   retain: true)
            }
            group.addTask { try? await Task.sleep(for: Self.farewellWait) }
            await group.next()
            group.cancelAll()
            await client.disconnect()
        }
    }

    /// How long a stopping node waits for the broker to take its farewell.
    static let farewellWait = Duration.seconds(2)

    /// Subscribes (again after each reconnect: the session is not kept) and says whether this
    /// node has live clients whenever that changes. It waits for a change (a client came or went,
    /// the connection was made again) rather than polling; a failed announcement is tried again
    /// after ``retryInterval``.
    private func announce() async {
        var announced: (reconnects: Int, watching: Bool)?
        while !Task.isCancelled {
            let reconnects = await client.reconnects, watching = hub.subscriberCount > 0
            var failed = false
            if announced?.reconnects != reconnects {
                _ = try? await client.subscribe([Subscription(filter: "\(prefix)live/+", options: SubscriptionOptions(qos: .atMostOnce)),
                                                 Subscription(filter: "\(prefix)watching/+", options: SubscriptionOptions(qos: .atLeastOnce))])
            }
            if announced?.reconnects != reconnects || announced?.watching != watching {
                do {
                    try await client.publish("\(prefix)watching/\(node)", payload: ByteBuffer(string: watching ? "1" : ""),
                                                 qos: .atLeastOnce, retain: true)
                    announced = (reconnects, watching)
                } catch {
                    failed = true
                    logger.debug("live relay: could not announce", metadata: ["error": "\(error)"])
                }
            }
            await announceDue.wait(upTo: failed ? Self.retryInterval : Self.idleInterval)
        }
    }

    /// How soon a failed announcement is tried again.
    static let retryInterval = Duration.milliseconds(500)
    /// How long the loops sleep when nothing wakes them (a safety net: changes wake them).
    static let idleInterval = Duration.seconds(30)

    /// Publishes this node's accepted samples, one batch per window, while another node watches.
    private func forward() async {
        var feed: LiveHub.Subscription?
        defer { feed.map(hub.remove) }
        while !Task.isCancelled {
            guard watchers.withLock({ !$0.isEmpty }) else {
                if let current = feed {
                    hub.remove(current)
                    feed = nil
                }
                await watchersChanged.wait(upTo: Self.idleInterval)
                continue
            }
            let current = feed ?? hub.subscribeRelay(maxPending: Self.maxPending)
            feed = current
            let next = await withTaskCancellationHandler { await current.next() } onCancel: { [hub] in hub.remove(current) }
            guard let update = next else { return }
            if !update.samples.isEmpty {
                do {
                    try await client.publish("\(prefix)live/\(node)", payload: ByteBuffer(bytes: LiveBatch.encode(update.samples)))
                } catch {
                    logger.debug("live relay: batch not sent", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: window)
        }
    }

    /// Other nodes' batches into the hub; their announcements into ``watchers``.
    private func receive() async {
        let throttle = LogThrottle(perSecond: 1)
        for await message in client.messages {
            let parts = message.topic.dropFirst(prefix.count).split(separator: "/")
            guard message.topic.hasPrefix(prefix), parts.count == 2, parts[1] != node else { continue }
            switch parts[0] {
            case "watching":
                let other = String(parts[1]), watching = message.payload.readableBytes > 0
                let changed = watchers.withLock { watchers in
                    watching ? watchers.insert(other).inserted : watchers.remove(other) != nil
                }
                if changed { watchersChanged.signal() }
            case "live":
                do {
                    hub.acceptedElsewhere(try LiveBatch.decode(message.payload.readableBytesView))
                } catch {
                    if let suppressed = throttle.allow() {
                        logger.warning("live relay: a batch that cannot be read", metadata: [
                            "mqtt.topic": "\(message.topic)", "error": "\(error)", "log.suppressed": "\(suppressed)",
                        ])
                    }
                }
            default:
                continue
            }
        }
    }
}
