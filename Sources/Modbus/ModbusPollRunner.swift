public import NIOCore
import Synchronization

/// Runs a `ModbusPoller` against a device over `ModbusTCPClient` until the task is cancelled or
/// `report` answers false: the shell that does what the poller's actions say, and takes writes
/// from other tasks while it runs.
public final class ModbusPollRunner: Sendable {
    /// What the runner tells its owner.
    public enum Report: Sendable {
        /// A complete poll of `group`: one answer per read; `at` is when its last answer came (epoch ms).
        case polled(group: Int, answers: [Result<ModbusResponse, ModbusError>], at: Int64, latePolls: Int)
        case connected(at: Int64)
        /// The connection failed or was lost.
        case disconnected(ModbusError, at: Int64)
    }

    public let host: String
    public let port: Int
    /// Bounds the connection and every request.
    public let timeout: TimeAmount
    private let inbox: AsyncStream<ModbusPoller.Event>
    private let post: AsyncStream<ModbusPoller.Event>.Continuation
    private let pending = Mutex<(next: Int, waiting: [Int: CheckedContinuation<Result<ModbusResponse, ModbusError>, Never>])>((0, [:]))

    public init(host: String, port: Int, timeout: TimeAmount) {
        self.host = host
        self.port = port
        self.timeout = timeout
        (inbox, post) = AsyncStream.makeStream()
    }

    /// Writes through the running poller, ahead of the polls waiting; fails at once when the device is away.
    public func write(_ request: ModbusRequest) async -> Result<ModbusResponse, ModbusError> {
        await withCheckedContinuation { continuation in
            let id = pending.withLock { state in
                state.next += 1
                state.waiting[state.next] = continuation
                return state.next
            }
            if case .terminated = post.yield(.write(request, id: id)) { finish(id, .failure(.disconnected("the device is not polled"))) }
        }
    }

    /// Polls until cancelled or `report` answers false; `now` is the time in epoch ms. Runs once.
    public func run(_ poller: ModbusPoller, now: @escaping @Sendable () -> Int64, report: (Report) async -> Bool) async {
        var poller = poller
        var client: ModbusTCPClient?
        var timer: Task<Void, Never>?
        var running = true
        defer {
            timer?.cancel()
            post.finish()
            let waiting = pending.withLock { state in defer { state.waiting = [:] }; return state.waiting }
            for continuation in waiting.values { continuation.resume(returning: .failure(.disconnected("the device is not polled"))) }
        }
        var actions = poller.handle(.start, now: now())
        var events = inbox.makeAsyncIterator()
        while running, !Task.isCancelled {
            var next: [ModbusPoller.Action] = []
            for action in actions {
                switch action {
                case .connect:
                    do {
                        client = try await ModbusTCPClient.connect(host: host, port: port, timeout: timeout)
                        running = await report(.connected(at: now()))
                        next += poller.handle(.connected, now: now())
                    } catch {
                        running = await report(.disconnected(error, at: now()))
                        next += poller.handle(.connectFailed(error), now: now())
                    }
                case .send(let request, let unit):
                    next += await send(request, unit: unit, on: &client, poller: &poller, now: now, report: report, running: &running)
                case .deliver(let group, let answers, _, let at):
                    if running { running = await report(.polled(group: group, answers: answers, at: at, latePolls: poller.latePolls)) }
                case .written(let id, let result):
                    finish(id, result)
                case .wait(let until):
                    timer?.cancel()
                    let delay = until == .max ? 3_600_000 : until - now()
                    timer = Task { [post] in
                        if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
                        if !Task.isCancelled { post.yield(.tick) }
                    }
                }
            }
            guard running else { break }
            if !next.isEmpty {
                actions = next
                continue
            }
            // Nothing to do until the timer fires or a write comes.
            guard let event = await events.next(isolation: nil) else { break }
            actions = poller.handle(event, now: now())
        }
        await client?.close()
    }

    private func send(_ request: ModbusRequest, unit: UInt8, on client: inout ModbusTCPClient?, poller: inout ModbusPoller,
                      now: @Sendable () -> Int64, report: (Report) async -> Bool, running: inout Bool) async -> [ModbusPoller.Action] {
        guard let connection = client else { return poller.handle(.disconnected(.disconnected("no connection")), now: now()) }
        do {
            return poller.handle(.answered(.success(try await connection.send(request, unit: unit))), now: now())
        } catch {
            // A malformed answer or a reset closes the connection: the poller makes a new one.
            if connection.isActive { return poller.handle(.answered(.failure(error)), now: now()) }
            client = nil
            running = await report(.disconnected(error, at: now()))
            return poller.handle(.disconnected(error), now: now())
        }
    }

    private func finish(_ id: Int, _ result: Result<ModbusResponse, ModbusError>) {
        pending.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: result)
    }
}
