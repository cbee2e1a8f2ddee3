/// One Modbus device polled as a pure state machine: groups of reads, each on its own interval;
/// one request in flight at a time (many devices and every serial gateway answer one at a time),
/// at least `pacing` apart; a busy device asked again a few times; every other failure kept per
/// read, so only its points go bad; a lost connection made again with a growing backoff.
/// Writes (commands) go ahead of the polls waiting; one asked while the device is away fails at once.
/// The shell connects, sends, delivers and sleeps as the actions say; time is milliseconds.
public struct ModbusPoller: Sendable {
    public struct Group: Sendable, Hashable {
        /// ms between polls (fixed rate: a poll is due every `interval` from the first).
        public var interval: Int64
        public var reads: [ModbusRequest]

        public init(interval: Int64, reads: [ModbusRequest]) {
            self.interval = interval
            self.reads = reads
        }
    }

    public struct Configuration: Sendable, Hashable {
        public var unit: UInt8
        public var groups: [Group]
        /// Least ms between the end of one request and the next (0: none).
        public var pacing: Int64 = 0
        /// Reconnect backoff, ms: the first wait, doubled per failure up to the maximum.
        public var reconnectInitial: Int64 = 500
        public var reconnectMaximum: Int64 = 30_000
        /// How often a read is asked again after a busy (or acknowledge) exception, and after how long.
        public var busyRetries = 2
        public var busyDelay: Int64 = 200

        public init(unit: UInt8, groups: [Group]) {
            self.unit = unit
            self.groups = groups
        }
    }

    public enum Action: Sendable, Hashable {
        case connect
        case send(ModbusRequest, unit: UInt8)
        /// A poll of `group` is complete: one answer per read; `due` is when the poll was due, `at`
        /// when its last answer came (the values' time).
        case deliver(group: Int, answers: [Result<ModbusResponse, ModbusError>], due: Int64, at: Int64)
        /// The write `id` is done (or failed, or could not be sent).
        case written(id: Int, Result<ModbusResponse, ModbusError>)
        /// Call back with `.tick` at this time (unless another event comes first).
        case wait(until: Int64)
    }

    public enum Event: Sendable, Hashable {
        case start
        case connected
        case connectFailed(ModbusError)
        case answered(Result<ModbusResponse, ModbusError>)
        case disconnected(ModbusError)
        case tick
        /// Write to the device (a write request), answered by `.written` with the same id.
        case write(ModbusRequest, id: Int)
    }

    private enum Link: Hashable { case down(retryAt: Int64), connecting, up }

    /// A poll under way: which read is next, what the earlier ones got, busy retries left.
    private struct Poll: Hashable {
        var group: Int
        var due: Int64
        var answers: [Result<ModbusResponse, ModbusError>] = []
        var retriesLeft: Int
        var retryAt: Int64?
    }

    public let configuration: Configuration
    private var link = Link.down(retryAt: .min)
    private var backoff: Int64
    private var nextDue: [Int64?]
    private var queue: [Poll] = []
    private var writes: [(request: ModbusRequest, id: Int)] = []
    private enum InFlight: Hashable { case none, poll, write(id: Int) }
    private var inFlight = InFlight.none
    private var readyAt: Int64 = .min

    /// Polls that could not start by the time the next one of their group was due, skipped.
    public private(set) var latePolls = 0
    /// Polls delivered.
    public private(set) var completedPolls = 0

    /// Checks the configuration: every group polls at a positive interval and reads something valid.
    public init(_ configuration: Configuration) throws(ModbusError) {
        for (index, group) in configuration.groups.enumerated() {
            guard group.interval > 0, !group.reads.isEmpty else { throw .invalidRequest("poll group \(index + 1): an interval above 0 and at least one read") }
            for read in group.reads { try read.validate() }
        }
        guard configuration.pacing >= 0, configuration.busyRetries >= 0, configuration.busyDelay >= 0,
              (1...configuration.reconnectMaximum).contains(configuration.reconnectInitial) else {
            throw .invalidRequest("pacing, busy retries and delays must not be negative; the reconnect backoff must start above 0 and not above its maximum")
        }
        self.configuration = configuration
        backoff = configuration.reconnectInitial
        nextDue = configuration.groups.map { _ in nil }
    }

    /// Whether the device is connected now.
    public var isConnected: Bool { link == .up }

