internal import GembaCore

/// Units from a cumulative counter (a PLC's part count): the first reading of a window is the
/// baseline, each later reading adds its increase. A decrease is a reset (the counter restarted
/// from 0, so the new value is what was made since), unless the counter wraps at `wrapAt` and the
/// previous value was in its upper half (then it went round: `wrapAt − previous + value`).
public enum CounterDeltas {
    /// The increase at each reading after the first, in time order.
    public static func deltas(_ readings: [(time: Int64, value: Int64)], wrapAt: Int64? = nil) -> [(time: Int64, units: Int64)] {
        let readings = readings.sorted { $0.time < $1.time }
        return zip(readings, readings.dropFirst()).map { previous, current in
            let units: Int64
            if current.value >= previous.value {
                units = current.value.clampedSubtracting(previous.value)
            } else if let wrapAt, previous.value >= wrapAt / 2 {
                units = wrapAt.clampedSubtracting(previous.value).clampedAdding(current.value)
            } else {
                units = current.value
            }
            return (current.time, units)
        }
    }
}
