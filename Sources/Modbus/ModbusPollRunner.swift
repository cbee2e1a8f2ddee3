public import NIOCore

/// Runs a `ModbusPoller` against a device over `ModbusTCPClient` until the task is cancelled or
/// `deliver` answers false: the shell that does what the poller's actions say.
public struct ModbusPollRunner: Sendable {
    public var host: String
    public var port: Int
    /// Bounds the connection and every request.
    public var timeout: TimeAmount

    public init(host: String, port: Int, timeout: TimeAmount) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Polls; `deliver` gets each complete poll (group, one answer per read, epoch ms its last
    /// answer came) and answers whether to go on. `now` is the time in epoch ms.
    public func run(_ poller: ModbusPoller, now: @Sendable () -> Int64,
                    deliver: (_ group: Int, _ answers: [Result<ModbusResponse, ModbusError>], _ at: Int64) async -> Bool) async {
        var poller = poller
        var client: ModbusTCPClient?
        var running = true
        var actions = poller.handle(.start, now: now())
        while running, !Task.isCancelled, !actions.isEmpty {
            var next: [ModbusPoller.Action] = []
            for action in actions {
                switch action {
                case .connect:
                    do {
                        client = try await ModbusTCPClient.connect(host: host, port: port, timeout: timeout)
                        next += poller.handle(.connected, now: now())
                    } catch {
                        next += poller.handle(.connectFailed(error), now: now())
                    }
                case .send(let request, let unit):
                    guard let connection = client else {
                        next += poller.handle(.disconnected(.disconnected("no connection")), now: now())
                        continue
                    }
                    do {
                        next += poller.handle(.answered(.success(try await connection.send(request, unit: unit))), now: now())
                    } catch {
                        // A malformed answer or a reset closes the connection: the poller makes a new one.
                        if connection.isActive {
                            next += poller.handle(.answered(.failure(error)), now: now())
                        } else {
                            client = nil
                            next += poller.handle(.disconnected(error), now: now())
                        }
                    }
                case .deliver(let group, let answers, _, let at):
                    if running { running = await deliver(group, answers, at) }
                case .wait(let until):
                    let delay = until == .max ? 3_600_000 : until - now()
                    if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
                    next += poller.handle(.tick, now: now())
                }
            }
            actions = running ? next : []
        }
        await client?.close()
    }
}
