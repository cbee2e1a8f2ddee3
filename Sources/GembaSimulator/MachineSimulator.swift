public import GembaCore

/// What a simulated machine is doing.
public enum MachineActivity: String, Sendable, CaseIterable {
    case producing
    case idle
    case setup
    case plannedStop = "planned_stop"
    case breakdown
    /// A short blockage: under two minutes it counts as a microstop, longer as an unplanned stop.
    case jam
    case materialShortage = "material_shortage"
}

/// A disturbance injected into a machine, for anomaly detection demos and tests.
public enum Anomaly: String, Sendable, CaseIterable {
    /// Vibration grows steadily (a failing bearing).
    case vibrationDrift = "vibration-drift"
    /// Spindle temperature jumps by 25 °C.
    case temperatureSpike = "temperature-spike"
}

/// One machine as a state machine with process physics: cycles and counts while producing (at
/// times at reduced speed), jams (many short enough to be microstops), material shortages,
/// idle spells, setups and planned stops, and breakdowns whose likelihood grows with wear.
/// Deterministic for a given seed and step sequence.
public struct MachineSimulator: Sendable {
    public let path: AssetPath
    /// Seconds one part takes at full speed.
    public let idealCycleTime: Double
    public private(set) var activity: MachineActivity = .producing
    public private(set) var faultCode: String?
    public private(set) var total: Int64 = 0
    public private(set) var good: Int64 = 0
    public private(set) var scrap: Int64 = 0
    /// The defect of the last scrapped part (a PLC's "last reject reason"); nil before the first.
    public private(set) var scrapReason: String?
    /// 0 (new) … 1 (worn out); raises breakdown rate, vibration, temperature and scrap.
    public private(set) var wear: Double
    public private(set) var anomalies: Set<Anomaly> = []

    private var random: SimulationRandom
    private var remaining: Double = 0      // seconds left in the current non-producing activity
    private var cycleProgress: Double = 0  // seconds into the current cycle
    private var temperature = 24.0
    private var drift = 0.0
    private var speedFactor = 1.0

    /// Defects of scrapped parts, in the proportions they occur (drawn in turn, not at random, so
    /// the random sequence, and every figure seeded from it, stays as it was).
    public static let defectCycle = ["porosity", "burr", "porosity", "dimension", "burr", "porosity", "surface", "dimension", "porosity", "burr"]

    public static let faultCodes = ["E101-spindle-overload", "E202-hydraulic-pressure", "E305-servo-fault", "E410-tool-breakage"]
    /// The fault a drifting bearing ends in.
    public static let bearingFailure = "E520-bearing-failure"
    /// How far a failing bearing's vibration drifts (mm/s) before it breaks down.
    public static let bearingFailureDrift = 5.0

    public init(path: AssetPath, seed: UInt64) {
        self.path = path
        var random = SimulationRandom(seed: seed, name: path.description)
        self.idealCycleTime = (random.between(6...30) * 10).rounded() / 10
        self.wear = random.between(0...0.5)
        self.random = random
    }

    public mutating func inject(_ anomaly: Anomaly) {
        anomalies.insert(anomaly)
        if anomaly == .temperatureSpike { temperature += 25 }
    }

    /// Advances the machine by `dt` seconds.
    public mutating func step(dt: Double) {
        switch activity {
        case .producing: produce(dt)
        default:
            remaining -= dt
            if remaining <= 0 { resume() }
        }
        let target = activity == .producing ? 62 + 12 * wear : 26
        temperature += (target - temperature) * min(1, dt / 120) + random.gaussian(deviation: 0.05 * dt.squareRoot())
        if anomalies.contains(.vibrationDrift) { drift += 0.004 * dt }
    }

    /// Takes the machine out of production for maintenance (a planned stop) until ``endMaintenance()``.
    public mutating func beginMaintenance() {
        enter(.plannedStop, seconds: .infinity)
        faultCode = nil
    }

