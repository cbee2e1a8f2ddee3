import Foundation
import GembaCore
@testable import GembaDetect
import Testing

/// Forecast bands on series whose course is known.
@Suite struct ForecastBandTests {
    @Test func aSeasonalSeriesIsForecastWithinItsBandAndTheBandHoldsAboutItsCoverage() throws {
        var random = SplitMix64(seed: 3)
        let period = 48
        func value(_ index: Int) -> Double {
            20 + 5 * sin(Double(index) * 2 * .pi / Double(period)) + Double.random(in: -1...1, using: &random)
        }
        let history = (0..<(period * 20)).map(value)
        let band = try #require(ForecastBand.forecast(history, period: period, horizon: 12))
        #expect(band.points.map(\.step) == Array(1...12))
        #expect(band.points.allSatisfy { $0.low < $0.value && $0.value < $0.high && $0.high - $0.low < 6 }, "\(band.points)")
        let coverage = try #require(band.measuredCoverage)
        #expect(coverage > 0.85 && coverage < 0.95 && band.checked > 5_000, "\(coverage) over \(band.checked)")
        // The next twelve values, drawn the same way, mostly fall inside.
        let truth = (history.count..<(history.count + 12)).map(value)
        let inside = zip(band.points, truth).filter { $0.low <= $1 && $1 <= $0.high }.count
        #expect(inside >= 9, "\(inside) of 12")
    }

    @Test func tooShortAHistoryHasNoBandAndGapsAreHeld() {
        #expect(ForecastBand.forecast([1, 2, 3], period: 1, horizon: 5) == nil)
        let withGaps = (0..<300).map { $0 % 7 == 0 ? Double.nan : 10 + Double($0 % 3) }
        let band = ForecastBand.forecast(withGaps, period: 1, horizon: 3)
        #expect(band?.points.count == 3 && band!.points.allSatisfy { $0.value.isFinite && $0.low.isFinite })
    }
}
