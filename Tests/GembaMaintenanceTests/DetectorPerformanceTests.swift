import Testing
@testable import GembaMaintenance

@Suite struct DetectorPerformanceTests {
    let hour: Int64 = 3_600_000

    @Test func precisionFromLabelsRecallAndLeadTimeFromFailures() {
        let day = 24 * hour
        let events: [DetectorPerformance.Event] = [
            .init(machine: "p/l/a", start: 14 * hour, label: .truePositive),     // 9 h before a's failure: the first one counts
            .init(machine: "p/l/a", start: 20 * hour, label: nil),
            .init(machine: "p/l/b", start: 30 * hour, label: .falsePositive),    // before b's failure, but labelled false
            .init(machine: "p/l/b", start: day + 2 * hour, label: .falsePositive),
            .init(machine: "p/l/c", start: day + 1 * hour, label: .truePositive),
        ]
        let failures: [DetectorPerformance.Failure] = [
            .init(machine: "p/l/a", time: 23 * hour),
            .init(machine: "p/l/b", time: 31 * hour),
            .init(machine: "p/l/c", time: day + 20 * hour),   // 19 h after c's event: beyond the horizon
            .init(machine: "p/l/a", time: 3 * day),            // outside the range
        ]
        let result = DetectorPerformance.compute(detector: "knn", events: events, failures: failures, range: 0..<(2 * day),
                                                 horizon: 12 * hour, period: day)
        #expect(result.total.events == 5 && result.total.truePositives == 2 && result.total.falsePositives == 2 && result.total.unlabelled == 1)
        #expect(result.total.precision == 0.5)
        #expect(result.total.failures == 3 && result.total.caught == 1)
        #expect(result.total.recall == 1.0 / 3.0 && result.total.medianLeadTime == 9 * hour)
        #expect(result.periods.count == 2)
        #expect(result.periods[0].figures.events == 2 && result.periods[0].figures.precision == 1 && result.periods[0].figures.failures == 1)
        #expect(result.periods[1].figures.events == 3 && result.periods[1].figures.precision == 1.0 / 3.0)
        #expect(result.periods[1].figures.failures == 2 && result.periods[1].figures.caught == 0 && result.periods[1].figures.medianLeadTime == nil)
    }

    @Test func noLabelsAndNoFailuresGiveNoRatios() {
        let result = DetectorPerformance.compute(detector: "x", events: [.init(machine: "m", start: 5, label: nil)], failures: [],
                                                 range: 0..<10, horizon: 5, period: 100)
        #expect(result.total.precision == nil && result.total.recall == nil && result.periods.count == 1)
    }
}
