/// How time spent in a state counts toward OEE, after the "six big losses" and ISO 22400-2.
public enum LossClass: String, Sendable, Hashable, Codable, CaseIterable {
    /// Producing at the ideal rate: run time, no loss.
    case none
    /// Outside planned production time (breaks, no shift, no order): neither planned nor lost.
    case excluded
    /// Stops the machine was planned to run through: subtracted from planned production time to give run time.
    case availability
    /// Running, but slower than ideal or in short stops: part of run time, visible in performance.
    case performance
}

/// The canonical machine states every reason code belongs to.
public enum MachineStateCategory: String, Sendable, Hashable, Codable, CaseIterable {
    case producing
    case reducedSpeed = "reduced_speed"
    case idle
    case microstop
    case plannedStop = "planned_stop"
    case notScheduled = "not_scheduled"
    case unplannedStop = "unplanned_stop"
    /// No data for longer than the timeout: never allowed to make the numbers look better.
    case unknown

    /// The loss class the six big losses give this category; reason codes may override it.
    public var defaultLossClass: LossClass {
        switch self {
        case .producing: .none
        case .reducedSpeed, .microstop: .performance
        case .notScheduled: .excluded
        case .idle, .plannedStop, .unplannedStop, .unknown: .availability
        }
    }
}
