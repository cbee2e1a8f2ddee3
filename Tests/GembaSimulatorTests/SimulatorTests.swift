import GembaCore
import GembaIngest
import GembaSimulator
import Testing

@Suite struct SimulatorTests {
    static func run(seed: UInt64, steps: Int) -> [[(String, SampleValue)]] {
        var factory = FactorySimulator(seed: seed, machineCount: 6)
        var out: [[(String, SampleValue)]] = []
        for _ in 0..<steps {
            factory.step(dt: 1)
            out += factory.readings().map(\.1)
        }
        return out
    }

    @Test func sameSeedSameFactory() {
        let a = Self.run(seed: 7, steps: 500).map { $0.map { "\($0.0)=\($0.1)" } }
        let b = Self.run(seed: 7, steps: 500).map { $0.map { "\($0.0)=\($0.1)" } }
        let c = Self.run(seed: 8, steps: 500).map { $0.map { "\($0.0)=\($0.1)" } }
        #expect(a == b)
        #expect(a != c)
    }

    @Test func layoutFollowsISA95() {
        let factory = FactorySimulator(seed: 1, machineCount: 12)
        #expect(Set(factory.machines.map(\.path.description)).count == 12)
        #expect(factory.machines[0].path.description == "plant1/machining/line1/cnc-1")
        #expect(factory.machines[11].path.description == "plant1/pressing/line3/press-12")
    }

    /// Over two simulated days every machine produces, counts add up and never go backwards,
    /// and wear leads to breakdowns with a fault code.
    @Test func daysOfProductionBehaveLikeAFactory() {
        var factory = FactorySimulator(seed: 3, machineCount: 8)
        var seen: Set<MachineActivity> = []
        var faults: Set<String> = []
        var lastTotals = [Int64](repeating: 0, count: 8)
        for _ in 0..<(2 * 86_400 / 5) {
            factory.step(dt: 5)
            for (index, machine) in factory.machines.enumerated() {
                seen.insert(machine.activity)
                if let code = machine.faultCode { faults.insert(code) }
                #expect(machine.good + machine.scrap == machine.total)
                #expect(machine.total >= lastTotals[index])
                lastTotals[index] = machine.total
            }
        }
        #expect(seen == Set(MachineActivity.allCases))
        #expect(!faults.isEmpty)
        for machine in factory.machines {
            let expectedMax = Int64(2 * 86_400 / machine.idealCycleTime) + 1
            #expect(machine.total > 0 && machine.total <= expectedMax)
        }
    }

    @Test func injectedDriftRaisesVibration() {
        var normal = FactorySimulator(seed: 5, machineCount: 1)
        var drifting = normal
        drifting.inject(.vibrationDrift, into: drifting.machines[0].path)
        for _ in 0..<600 { normal.step(dt: 1); drifting.step(dt: 1) }
        func vibration(_ factory: inout FactorySimulator) -> Double {
            guard case .double(let value)? = factory.readings()[0].1.first(where: { $0.0 == "vibration" })?.1 else { return -1 }
            return value
        }
        #expect(vibration(&drifting) > vibration(&normal) + 1)
    }

    @Test func aFailingBearingBreaksDownUnlessMaintainedFirst() {
        var factory = FactorySimulator(seed: 5, machineCount: 1)
        let path = factory.machines[0].path
        factory.inject(.vibrationDrift, into: path)
        var maintained = factory
        // The drift reaches the failure point after 5 / 0.004 s, whatever the machine did meanwhile.
        var brokeAt: Int?
        for second in 0..<2_000 where brokeAt == nil {
            factory.step(dt: 1)
            if factory.machines[0].faultCode == MachineSimulator.bearingFailure { brokeAt = second }
        }
        #expect(brokeAt.map { $0 >= 1_249 } == true, "\(String(describing: brokeAt))")
        // Maintained before that: a planned stop while the work runs, then as good as new.
        for _ in 0..<600 { maintained.step(dt: 1) }
        maintained.maintain(path, starting: true)
        for _ in 0..<1_200 { maintained.step(dt: 1) }
        #expect(maintained.machines[0].activity == .plannedStop)
        maintained.maintain(path, starting: false)
        #expect(maintained.machines[0].activity == .producing && maintained.machines[0].anomalies.isEmpty && maintained.machines[0].wear < 0.05)
        for _ in 0..<2_000 { maintained.step(dt: 1) }
        #expect(maintained.machines[0].faultCode != MachineSimulator.bearingFailure)
    }

    @Test func aScrappedPartNamesItsDefect() {
        var machine = MachineSimulator(path: try! AssetPath("acme/line1/m1"), seed: 3)
        #expect(machine.scrapReason == nil)
        for _ in 0..<(8 * 3600) { machine.step(dt: 1) }
        #expect(machine.scrap > 0)
        #expect(machine.scrapReason.map(MachineSimulator.defectCycle.contains) == true)
        #expect(machine.readings().contains { $0.0 == "scrap_reason" && $0.1 == .string(machine.scrapReason!) })
    }

    @Test func payloadIsAValidRecord() {
        var factory = FactorySimulator.demo()
        factory.step(dt: 1)
        let (path, values) = factory.readings()[0]
        let time = Timestamp(millisecondsSinceEpoch: 1_732_200_000_000)
        let payload = RecordPayload.json(time: time, values: values)
        let decoded = JSONRecordDecoder().decodeMQTT(topic: "gemba/v1/\(path)", payload: Array(payload.utf8), tenant: .default, now: time)
        #expect(decoded.errors.isEmpty)
        #expect(decoded.points.count == values.count)
        #expect(decoded.points.first { $0.series.tag == "total_count" }?.sample.value.valueType == .int)
    }
}
