import GembaConnectors
import GembaCore
import GembaSimulator
import Sparkplug
import Synchronization

/// Simulated machines as an edge node's devices: every interval each machine steps on and reports
/// its readings; a write from the host is taken by the machine and reported back.
final class SimulatedMachinesSource: EdgeDeviceSource {
    /// Tag units of the simulated machines, sent as `engUnit` properties in the births.
    static let units = ["spindle_temp": "°C", "vibration": "mm/s", "power": "kW", "speed": "rpm"]

    let id = "simulated"
    let devices: [(id: String, metrics: [SparkplugEdgeNode.MetricSpec])]
    private let machines: Mutex<[MachineSimulator]>
    private let interval: Duration
    private let speed: Double

    init(machines: [MachineSimulator], interval: Duration, speed: Double) {
        var probe = machines[0]
        let specs = probe.readings().map { name, value in
            SparkplugEdgeNode.MetricSpec(name: name, dataType: .natural(for: value), unit: Self.units[name])
        }
        devices = machines.map { (id: $0.path.machine, metrics: specs) }
        self.machines = Mutex(machines)
        self.interval = interval
        self.speed = speed
    }

    func run(_ outlet: any EdgeSink) async {
        let dt = interval.inSeconds
        while !Task.isCancelled {
            let readings = machines.withLock { machines in
                machines.indices.map { index in
                    machines[index].step(dt: dt * speed)
                    return (machines[index].path.machine, machines[index].readings())
                }
            }
            let now = UInt64(Timestamp.now().millisecondsSinceEpoch)
            for (device, values) in readings {
                outlet.update(device: device, readings: values.map { .init(name: $0.0, value: SparkplugValue($0.1), timestamp: now) })
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// The simulated device takes the value and reports it back.
    func write(device: String, metric: String, value: SparkplugValue, sink outlet: any EdgeSink) async {
        outlet.update(device: device, readings: [.init(name: metric, value: value, timestamp: UInt64(Timestamp.now().millisecondsSinceEpoch))])
    }
}
