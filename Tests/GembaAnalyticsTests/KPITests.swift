import GembaAnalytics
import GembaCore
import Testing

/// The KPI definitions, computed from states, shifts and counts as a machine reports them.
@Suite struct KPITests {
    static let minute: Int64 = 60_000
    static let shiftStart: Int64 = 1_800_000_000_000
    static func at(_ minutes: Int64) -> Int64 { shiftStart + minutes * minute }

    /// The case: 480 min shift, 30 min break, 60 min breakdown, 1.5 min ideal cycle, 242 units, 21 defective.
    static func referenceShift() -> KPIComponents {
        ProductionTimeline.components(
            window: at(0)..<at(480), shifts: [at(0)..<at(480)], breaks: [at(240)..<at(270)],
            states: [
                StateInterval(start: at(0), end: at(120), category: .producing),
                StateInterval(start: at(120), end: at(180), category: .unplannedStop, reason: "unplanned_stop/equipment_failure",
                              isFailure: true),
                StateInterval(start: at(180), end: at(480), category: .producing),
            ],
            counts: [ProductionCount(time: at(479), total: 242, good: 221, idealCycleTime: 90_000)])
    }

    static func percent(_ value: KPIValue) -> Double? { value.value.map { ($0 * 10_000).rounded() / 100 } }

    @Test func theReferenceShift() {
        let components = Self.referenceShift()
        #expect(components.plannedProductionTime == 450 * Self.minute)
        #expect(components.runTime == 390 * Self.minute)
        let kpis = KPIs(components)
        #expect(Self.percent(kpis.availability) == 86.67)
        #expect(Self.percent(kpis.performance) == 93.08)
        #expect(Self.percent(kpis.quality) == 91.32)
        #expect(Self.percent(kpis.oee) == 73.67)
        #expect(kpis.mttr.value == Double(60 * Self.minute))
        #expect(kpis.mtbf.value == Double(390 * Self.minute) / 2)
        #expect(Self.percent(kpis.scrapRatio) == 8.68)
    }

    @Test func aLineIsTheSumOfItsMachinesNotTheAverageOfTheirPercentages() {
        let busy = Self.referenceShift()
        var short = KPIComponents()  // a machine planned for 2 hours only, running slowly
        short.calendarTime = 480 * Self.minute
        short.scheduledTime = 120 * Self.minute
        short.totalCount = 40
        short.goodCount = 40
        short.idealTime = 40 * 90_000
        let sum = busy + short
        let line = KPIs(sum)
        let expected = Double(sum.runTime) / Double(sum.plannedProductionTime) * Double(sum.idealTime) / Double(sum.runTime)
            * Double(sum.goodCount) / Double(sum.totalCount)
        #expect(abs(line.oee.value! - expected) < 1e-12)
        let averaged = (KPIs(busy).oee.value! + KPIs(short).oee.value!) / 2
        #expect(abs(line.oee.value! - averaged) > 0.01, "averaging percentages would weigh the 2-hour machine like the 8-hour one")
    }

    @Test func aDayIsTheSumOfItsShifts() {
        let states = [StateInterval(start: Self.at(0), end: Self.at(400), category: .producing),
                      StateInterval(start: Self.at(400), end: Self.at(560), category: .unplannedStop, isFailure: true),
                      StateInterval(start: Self.at(560), end: Self.at(960), category: .producing)]
        let shifts = [Self.at(0)..<Self.at(480), Self.at(480)..<Self.at(960)]
        let counts = [ProductionCount(time: Self.at(100), total: 100, good: 98, idealCycleTime: 90_000),
                      ProductionCount(time: Self.at(700), total: 120, good: 119, idealCycleTime: 90_000)]
        let day = ProductionTimeline.components(window: Self.at(0)..<Self.at(960), shifts: shifts, breaks: [], states: states,
                                                counts: counts)
        let first = ProductionTimeline.components(window: shifts[0], shifts: shifts, breaks: [], states: states, counts: counts)
        let second = ProductionTimeline.components(window: shifts[1], shifts: shifts, breaks: [], states: states, counts: counts)
        #expect(first + second == day)
        // The breakdown crosses the shift change: its time is split, the failure counted once, where it started.
        #expect(first.downtime == 80 * Self.minute && second.downtime == 80 * Self.minute)
        #expect(first.failures == 1 && second.failures == 0)
    }

    @Test func noPlannedTimeGivesNullsWithAReasonNeverNaN() {
        let components = ProductionTimeline.components(
            window: Self.at(0)..<Self.at(60), shifts: [], breaks: [],
            states: [StateInterval(start: Self.at(0), end: Self.at(60), category: .producing)], counts: [])
        let kpis = KPIs(components)
        for value in [kpis.availability, kpis.performance, kpis.oee, kpis.teep, kpis.mtbf, kpis.setupRate] {
            #expect(value.value == nil)
            #expect(value.note != nil)
        }
        #expect(kpis.utilization.value == 0)
    }

