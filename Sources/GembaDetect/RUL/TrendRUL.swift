/// Remaining useful life of one machine from a health indicator's trend: a straight line fitted to
/// the indicator's recent readings (least squares), extended to the failure threshold. The interval
/// comes from the slope's uncertainty (its standard error, at the given two-sided confidence): a
/// steeper slope crosses sooner, a shallower one later. No estimate while the indicator is not
/// moving towards the threshold.
public enum TrendRUL {
    public struct Estimate: Sendable, Equatable {
        /// Time until the threshold is crossed, in the readings' time unit (0 when already beyond it).
        public var remaining: Double
        public var low: Double
        /// Nil when, at the slope's lower bound, the indicator may not be approaching the threshold at all.
        public var high: Double?

        public init(remaining: Double, low: Double, high: Double?) {
            self.remaining = remaining
            self.low = low
            self.high = high
        }
    }

    /// `times` ascending, `values` the indicator at those times; the machine fails when the
    /// indicator reaches `threshold` rising (`failsAbove`, vibration, temperature) or falling (a
    /// pressure leaking away).
    public static func estimate(times: [Double], values: [Double], threshold: Double, failsAbove: Bool = true,
                                confidence: Double = 0.9) -> Estimate? {
        let points = zip(times, values).filter { $0.0.isFinite && $0.1.isFinite }
        guard points.count >= 3, let last = points.last else { return nil }
        let count = Double(points.count)
        let meanTime = points.reduce(0) { $0 + $1.0 } / count
        let meanValue = points.reduce(0) { $0 + $1.1 } / count
        var sxx = 0.0, sxy = 0.0
        for (time, value) in points {
            sxx += (time - meanTime) * (time - meanTime)
            sxy += (time - meanTime) * (value - meanValue)
        }
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx
        let intercept = meanValue - slope * meanTime
        let residual = points.reduce(0) { $0 + pow2($1.1 - (intercept + slope * $1.0)) }
        let standardError = (residual / (count - 2) / sxx).squareRoot()
        // The fitted level now, and which way failure lies.
        let now = last.0
        let level = intercept + slope * now
        let gap = failsAbove ? threshold - level : level - threshold
        guard gap > 0 else { return Estimate(remaining: 0, low: 0, high: 0) }
        let towards = failsAbove ? slope : -slope
        guard towards > 0 else { return nil }
        let z = normalQuantile((1 + confidence) / 2)
        let fastest = towards + z * standardError, slowest = towards - z * standardError
        return Estimate(remaining: gap / towards, low: gap / fastest, high: slowest > 0 ? gap / slowest : nil)
    }

    private static func pow2(_ value: Double) -> Double { value * value }

    /// The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).
    static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low { return -normalQuantile(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
