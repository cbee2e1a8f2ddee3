import ArgumentParser
import Foundation
import MQTTClient
import MQTTCodec
import NIOCore
import NIOSSL

/// Connection flags `gemba pub` and `gemba sub` share, named like mosquitto_pub/mosquitto_sub's.
struct ClientOptions: ParsableArguments {
    @Option(name: [.customShort("h"), .long], help: "Broker host.")
    var host = "127.0.0.1"

    @Option(name: [.short, .long], help: "Broker port.")
    var port = 1883

    @Option(name: [.customShort("V"), .customLong("protocol-version")], help: "mqttv5 (default) or mqttv311.")
    var protocolVersion = "mqttv5"

    @Option(name: [.customShort("i"), .customLong("id")], help: "Client id (empty: assigned by the broker).")
    var clientID = ""

    @Option(name: [.short, .long], help: "Username.")
    var username: String?

    @Option(name: [.customShort("P"), .long], help: "Password (prefer GEMBA_MQTT_PASSWORD: command lines are visible to others).")
    var password: String?

    @Option(name: [.short, .long], help: "QoS 0, 1 or 2.")
    var qos = 0

    @Option(name: [.customShort("k"), .customLong("keepalive")], help: "Keepalive in seconds.")
    var keepAlive: UInt16 = 60

    @Option(help: "CA certificate (PEM) to connect over TLS.")
    var cafile: String?

    func parsedQoS() throws -> QoS {
        guard let qos = QoS(rawValue: UInt8(clamping: qos)), (0...2).contains(self.qos) else {
            throw ConfigurationError("--qos must be 0, 1 or 2, got \(qos)")
        }
        return qos
    }

    func configuration() throws -> MQTTClientConfiguration {
        let version: ProtocolVersion
        switch protocolVersion.lowercased() {
        case "mqttv5", "5": version = .v5
        case "mqttv311", "311", "3.1.1": version = .v311
        default: throw ConfigurationError("-V must be mqttv5 or mqttv311, got '\(protocolVersion)'")
        }
        guard (1...65535).contains(port) else { throw ConfigurationError("--port must be in 1...65535, got \(port)") }
        var configuration = MQTTClientConfiguration(host: host, port: port, version: version, clientID: clientID)
        configuration.keepAlive = keepAlive
        configuration.username = username
        let secret = password ?? ProcessInfo.processInfo.environment["GEMBA_MQTT_PASSWORD"]
        configuration.password = secret.map { Array($0.utf8) }
        configuration.reconnect = nil
        if let cafile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(cafile)
            configuration.tls = tls
        }
        return configuration
    }
}

/// `gemba pub`: publish one message (or each line of standard input).
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pub", abstract: "Publish MQTT messages.")

    @OptionGroup var client: ClientOptions

    @Option(name: [.short, .long], help: "Topic to publish to.")
    var topic: String

    @Option(name: [.short, .long], help: "Message payload.")
    var message: String?

    @Flag(name: [.customShort("l"), .customLong("stdin-line")], help: "Publish each line of standard input.")
    var lines = false

    @Flag(name: [.short, .long], help: "Retain the message.")
    var retain = false

    func run() async throws {
        let qos = try client.parsedQoS()
        do { try Topic.validateName(topic) } catch { throw ConfigurationError("invalid topic: \(error)") }
        guard message != nil || lines else { throw ConfigurationError("give a message with -m or use -l for standard input") }
        let mqtt = MQTTClient(configuration: try client.configuration())
        do {
            try await mqtt.connect()
        } catch {
            throw ConfigurationError("cannot connect to \(client.host):\(client.port): \(error)")
        }
        if let message {
            try await mqtt.publish(topic, message, qos: qos, retain: retain)
        } else {
            while let line = readLine() { try await mqtt.publish(topic, line, qos: qos, retain: retain) }
        }
        await mqtt.disconnect()
    }
}

/// `gemba sub`: print messages matching one or more filters.
struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sub", abstract: "Subscribe and print MQTT messages.")

    @OptionGroup var client: ClientOptions

    @Option(name: [.short, .long], help: "Topic filter (repeatable).")
    var topic: [String]

    @Flag(name: [.short, .long], help: "Print the topic before each payload.")
    var verbose = false

    @Option(name: [.customShort("C"), .long], help: "Exit after this many messages.")
    var count: Int?

    @Option(name: [.customShort("W"), .long], help: "Exit after this many seconds.")
    var timeout: Int?

    func run() async throws {
        let qos = try client.parsedQoS()
        for filter in topic {
            do { try Topic.validateFilter(filter) } catch { throw ConfigurationError("invalid filter: \(error)") }
        }
        let mqtt = MQTTClient(configuration: try client.configuration())
        do {
            try await mqtt.connect()
        } catch {
            throw ConfigurationError("cannot connect to \(client.host):\(client.port): \(error)")
        }
        let suback = try await mqtt.subscribe(topic.map { Subscription(filter: $0, options: SubscriptionOptions(qos: qos)) })
        for (filter, code) in zip(topic, suback.reasonCodes) where code.isFailure {
            FileHandle.standardError.write(Data("gemba: subscription to \(filter) refused (\(code))\n".utf8))
        }
        if let timeout {
            Task {
                try await Task.sleep(for: .seconds(timeout))
                await mqtt.disconnect()
            }
        }
        var received = 0
        for await message in mqtt.messages {
            let payload = String(buffer: message.payload)
            FileHandle.standardOutput.write(Data(((verbose ? "\(message.topic) " : "") + payload + "\n").utf8))
            received += 1
            if let count, received >= count { break }
        }
        await mqtt.disconnect()
    }
}