    @Test func performanceAboveOneIsReportedAndFlaggedNotClamped() {
        var components = Self.referenceShift()
        components.idealTime = 3 * components.idealTime
        let kpis = KPIs(components)
        #expect(Self.percent(kpis.performance) == 279.23)
        #expect(kpis.performance.flagged && kpis.oee.flagged)
    }

    @Test func missingDataIsUnknownAndCountsAsDowntime() {
        let components = ProductionTimeline.components(
            window: Self.at(0)..<Self.at(480), shifts: [Self.at(0)..<Self.at(480)], breaks: [],
            states: [StateInterval(start: Self.at(0), end: Self.at(400), category: .producing)], counts: [])
        #expect(components.unknownTime == 80 * Self.minute)
        #expect(components.downtime == 80 * Self.minute)
        #expect(Self.percent(KPIs(components).availability) == 83.33)
    }

    /// Before the first sample, time is not monitored: in a shift or out of it, never scheduled and never a loss.
    @Test func timeBeforeMonitoringBeganIsNeitherScheduledNorALoss() {
        let components = ProductionTimeline.components(
            window: Self.at(0)..<Self.at(600), shifts: [Self.at(60)..<Self.at(540)], breaks: [Self.at(100)..<Self.at(130)],
            states: [StateInterval(start: Self.at(200), end: Self.at(600), category: .producing)], counts: [],
            monitoredSince: Self.at(180))
        #expect(components.notMonitoredTime == 180 * Self.minute)
        #expect(components.scheduledTime == 360 * Self.minute && components.excludedTime == 0)  // 180–540; the break was before
        #expect(components.unknownTime == 20 * Self.minute && components.downtime == 20 * Self.minute)  // 180–200 monitored, no state
        #expect(Self.percent(KPIs(components).availability) == 94.44)
        #expect(Self.percent(KPIs(components).utilization) == 85.71)  // 360 planned of 420 monitored minutes
        let never = ProductionTimeline.components(window: Self.at(0)..<Self.at(600), shifts: [Self.at(60)..<Self.at(540)], breaks: [],
                                                  states: [], counts: [], monitoredSince: .max)
        #expect(never.notMonitoredTime == 600 * Self.minute && never.downtime == 0 && KPIs(never).availability.value == nil)
    }

    @Test func lossClassesDecideWhereTimeGoes() {
        let components = ProductionTimeline.components(
            window: Self.at(0)..<Self.at(100), shifts: [Self.at(0)..<Self.at(100)], breaks: [],
            states: [
                StateInterval(start: Self.at(0), end: Self.at(20), category: .notScheduled, reason: "not_scheduled/no_order"),
                StateInterval(start: Self.at(20), end: Self.at(40), category: .plannedStop, reason: "planned_stop/changeover",
                              isSetup: true),
                StateInterval(start: Self.at(40), end: Self.at(45), category: .microstop),
                StateInterval(start: Self.at(45), end: Self.at(60), category: .reducedSpeed),
                StateInterval(start: Self.at(60), end: Self.at(100), category: .producing),
            ], counts: [])
        #expect(components.excludedTime == 20 * Self.minute)
        #expect(components.plannedProductionTime == 80 * Self.minute)
        #expect(components.downtime == 20 * Self.minute && components.setupTime == 20 * Self.minute)
        #expect(components.performanceLossTime == 20 * Self.minute)
        #expect(components.runTime == 60 * Self.minute)
        #expect(Self.percent(KPIs(components).setupRate) == 25)
        #expect(Self.percent(KPIs(components).utilization) == 80)
    }

    @Test func timeByReasonAndTheDowntimePareto() {
        let components = ProductionTimeline.components(
            window: Self.at(0)..<Self.at(480), shifts: [Self.at(0)..<Self.at(480)], breaks: [Self.at(240)..<Self.at(270)],
            states: [
                StateInterval(start: Self.at(0), end: Self.at(100), category: .producing, reason: "producing/running"),
                StateInterval(start: Self.at(100), end: Self.at(130), category: .unplannedStop, reason: "unplanned_stop/jam"),
                StateInterval(start: Self.at(130), end: Self.at(200), category: .unplannedStop,
                              reason: "unplanned_stop/equipment_failure", isFailure: true),
                StateInterval(start: Self.at(200), end: Self.at(460), category: .producing, reason: "producing/running"),
            ], counts: [])
        #expect(components.timeByReason.values.reduce(0, +) == components.scheduledTime)
        #expect(components.timeByReason["not_scheduled/break"] == 30 * Self.minute)
        let pareto = components.downtimePareto
        #expect(pareto.map(\.reason) == ["unplanned_stop/equipment_failure", "unplanned_stop/jam", "unknown/no_data"])
        #expect(pareto.map(\.time) == [70 * Self.minute, 30 * Self.minute, 20 * Self.minute])
        #expect(abs(pareto.map(\.share).reduce(0, +) - 1) < 1e-12)
        #expect(pareto.map(\.time).reduce(0, +) == components.downtime)
    }
}
