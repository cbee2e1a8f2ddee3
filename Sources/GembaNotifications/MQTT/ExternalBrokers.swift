internal import Foundation
internal import GembaCore
internal import Logging
internal import MQTTClient
internal import MQTTCodec
internal import NIOCore
internal import NIOSSL
internal import Synchronization

/// One MQTT connection per channel that publishes to an external broker, opened at its first
/// message and kept; a failed publish closes it, so the next attempt (on the outbox's retry
/// schedule) connects afresh. A changed URL, user name or password opens a new connection.
final class ExternalBrokers: Sendable {
    private struct Connection {
        var signature: String
        var client: MQTTClient
    }

    private let connections = Mutex<[String: Connection]>([:])
    private let timeout: Duration
    private let logger: Logger

    init(timeout: Duration, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func publish(_ payload: String, topic: String, channel: NotificationChannel, tenant: TenantID) async throws {
        guard let target = channel.mqtt, let url = channel.url.flatMap(URL.init(string:)), let host = url.host else {
            throw MQTTClientError(.notConnected, "the channel has no broker URL")
        }
        let key = tenant.rawValue + "/" + channel.id
        let signature = [url.absoluteString, target.username ?? "", channel.secrets.first ?? ""].joined(separator: "\u{0}")
        let client = try await connection(key: key, signature: signature) {
            let secure = url.scheme?.lowercased() == "mqtts"
            var configuration = MQTTClientConfiguration(host: host, port: url.port ?? (secure ? 8883 : 1883), version: .v311,
                                                        clientID: "gemba-notify-" + String(channel.id.prefix(40)))
            configuration.tls = secure ? TLSConfiguration.makeClientConfiguration() : nil
            configuration.username = target.username
            configuration.password = channel.secrets.first.map { Array($0.utf8) }
            configuration.reconnect = nil
            configuration.connectTimeout = .seconds(Int64(self.timeout.components.seconds))
            return MQTTClient(configuration: configuration, logger: self.logger)
        }
        do {
            try await client.publish(topic, payload: ByteBuffer(string: payload), qos: target.qos == 1 ? .atLeastOnce : .atMostOnce,
                                     retain: target.retain)
        } catch {
            await drop(key)
            throw error
        }
    }

    func closeAll() async {
        let all = connections.withLock { connections in
            defer { connections = [:] }
            return Array(connections.values)
        }
        for connection in all { await connection.client.disconnect() }
    }

    private func connection(key: String, signature: String, make: () -> MQTTClient) async throws -> MQTTClient {
        if let existing = connections.withLock({ $0[key] }) {
            if existing.signature == signature, await existing.client.isConnected { return existing.client }
            await drop(key)
        }
        let client = make()
        do {
            try await client.connect()
        } catch {
            await client.disconnect()
            throw error
        }
        let replaced = connections.withLock { connections in
            defer { connections[key] = Connection(signature: signature, client: client) }
            return connections[key]
        }
        if let replaced { await replaced.client.disconnect() }
        return client
    }

    private func drop(_ key: String) async {
        guard let connection = connections.withLock({ $0.removeValue(forKey: key) }) else { return }
        await connection.client.disconnect()
    }
}
