public import GembaCore

/// What one machine has reported, as its rules read it: each tag's newest sample and, for tags a
/// rule reads over a window (rate, deviation), the trailing samples (bounded).
public struct MachineSignals: Sendable {
    /// Most samples kept per windowed tag; past it the oldest go (a window of a fast tag then reaches back less far).
    public static let windowCapacity = 4096

    /// Each tag's newest sample.
    public private(set) var latest: [String: Sample] = [:]
    private var windows: [String: TrailingWindow] = [:]

    public init() {}

    /// Keeps trailing samples of `tag` for `span` milliseconds (the longest window any rule reads);
    /// a span of 0 keeps none.
    public mutating func keepWindow(of tag: String, span: Int64) {
        guard span > 0 else { return }
        windows[tag, default: TrailingWindow(span: span)].span = max(windows[tag]?.span ?? 0, span)
    }

    /// Records a sample; one older than the tag's newest changes nothing and answers false (late or repeated data).
    @discardableResult
    public mutating func record(tag: String, _ sample: Sample) -> Bool {
        if let recorded = recordKnown(tag: tag, sample) { return recorded }
        latest[tag] = sample
        appendToWindow(tag: tag, sample)
        return true
    }

    /// Whether the machine reported `tag` before (a sample of it was recorded).
    public func hasReported(_ tag: String) -> Bool { latest.index(forKey: tag) != nil }

    /// Records a sample of a tag recorded before, like ``record(tag:_:)``, with one hash of the tag;
    /// nil, recording nothing, for a tag this machine never reported.
    public mutating func recordKnown(tag: String, _ sample: Sample) -> Bool? {
        guard let index = latest.index(forKey: tag) else { return nil }
        guard latest.values[index].time <= sample.time else { return false }
        latest.values[index] = sample
        appendToWindow(tag: tag, sample)
        return true
    }

    private mutating func appendToWindow(tag: String, _ sample: Sample) {
        if !windows.isEmpty, let number = sample.value.numeric, sample.quality != .bad {
            windows[tag]?.append(time: sample.time.millisecondsSinceEpoch, value: number)
        }
    }

    /// The windowed samples of `tag` in `(now - span, now]`.
    func window(of tag: String, span: Int64, now: Int64) -> ArraySlice<TrailingWindow.Entry> {
        windows[tag]?.entries(from: now - span, through: now) ?? []
    }
}

/// A tag's recent numeric samples, oldest first, trimmed to a span of time and a count.
struct TrailingWindow: Sendable {
    struct Entry: Sendable {
        var time: Int64
        var value: Double
    }

    var span: Int64
    private var storage: [Entry] = []
    private var start = 0

    init(span: Int64) { self.span = span }

    mutating func append(time: Int64, value: Double) {
        storage.append(Entry(time: time, value: value))
        while start < storage.count, storage[start].time <= time - span { start += 1 }
        if storage.count - start > MachineSignals.windowCapacity { start = storage.count - MachineSignals.windowCapacity }
        if start > 256, start * 2 > storage.count {
            storage.removeFirst(start)
            start = 0
        }
    }

    func entries(from lower: Int64, through upper: Int64) -> ArraySlice<Entry> {
        let live = storage[start...]
        let first = live.firstIndex { $0.time > lower } ?? live.endIndex
        let last = live[first...].lastIndex { $0.time <= upper }.map { $0 + 1 } ?? first
        return live[first..<last]
    }
}
