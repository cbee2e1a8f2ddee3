public import GembaCore

/// A seeded factory: a fixed layout of sites, areas, lines and machines, each a ``MachineSimulator``.
public struct FactorySimulator: Sendable {
    public private(set) var machines: [MachineSimulator]

    /// A factory of `machineCount` machines spread over lines of four, two lines per area, on `sites` sites.
    public init(seed: UInt64, machineCount: Int, sites: Int = 1) {
        var machines: [MachineSimulator] = []
        for index in 0..<machineCount {
            let site = "plant\(index % max(1, sites) + 1)"
            let perSite = index / max(1, sites)
            let line = perSite / 4 + 1
            let area = (line - 1) / 2 % 2 == 0 ? "machining" : "pressing"
            let kind = area == "machining" ? "cnc" : "press"
            let path = try! AssetPath(site: site, area: area, line: "line\(line)", machine: "\(kind)-\(perSite + 1)")
            machines.append(MachineSimulator(path: path, seed: seed))
        }
        self.machines = machines
    }

    /// The demo factory: 12 machines on three lines of one plant.
    public static func demo(seed: UInt64 = 42) -> FactorySimulator { FactorySimulator(seed: seed, machineCount: 12) }

    /// Advances every machine by `dt` seconds.
    public mutating func step(dt: Double) {
        for index in machines.indices { machines[index].step(dt: dt) }
    }

    /// Every machine's readings now.
    public mutating func readings() -> [(AssetPath, [(String, SampleValue)])] {
        machines.indices.map { (machines[$0].path, machines[$0].readings()) }
    }

    /// Starts (or ends) maintenance on the machine at `path`; false if there is no such machine.
    @discardableResult
    public mutating func maintain(_ path: AssetPath, starting: Bool) -> Bool {
        guard let index = machines.firstIndex(where: { $0.path == path }) else { return false }
        if starting { machines[index].beginMaintenance() } else { machines[index].endMaintenance() }
        return true
    }

    /// Injects an anomaly into the machine at `path`; false if there is no such machine.
    @discardableResult
    public mutating func inject(_ anomaly: Anomaly, into path: AssetPath) -> Bool {
        guard let index = machines.firstIndex(where: { $0.path == path }) else { return false }
        machines[index].inject(anomaly)
        return true
    }
}

/// Encodes one machine's readings as the JSON record payload of `gemba/v1/<machine path>`.
public enum RecordPayload {
    public static func json(time: Timestamp, values: [(String, SampleValue)]) -> String {
        var out = "{\"ts\":\(time.millisecondsSinceEpoch),\"values\":{"
        for (index, (name, value)) in values.enumerated() {
            if index > 0 { out += "," }
            out += "\"\(name)\":"
            switch value {
            case .double(let number): out += number.description
            case .int(let number): out += String(number)
            case .bool(let flag): out += flag ? "true" : "false"
            case .string(let text): out += "\"\(text)\""  // simulator strings never need escaping
            }
        }
        return out + "}}"
    }
}
