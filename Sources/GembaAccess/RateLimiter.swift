public import GembaCore

/// Token buckets by key (an IP, an account, a principal), with a bounded number of keys.
///
/// Each key may spend `burst` requests at once and regains `perMinute` per minute. When the table
/// is full, the keys that have been idle longest go first (their buckets would be full anyway).
public struct RateLimiter: Sendable {
    public struct Rule: Sendable, Hashable {
        public var perMinute: Double
        public var burst: Double

        public init(perMinute: Double, burst: Double) {
            self.perMinute = perMinute
            self.burst = burst
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: Int64
    }

    public let rule: Rule
    private let maxKeys: Int
    private var buckets: [String: Bucket] = [:]

    public init(_ rule: Rule, maxKeys: Int = 100_000) {
        self.rule = rule
        self.maxKeys = maxKeys
    }

    /// Takes one token for `key` at `now`; nil when allowed, else the seconds until one is available.
    public mutating func take(_ key: String, now: Timestamp) -> Int? {
        let time = now.millisecondsSinceEpoch
        var bucket = buckets[key] ?? Bucket(tokens: rule.burst, updated: time)
        let elapsedMinutes = Double(max(0, time - bucket.updated)) / 60_000
        bucket.tokens = min(rule.burst, bucket.tokens + elapsedMinutes * rule.perMinute)
        bucket.updated = time
        defer {
            if buckets[key] == nil, buckets.count >= maxKeys { evictIdle() }
            buckets[key] = bucket
        }
        guard bucket.tokens >= 1 else {
            return max(1, Int(((1 - bucket.tokens) / rule.perMinute * 60).rounded(.up)))
        }
        bucket.tokens -= 1
        return nil
    }

    /// Drops the idlest tenth of the keys.
    private mutating func evictIdle() {
        let idle = buckets.sorted { $0.value.updated < $1.value.updated }.prefix(max(1, maxKeys / 10)).map(\.key)
        for key in idle { buckets[key] = nil }
    }

    public var keyCount: Int { buckets.count }
}
