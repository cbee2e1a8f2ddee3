/// When a failed delivery is tried again: the Standard Webhooks schedule (immediately, then 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each delay with ±10 % jitter; an endpoint's `Retry-After`
/// replaces the delay (up to a day). After the last attempt the message is a dead letter.
public struct RetrySchedule: Sendable, Hashable {
    /// Delay before each retry, in milliseconds; attempts in all = delays + 1.
    public var delays: [Int64]

    public static let standard = RetrySchedule(delays: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000])

    public init(delays: [Int64]) { self.delays = delays }

    /// The next attempt's time after `attempts` failed ones at `now`; nil: give up (dead letter).
    /// `jitter` is a number in [-1, 1] (random in production, fixed in tests).
    public func next(after attempts: Int, now: Int64, retryAfter: Int64? = nil, jitter: Double) -> Int64? {
        guard attempts >= 1, attempts <= delays.count else { return nil }
        if let retryAfter { return now + min(max(retryAfter, 0), 86_400_000) }
        let delay = Double(delays[attempts - 1])
        return now + Int64((delay * (1 + 0.1 * max(-1, min(1, jitter)))).rounded())
    }
}
