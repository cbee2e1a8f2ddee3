public import Logging
public import MQTTClient
internal import ServiceLifecycle

extension MQTTClient {
    /// Connects to a broker this node depends on, retrying while it cannot be reached, until
    /// graceful shutdown; returns whether it connected. A node starts before its broker, or rides
    /// out the broker's restart, instead of exiting. The first failure, and every tenth after it,
    /// is logged; attempts come 1, 2, … up to 10 s apart. A broker that refuses the connection
    /// (credentials, client id) throws: that is a configuration error, and retrying would not mend it.
    public func connectPatiently(to broker: String, logger: Logger) async throws -> Bool {
        var failures = 0
        while !Task.isShuttingDownGracefully {
            do {
                _ = try await connect()
                return true
            } catch let error as MQTTClientError where error.code == .connectionRefused {
                throw error
            } catch {
                failures += 1
                if failures % 10 == 1 {
                    logger.warning("upstream broker unreachable; retrying", metadata: [
                        "mqtt.upstream": "\(broker)", "mqtt.attempts": "\(failures)", "error": "\(error)",
                    ])
                }
                let pause = Duration.seconds(min(failures, 10))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
                try Task.checkCancellation()
            }
        }
        return false
    }
}
