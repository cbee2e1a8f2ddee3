import Foundation
import GembaCore
@testable import GembaDetect
import Testing

/// Forecasts with intervals, on series whose pattern is known.
@Suite struct ForecastTests {
    static func seasonal(_ count: Int, period: Int = 48, noise: Double, seed: UInt64 = 5) -> [Double] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let phase = Double(index % period) / Double(period) * 2 * Double.pi
            let wave: Double = 20 * sin(phase) + 0.01 * Double(index)
            return 100 + wave + Double.random(in: -noise...noise, using: &random)
        }
    }

    @Test func aSeasonalSeriesIsForecastAheadOnceASeasonIsSeen() {
        var forecaster = SeasonalForecaster(period: 48)
        let values = Self.seasonal(48 * 20, noise: 0)
        for value in values[..<(48 * 19)] { forecaster.learn(value) }
        #expect(forecaster.isWarm)
        for steps in [1, 12, 24] {
            let forecast = forecaster.forecast(steps: steps) ?? .nan
            #expect(abs(forecast - values[48 * 19 + steps - 1]) < 1, "\(steps) ahead: \(forecast) for \(values[48 * 19 + steps - 1])")
        }
    }

    @Test func theIntervalHoldsTheTruthAboutAsOftenAsIntended() {
        var forecast = ConformalForecast(forecaster: SeasonalForecaster(period: 48), horizon: 6, coverage: 0.9)
        var held = 0, drawn = 0
        for value in Self.seasonal(20_000, noise: 5) {
            if let hit = forecast.learn(value) {
                drawn += 1
                if hit { held += 1 }
            }
        }
        let coverage = Double(held) / Double(drawn)
        #expect(drawn > 19_000 && coverage > 0.88 && coverage < 0.92, "\(coverage)")
        let interval = forecast.next()
        #expect(interval.map { $0.low < $0.value && $0.value < $0.high } == true)
    }

    @Test func noIntervalBeforeEnoughErrorsAndInvalidValuesAreSkipped() {
        var forecast = ConformalForecast(forecaster: SeasonalForecaster(period: 1), horizon: 3)
        for value in [1.0, .nan, 2, .infinity, 3] { #expect(forecast.learn(value) == nil) }
        #expect(forecast.next() == nil)
    }
}
