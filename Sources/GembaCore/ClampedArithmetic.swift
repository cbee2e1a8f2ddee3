/// Arithmetic that holds at `Int64`'s bounds instead of trapping. Counts come from devices: a
/// counter that reads `Int64.min` and then `Int64.max`, or an ideal cycle time times a huge count,
/// must give a wrong-looking figure, never a crashed server.
extension Int64 {
    /// `self + other`, held at the bound it passes.
    public func clampedAdding(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self − other`, held at the bound it passes.
    public func clampedSubtracting(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    /// `self × other`, held at the bound it passes.
    public func clampedMultiplied(by other: Int64) -> Int64 {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) == (other < 0) ? .max : .min) : product
    }
}