    public mutating func handle(_ event: Event, now: Int64) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .start, .tick:
            break
        case .write(let request, let id):
            do throws(ModbusError) {
                guard request.isWrite else { throw .invalidRequest("not a write: \(request)") }
                try request.validate()
                guard link == .up else { throw .disconnected("the device is not connected") }
                writes.append((request, id))
            } catch {
                actions.append(.written(id: id, .failure(error)))
            }
        case .connected:
            link = .up
            backoff = configuration.reconnectInitial
        case .connectFailed:
            link = .down(retryAt: now + backoff)
            backoff = min(backoff * 2, configuration.reconnectMaximum)
        case .answered(let result):
            readyAt = now + configuration.pacing
            if case .write(let id) = inFlight {
                inFlight = .none
                writes.removeFirst()
                actions.append(.written(id: id, result))
                break
            }
            guard inFlight == .poll, !queue.isEmpty else { break }
            inFlight = .none
            if case .failure(.exception(let exception)) = result, exception.isTransient, queue[0].retriesLeft > 0 {
                queue[0].retriesLeft -= 1
                queue[0].retryAt = now + configuration.busyDelay
            } else {
                queue[0].answers.append(result)
                queue[0].retriesLeft = configuration.busyRetries
                queue[0].retryAt = nil
                if let delivery = finishIfComplete(now) { actions.append(delivery) }
            }
        case .disconnected(let error):
            link = .down(retryAt: now + backoff)
            backoff = min(backoff * 2, configuration.reconnectMaximum)
            // Writes not done fail with the connection: a command is not sent again later, by surprise.
            actions += writes.map { .written(id: $0.id, .failure(error)) }
            writes = []
            inFlight = .none
            // The poll under way ends: what it has not read yet failed with the connection.
            if !queue.isEmpty {
                let missing = configuration.groups[queue[0].group].reads.count - queue[0].answers.count
                queue[0].answers += Array(repeating: .failure(error), count: missing)
                if let delivery = finishIfComplete(now) { actions.append(delivery) }
            }
        }
        schedule(now)
        actions += next(now)
        return actions
    }

    /// Queues the polls that are due; a poll still queued when its group's next is due is late, and skipped.
    private mutating func schedule(_ now: Int64) {
        for (index, group) in configuration.groups.enumerated() {
            guard var due = nextDue[index] else {
                nextDue[index] = now + group.interval
                queue.append(Poll(group: index, due: now, retriesLeft: configuration.busyRetries))
                continue
            }
            guard due <= now else { continue }
            // Missed slots (the device was slow or away) are counted, not caught up with.
            let missed = (now - due) / group.interval
            if missed > 0 {
                latePolls += Int(missed)
                due += missed * group.interval
            }
            if queue.contains(where: { $0.group == index }) {
                latePolls += 1
            } else {
                queue.append(Poll(group: index, due: due, retriesLeft: configuration.busyRetries))
            }
            nextDue[index] = due + group.interval
        }
    }

    /// What to do next: connect, send the next read, or wait for the earliest moment something is due.
    private mutating func next(_ now: Int64) -> [Action] {
        switch link {
        case .connecting:
            return []
        case .down(let retryAt):
            guard retryAt <= now else { return [.wait(until: min(retryAt, wakeUp))] }
            link = .connecting
            return [.connect]
        case .up:
            guard inFlight == .none else { return [] }
            if let write = writes.first {
                guard readyAt <= now else { return [.wait(until: readyAt)] }
                inFlight = .write(id: write.id)
                return [.send(write.request, unit: configuration.unit)]
            }
            guard let poll = queue.first else { return [.wait(until: wakeUp)] }
            let start = max(readyAt, poll.retryAt ?? .min)
            guard start <= now else { return [.wait(until: min(start, wakeUp))] }
            inFlight = .poll
            return [.send(configuration.groups[poll.group].reads[poll.answers.count], unit: configuration.unit)]
        }
    }

    private var wakeUp: Int64 { nextDue.compactMap { $0 }.min() ?? .max }

    private mutating func finishIfComplete(_ now: Int64) -> Action? {
        let poll = queue[0]
        guard poll.answers.count == configuration.groups[poll.group].reads.count else { return nil }
        queue.removeFirst()
        completedPolls += 1
        return .deliver(group: poll.group, answers: poll.answers, due: poll.due, at: now)
    }
}
