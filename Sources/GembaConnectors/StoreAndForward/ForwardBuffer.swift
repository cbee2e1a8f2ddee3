import Foundation
import Synchronization

/// The gateway's store-and-forward buffer: every change the edge node records goes into a
/// ``SegmentLog`` on disk, whether it was published live or could not be. What the host is known
/// to have is marked by a cursor, `delivered`, kept in a file beside the segments:
///
/// - while the node is online, a live record counts as delivered once `window` has passed since it
///   went out (a connection that died silently is noticed within about 1.5 keep-alives, so the
///   window is at least twice the keep-alive);
/// - when the node goes online (births sent), everything after `delivered` up to that moment is
///   replayed (``nextReplay(limit:)``) as historical data; once the replay is done it counts as
///   delivered `window` later, like a live record;
/// - going offline forgets what was not yet counted: it is replayed at the next connection.
///
/// Replays may repeat what the host already has; the host keeps one row per tag and time.
/// The log is bounded by size and age: the oldest segments go first, and records dropped before
/// they were delivered are counted.
public final class ForwardBuffer: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maximumBytes: UInt64
        /// ms a record is kept at most.
        public var maximumAge: Int64
        /// ms after which a record sent live counts as delivered.
        public var window: Int64

        public init(maximumBytes: UInt64 = 1 << 30, maximumAge: Int64 = 7 * 86_400_000, window: Int64 = 120_000) {
            self.maximumBytes = maximumBytes
            self.maximumAge = maximumAge
            self.window = window
        }
    }

    /// What the buffer holds, for health metrics and logs.
    public struct Status: Sendable, Hashable {
        public var bytes: UInt64
        /// Bytes after the delivered cursor: not known to be at the host.
        public var pendingBytes: UInt64
        /// Records dropped by the size or age bound before they were delivered, since the buffer was made.
        public var dropped: UInt64
        public var replaying: Bool
    }

    private struct State {
        var log: SegmentLog
        var delivered: UInt64
        var dropped: UInt64
        /// Records sent (ends, when), oldest first; only while online.
        var checkpoints: [(position: UInt64, sentAt: Int64)] = []
        var online = false
        /// The replay under way: the next record, and where it stops.
        var replay: (next: UInt64, end: UInt64)?
        var savedCursor: (UInt64, UInt64)?
    }

    public let limits: Limits
    private let state: Mutex<State>
    private let cursorURL: URL

    /// Opens (or makes) the buffer in `directory`, recovering what a previous run left.
    public init(directory: String, limits: Limits = Limits(), segmentBytes: Int = 8 << 20) throws {
        self.limits = limits
        let url = URL(fileURLWithPath: directory)
        let log = try SegmentLog(directory: url, segmentBytes: segmentBytes)
        cursorURL = url.appendingPathComponent("cursor")
        var delivered = log.start, dropped: UInt64 = 0
        if let text = try? String(contentsOf: cursorURL, encoding: .utf8) {
            let numbers = text.split(separator: " ").compactMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if numbers.count == 2 { (delivered, dropped) = (min(max(numbers[0], log.start), log.end), numbers[1]) }
        }
        state = Mutex(State(log: log, delivered: delivered, dropped: dropped))
    }

    /// Adds a device's recorded changes and hands them to the OS at once, so that a kill of the
    /// process loses nothing (``close()`` asks the disk to keep them).
    public func append(device: String?, payload: [UInt8], live: Bool, now: Int64) {
        state.withLock { state in
            let end = state.log.append(BufferRecord(device: device, payload: payload, writtenAt: now))
            try? state.log.flush()  // a failure shows at the next tick, which flushes again and reports it
            if live, state.online { state.checkpoints.append((end, now)) }
        }
    }

    /// The node is online (births sent): what was not delivered is to be replayed.
    public func wentOnline(now: Int64) {
        state.withLock { state in
            try? state.log.flush()
            state.online = true
            state.checkpoints = []
            state.replay = state.delivered < state.log.end ? (state.delivered, state.log.end) : nil
        }
    }

    /// The node is offline (connection lost, or the primary host went offline).
    public func wentOffline() {
        state.withLock { state in
            state.online = false
            state.checkpoints = []
            state.replay = nil
        }
    }

    /// The next records to replay (up to `limit` bytes), nil when there is nothing (more) to replay.
    public func nextReplay(limit: Int = 256 << 10, now: Int64) -> [(device: String?, payload: [UInt8])]? {
        state.withLock { state -> [(device: String?, payload: [UInt8])]? in
            guard state.online, let replay = state.replay else { return nil }
            guard replay.next < replay.end, let (records, next) = try? state.log.read(from: replay.next, until: replay.end, limit: limit),
                  !records.isEmpty else {
                // Done: the replayed range counts as delivered a window from now.
                state.checkpoints.insert((replay.end, now), at: 0)
                state.replay = nil
                return nil
            }
            state.replay = (next, replay.end)
            return records.map { ($0.device, $0.payload) }
        }
    }

    /// Writes what was appended, moves the delivered cursor, applies the bounds and saves the cursor.
    public func tick(now: Int64) throws {
        try state.withLock { state in
            try state.log.flush()
            let horizon = now - limits.window
            while let first = state.checkpoints.first, first.sentAt <= horizon {
                state.delivered = max(state.delivered, first.position)
                state.checkpoints.removeFirst()
            }
            trim(&state, now: now)
            if state.savedCursor.map({ $0 != (state.delivered, state.dropped) }) ?? true {
                let text = "\(state.delivered) \(state.dropped)\n"
                try text.write(to: cursorURL, atomically: true, encoding: .utf8)
                state.savedCursor = (state.delivered, state.dropped)
            }
        }
    }

    /// Deletes segments that are delivered, too old, or over the size bound (oldest first).
    private func trim(_ state: inout State, now: Int64) {
        let oldest = Date(timeIntervalSince1970: Double(now - limits.maximumAge) / 1000)
        while state.log.segments.count > 1 {
            let end = state.log.segmentEnd(0)
            let delivered = end <= state.delivered
            let tooOld = state.log.modified(0).map { $0 < oldest } ?? false
            guard delivered || tooOld || state.log.size > limits.maximumBytes else { return }
            if !delivered {
                state.dropped += UInt64(state.log.count(from: state.delivered, inSegmentAt: 0))
                state.delivered = end
            }
            if let replay = state.replay, replay.next < end { state.replay = (end, max(end, replay.end)) }
            state.log.dropOldest()
        }
    }

    public var status: Status {
        state.withLock { state in
            Status(bytes: state.log.size, pendingBytes: state.log.end - state.delivered, dropped: state.dropped, replaying: state.replay != nil)
        }
    }

    /// Writes everything to disk and asks the disk to keep it (at shutdown).
    public func close() {
        state.withLock { state in try? state.log.flush(sync: true) }
    }
}