    /// Ends maintenance: the machine is as good as new (wear low, a failing bearing replaced) and produces again.
    public mutating func endMaintenance() {
        guard activity == .plannedStop, remaining == .infinity else { return }
        wear = 0.02
        anomalies.remove(.vibrationDrift)
        drift = 0
        activity = .producing
    }

    private mutating func produce(_ dt: Double) {
        if anomalies.contains(.vibrationDrift), drift >= Self.bearingFailureDrift {
            enter(.breakdown, seconds: 3600)
            faultCode = Self.bearingFailure
            return
        }
        wear = min(1, wear + dt / (10 * 3600) * random.between(0.5...1.5))
        if random.happens(ratePerSecond: (1 + 12 * wear * wear) / (6 * 3600), dt: dt) {
            enter(.breakdown, seconds: random.between(300...1800))
            faultCode = Self.faultCodes[Int(random.next() % UInt64(Self.faultCodes.count))]
            return
        }
        if random.happens(ratePerSecond: 1.0 / (3 * 3600), dt: dt) { return enter(.setup, seconds: random.between(300...900)) }
        if random.happens(ratePerSecond: 1.0 / (40 * 60), dt: dt) { return enter(.jam, seconds: random.between(30...240)) }
        if random.happens(ratePerSecond: 1.0 / (5 * 3600), dt: dt) { return enter(.materialShortage, seconds: random.between(300...900)) }
        if random.happens(ratePerSecond: 1.0 / (4 * 3600), dt: dt) { return enter(.plannedStop, seconds: random.between(600...1200)) }
        if random.happens(ratePerSecond: 1.0 / 1200, dt: dt) { return enter(.idle, seconds: random.between(20...400)) }
        if random.happens(ratePerSecond: 1.0 / 1800, dt: dt) { speedFactor = random.between(0.7...0.9) }
        if random.happens(ratePerSecond: 1.0 / 900, dt: dt) { speedFactor = 1 }
        cycleProgress += dt * speedFactor
        while cycleProgress >= idealCycleTime {
            cycleProgress -= idealCycleTime
            total += 1
            if random.unit() < 0.015 + 0.06 * wear {
                scrapReason = Self.defectCycle[Int(scrap % Int64(Self.defectCycle.count))]
                scrap += 1
            } else {
                good += 1
            }
        }
    }

    private mutating func enter(_ next: MachineActivity, seconds: Double) {
        activity = next
        remaining = seconds
    }

    private mutating func resume() {
        if activity == .breakdown {
            wear = random.between(0...0.1)
            anomalies.remove(.vibrationDrift)
            drift = 0
        }
        activity = .producing
        faultCode = nil
    }

    /// The machine's signals now, as tag name → value.
    public mutating func readings() -> [(String, SampleValue)] {
        let producing = activity == .producing
        let speed = producing ? 1200 * speedFactor + random.gaussian(deviation: 6) : 0
        let vibration = producing ? 1.8 + 4 * wear * wear + drift + abs(random.gaussian(deviation: 0.15)) : 0.1 + drift / 4
        let power: Double
        switch activity {
        case .producing: power = 9 + 3 * speedFactor + 2 * wear + random.gaussian(deviation: 0.3)
        case .idle, .setup, .jam, .materialShortage: power = 1.8 + random.gaussian(deviation: 0.1)
        case .plannedStop, .breakdown: power = 0.4 + abs(random.gaussian(deviation: 0.05))
        }
        func rounded(_ value: Double, _ places: Double) -> Double { (value * places).rounded() / places }
        return [
            ("state", .string(producing && speedFactor < 0.95 ? "reduced_speed" : activity.rawValue)),
            ("fault_code", .string(faultCode ?? "none")),
            ("spindle_temp", .double(rounded(temperature, 100))),
            ("vibration", .double(rounded(vibration, 1000))),
            ("power", .double(rounded(power, 100))),
            ("speed", .double(rounded(speed, 10))),
            ("total_count", .int(total)),
            ("good_count", .int(good)),
            ("scrap_count", .int(scrap)),
            ("scrap_reason", .string(scrapReason ?? "none")),
        ]
    }
}
