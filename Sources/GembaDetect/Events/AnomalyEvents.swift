/// Turns a detector's scores into events people are told about: an event opens at the first score
/// at or above `threshold`, takes in every later one until `suppression` passes without one (so a
/// burst is one event, with its peak), then closes at the next score. Pure: the caller gives each
/// score with its time, in time order.
public struct AnomalyEvents: Sendable, Hashable, Codable {
    /// One event: from its first score over the threshold to its last.
    public struct Event: Sendable, Hashable, Codable {
        /// ms since the epoch.
        public var start: Int64
        /// The last score over the threshold (ms since the epoch).
        public var last: Int64
        public var peak: Double
        public var peakTime: Int64

        public init(start: Int64, last: Int64, peak: Double, peakTime: Int64) {
            self.start = start
            self.last = last
            self.peak = peak
            self.peakTime = peakTime
        }
    }

    /// What one score did to the events.
    public enum Change: Sendable, Hashable {
        case opened(Event)
        case closed(Event)
        /// The open event closed (its quiet time passed) and this score opened the next.
        case closedAndOpened(Event, Event)
    }

    public let threshold: Double
    /// How long (ms) an event stays open after its last score over the threshold.
    public let suppression: Int64
    public private(set) var open: Event?

    public init(threshold: Double, suppression: Int64) {
        self.threshold = threshold
        self.suppression = suppression
    }

    /// Takes one score; nil when no event opened or closed.
    public mutating func take(_ score: Double, at time: Int64) -> Change? {
        var closed: Event?
        if let event = open, time - event.last > suppression {
            closed = event
            open = nil
        }
        if score >= threshold {
            if var event = open {
                event.last = time
                if score > event.peak { (event.peak, event.peakTime) = (score, time) }
                open = event
            } else {
                let event = Event(start: time, last: time, peak: score, peakTime: time)
                open = event
                return closed.map { .closedAndOpened($0, event) } ?? .opened(event)
            }
        }
        return closed.map { .closed($0) }
    }
}
