/// A scoring profile of the Numenta Anomaly Benchmark: the weights of a detected window (true
/// positive), a detection outside every window (false positive) and a missed window (false negative).
public struct NABProfile: Hashable, Sendable {
    public var name: String
    public var truePositive: Double
    public var falsePositive: Double
    public var falseNegative: Double

    public init(name: String, truePositive: Double, falsePositive: Double, falseNegative: Double) {
        self.name = name
        self.truePositive = truePositive
        self.falsePositive = falsePositive
        self.falseNegative = falseNegative
    }

    public static let standard = NABProfile(name: "standard", truePositive: 1, falsePositive: 0.11, falseNegative: 1)
    public static let rewardLowFalsePositives = NABProfile(name: "reward_low_fp", truePositive: 1, falsePositive: 0.22, falseNegative: 1)
    public static let rewardLowFalseNegatives = NABProfile(name: "reward_low_fn", truePositive: 1, falsePositive: 0.11, falseNegative: 2)

    /// NAB's three profiles.
    public static let all = [standard, rewardLowFalsePositives, rewardLowFalseNegatives]
}
