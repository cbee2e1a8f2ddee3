/// Decides how long the broker's loop waits before it polls again, so that the messages of many
/// devices that each send now and then are read in batches: one wake-up, one poll and one write
/// per subscriber for several messages, where each message alone would cost all three.
///
/// It asks for a wait only when all of these hold:
/// - **Many sources**: at least ``minimumSources`` different connections were read in the last
///   window (``window``, 100 ms).
/// - **A wait pays**: at the last window's rate, at least two reads arrive within the longest wait.
/// - **The loop is not behind**: the iteration that ended read from fewer than ``batch`` connections.
/// - **No busy client**: no connection that published in this iteration also published in one of
///   the ``history`` iterations before. A client waiting for each acknowledgement, or a bridge,
///   sends in iteration after iteration; a device that sends twice a second does not.
///
/// The wait is the time ``batch`` reads take to arrive at the last window's rate, at most
/// `longestWait`: the added latency is what the batch needs and no more.
///
/// Pure: the runtime reports reads and publishers and asks at the end of each loop iteration.
struct ReadCoalescer {
    /// How often the rate and the number of sources are measured anew, in ns.
    static let window: UInt64 = 100_000_000
    /// The number of reads a wait aims to gather; an iteration with this many is full.
    static let batch = 16
    /// Different connections a window must read from before any wait.
    static let minimumSources = 16
    /// Earlier iterations whose publishers make a publisher busy.
    static let history = 3

    /// The longest wait, in ns; zero turns coalescing off.
    let longestWait: UInt64
    /// When the current window began; nil before the first iteration ended.
    private var windowStart: UInt64?
    private var windowReads = 0
    private var windowSources: Set<ConnectionID> = []
    /// Reads per ns over the last whole window, and whether it read from many connections.
    private var rate = 0.0
    private var manySources = false
    private var iterationReads = 0
    /// The publishers of this iteration (first) and of the ``history`` iterations before.
    private var publishers: [[ConnectionID]]

    init(longestWait: UInt64) {
        self.longestWait = longestWait
        publishers = Array(repeating: [], count: Self.history + 1)
    }

    /// A connection's read batch ended.
    mutating func read(from id: ConnectionID) {
        guard longestWait > 0 else { return }
        iterationReads += 1
        windowReads += 1
        windowSources.insert(id)
    }

    /// A connection sent a PUBLISH in this iteration.
    mutating func published(by id: ConnectionID) {
        guard longestWait > 0, publishers[0].last != id, publishers[0].count < 4 * Self.batch else { return }
        publishers[0].append(id)
    }

    /// The loop iteration ended at `now` (ns, monotonic): returns how long to wait before polling
    /// again, in ns (zero: poll at once).
    mutating func iterationEnded(at now: UInt64) -> UInt64 {
        guard longestWait > 0 else { return 0 }
        closeWindowIfDue(now)
        defer {
            iterationReads = 0
            publishers.rotateHistory()
        }
        guard manySources, iterationReads < Self.batch, rate * Double(longestWait) >= 2, !hasBusyPublisher else { return 0 }
        return min(longestWait, UInt64(Double(Self.batch) / rate))
    }

    /// Whether a publisher of this iteration also published in one of the ``history`` before.
    private var hasBusyPublisher: Bool {
        publishers[0].contains { id in publishers.dropFirst().contains { $0.contains(id) } }
    }

    private mutating func closeWindowIfDue(_ now: UInt64) {
        guard let start = windowStart else {
            windowStart = now
            return
        }
        let elapsed = now &- start
        guard elapsed >= Self.window else { return }
        // A window far longer than ``window`` (an idle loop) measures a low rate, as it should.
        rate = Double(windowReads) / Double(elapsed)
        manySources = windowSources.count >= Self.minimumSources
        windowStart = now
        windowReads = 0
        windowSources.removeAll(keepingCapacity: true)
    }
}

private extension Array where Element == [ConnectionID] {
    /// Drops the oldest iteration's publishers and starts an empty list for the next, reusing storage.
    mutating func rotateHistory() {
        var oldest = removeLast()
        oldest.removeAll(keepingCapacity: true)
        insert(oldest, at: 0)
    }
}
