import GembaCore
public import Logging
public import Modbus
import NIOCore
public import Sparkplug
import Synchronization

/// One Modbus TCP device feeding the edge node: polled by ``ModbusPollRunner``, its polls turned
/// into readings and health by ``ModbusDeviceReporter``, and commands written through the same
/// connection, between polls.
public final class ModbusDeviceSource: EdgeDeviceSource {
    public let map: ModbusDeviceMap
    let logger: Logger
    private let runner: ModbusPollRunner
    private let reporter: Mutex<ModbusDeviceReporter>

    public init(_ device: ModbusDeviceConfiguration, logger: Logger) throws(ModbusError) {
        map = try ModbusDeviceMap(device)
        var logger = logger
        logger[metadataKey: "modbus.device"] = "\(device.device)"
        self.logger = logger
        runner = ModbusPollRunner(host: device.host, port: device.port, timeout: .milliseconds(device.timeout))
        reporter = Mutex(ModbusDeviceReporter(map: map))
    }

    public var id: String { Self.id(of: map.device.device) }

    /// The source id of the Modbus device `device`.
    public static func id(of device: String) -> String { "modbus:" + device }

    public var devices: [(id: String, metrics: [SparkplugEdgeNode.MetricSpec])] { [(map.device.device, map.metrics)] }

    public func run(_ outlet: any EdgeSink) async {
        let device = map.device.device
        let poller: ModbusPoller
        do {
            poller = try ModbusPoller(map.poller)
        } catch {
            logger.error("Modbus device cannot be polled", metadata: ["error": "\(error)"])
            return
        }
        await runner.run(poller, now: { Timestamp.now().millisecondsSinceEpoch }) { report in
            switch report {
            case .polled(let group, let answers, let at, let late):
                let (readings, failures) = reporter.withLock { $0.polled(group: group, answers: answers, at: at, latePolls: late) }
                for failure in failures {
                    logger.warning("Modbus tag read failed", metadata: ["modbus.tag": "\(failure.tag)", "error": "\(failure.error)"])
                }
                outlet.update(device: device, readings: readings)
            case .connected(let at):
                logger.info("Modbus device connected", metadata: ["modbus.host": "\(map.device.host):\(map.device.port)"])
                outlet.update(device: device, readings: reporter.withLock { $0.connected(at: at) })
            case .disconnected(let error, let at):
                let (readings, news) = reporter.withLock { reporter in
                    let news = reporter.health.connected || reporter.health.lastError != "\(error)"
                    return (reporter.disconnected(error, at: at), news)
                }
                // Logged when it is lost or the reason changes, not at every attempt to reconnect.
                if news { logger.warning("Modbus device not connected", metadata: ["error": "\(error)"]) }
                outlet.update(device: device, readings: readings)
            }
            return true
        }
        let health = reporter.withLock { $0.health }
        logger.notice("Modbus device stopped", metadata: [
            "modbus.polls": "\(health.polls)", "modbus.late_polls": "\(health.latePolls)", "modbus.read_errors": "\(health.readErrors)",
        ])
    }

    public func write(device: String, metric: String, value: SparkplugValue, sink outlet: any EdgeSink) async {
        let result: Result<ModbusResponse, ModbusError>
        switch map.write(metric, value: value) {
        case .success(let request): result = await runner.write(request)
        case .failure(let error): result = .failure(error)
        }
        switch result {
        case .success:
            logger.notice("Modbus write done", metadata: ["modbus.tag": "\(metric)", "value": "\(value)"])
        case .failure(let error):
            logger.warning("Modbus write failed", metadata: ["modbus.tag": "\(metric)", "value": "\(value)", "error": "\(error)"])
        }
    }
}
