import GembaCore
import Testing
@testable import GembaMaintenance

@Suite struct DetectorVersionTests {
    func version(_ number: Int, _ status: DetectorVersion.Status, activatedAt: Int64? = nil) -> DetectorVersion {
        var version = DetectorVersion(tenant: .default, detector: "vibration", version: number, configuration: "{}", status: status,
                                      createdBy: "eng", createdAt: Int64(number))
        version.activatedAt = activatedAt
        return version
    }

    func training(at time: Int64) -> DetectorVersion.Training {
        .init(from: 0, to: 1000, samples: 500, machines: 2, at: time, by: "eng")
    }

    @Test func trainingATrainedOrFailedVersionAgainIsAllowedButNotARunningOne() throws {
        let trained = try DetectorVersions.apply(.train(training(at: 5)), to: 1, in: [version(1, .draft)], at: 5)
        #expect(trained.map(\.status) == [.trained] && trained[0].training?.samples == 500)
        var failed = version(1, .failed)
        failed.error = "model unreadable"
        let retrained = try DetectorVersions.apply(.train(training(at: 6)), to: 1, in: [failed], at: 6)
        #expect(retrained[0].status == .trained && retrained[0].error == nil)
        #expect(throws: ModelError.self) { try DetectorVersions.apply(.train(training(at: 7)), to: 1, in: [version(1, .active)], at: 7) }
        #expect(throws: ModelError.self) { try DetectorVersions.apply(.train(training(at: 7)), to: 3, in: [version(1, .draft)], at: 7) }
    }

    @Test func promotionRetiresTheActiveVersionAndKeepsOneShadow() throws {
        let versions = [version(1, .active, activatedAt: 10), version(2, .shadow), version(3, .trained)]
        var trained3 = versions[2]
        trained3.training = training(at: 11)
        let shadowed = try DetectorVersions.apply(.shadow, to: 3, in: [versions[0], versions[1], trained3], at: 20)
        #expect(shadowed.map(\.version) == [3, 2] && shadowed.map(\.status) == [.shadow, .draft])

        let promoted = try DetectorVersions.apply(.promote, to: 2, in: versions, at: 30)
        #expect(promoted.map(\.version) == [2, 1] && promoted.map(\.status) == [.active, .retired])
        #expect(promoted[0].activatedAt == 30 && promoted[1].retiredAt == 30)
        #expect(throws: ModelError.self) { try DetectorVersions.apply(.promote, to: 1, in: [version(1, .active)], at: 30) }
        #expect(throws: ModelError.self) { try DetectorVersions.apply(.shadow, to: 1, in: [version(1, .failed)], at: 30) }
    }

    @Test func rollbackReturnsToTheVersionActiveMostRecentlyBefore() throws {
        let versions = [version(1, .retired, activatedAt: 10), version(2, .retired, activatedAt: 20), version(3, .active, activatedAt: 30),
                        version(4, .retired)]  // 4 never ran: not a rollback target
        let rolled = try DetectorVersions.rollback(versions, at: 40)
        #expect(rolled.map(\.version) == [2, 3] && rolled.map(\.status) == [.active, .retired])

        // Stopped altogether: the rollback restarts the latest.
        let stopped = [version(1, .retired, activatedAt: 10), version(2, .retired, activatedAt: 20)]
        #expect(try DetectorVersions.rollback(stopped, at: 40).map(\.version) == [2])
        #expect(throws: ModelError.self) { try DetectorVersions.rollback([version(1, .active, activatedAt: 1), version(2, .draft)], at: 40) }
    }

    @Test func evaluationsKeepTheNewestTen() throws {
        var versions = [version(1, .trained)]
        for index in 0..<12 {
            let evaluation = DetectorVersion.Evaluation(from: 0, to: 10, samples: index, machines: 1, horizon: 60_000,
                                                        figures: .init(), labelledRanges: 0, inSample: false, at: Int64(index), by: "eng")
            versions = try DetectorVersions.apply(.evaluate(evaluation), to: 1, in: versions, at: Int64(index))
        }
        #expect(versions[0].evaluations.map(\.samples) == Array(2..<12) && versions[0].status == .trained)
        #expect(DetectorVersions.next(after: versions) == 2 && DetectorVersions.next(after: []) == 1)
    }

    @Test func anEventTakesTheLabelOfTheRangesItMeets() {
        let minute: Int64 = 60_000
        let ranges = [LabelledRange(machine: "a", start: 100 * minute, end: 110 * minute, label: .falsePositive),
                      LabelledRange(machine: "a", start: 115 * minute, end: 120 * minute, label: .truePositive),
                      LabelledRange(machine: "b", start: 0, end: 10 * minute, label: .falsePositive)]
        #expect(LabelledRange.label(machine: "a", start: 95 * minute, end: 96 * minute, in: ranges) == .falsePositive)   // within tolerance
        #expect(LabelledRange.label(machine: "a", start: 108 * minute, end: 116 * minute, in: ranges) == .truePositive)  // meets both
        #expect(LabelledRange.label(machine: "a", start: 200 * minute, end: 201 * minute, in: ranges) == nil)
        #expect(LabelledRange.label(machine: "c", start: 0, end: minute, in: ranges) == nil)
    }
}
