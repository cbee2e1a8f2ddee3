#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaCore
internal import GembaDetect
internal import GembaRules
internal import GembaStorage
internal import Hummingbird

/// A tag's forecast with its band: the next steps of its per-step means, each with an interval
/// calibrated on the tag's own history (`ForecastBand`), and how often such intervals held there.
struct ForecastRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/forecast", .requires(.readData), group: "Maintenance",
                     summary: "A numeric tag forecast some steps ahead, each step with an interval meant to hold the truth 90 % of the time",
                     description: "Holt-Winters (damped trend; a day's season when the tag's values span two days or more) over the tag's "
                        + "per-step means, gaps held at the last mean; each step's interval is the split-conformal quantile of the errors "
                        + "that step's forecasts made over the history. `measuredCoverage` is how often those intervals held the truth there.",
                     parameters: [Parameter("machine", .string(minLength: 1, maxLength: 200), required: true, example: "plant1/line1/press-1", "The machine"),
                                  Parameter("tag", .string(minLength: 1, maxLength: 64), required: true, example: "spindle_temp", "A numeric tag"),
                                  Parameter("step", .string(minLength: 2, maxLength: 10), example: "1m", "The step (1m to 1d, whole minutes; default 1m)"),
                                  Parameter("steps", .integer(minimum: 1, maximum: 240), "How many steps ahead (default 60)"),
                                  Parameter("history", .string(minLength: 2, maxLength: 10), example: "7d", "How much history to learn (default 7d, at most 92d)"),
                                  Parameter("coverage", .number, "The intervals' intended coverage, 0.5 to 0.99 (default 0.9)")],
                     responses: [.json(200, "The forecast", Self.forecast), .problem(400, "A parameter is not valid"),
                                 .problem(404, "No such machine or tag"),
                                 .problem(422, "The tag is not numeric, or its history is too short (the detail says how much is needed)")]) { request, context in
                try await forecast(request, context)
            },
        ]
    }

    private func forecast(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        let machine = try QueryRoutes.machinePath(try parameters.require("machine"))
        let tag = try parameters.require("tag")
        let step = try QueryRoutes.duration(parameters.get("step") ?? "1m", "step", 60_000...86_400_000)
        guard step % 60_000 == 0 else { throw Problem.badRequest("step is a whole number of minutes") }
        let history = try QueryRoutes.duration(parameters.get("history") ?? "7d", "history", 3_600_000...(92 * 86_400_000))
        let steps = try parameters.get("steps").map { text throws(Problem) in
            guard let steps = Int(text), (1...240).contains(steps) else { throw Problem.badRequest("steps is 1 to 240") }
            return steps
        } ?? 60
        let coverage = try parameters.get("coverage").map { text throws(Problem) in
            guard let coverage = Double(text), (0.5...0.99).contains(coverage) else { throw Problem.badRequest("coverage lies between 0.5 and 0.99") }
            return coverage
        } ?? 0.9
        guard let series = try await server.store.series(tenant: context.tenant, machine: machine).first(where: { $0.key.tag == tag }) else {
            throw Problem.notFound("no tag \(tag) on \(machine)")
        }
        guard series.tag.valueType != .string else { throw Problem(.unprocessableContent, "\(tag) is not numeric: it has no forecast") }
        let end = Timestamp.now().millisecondsSinceEpoch / step * step  // the current step is not over: it is forecast, not learnt
        let start = end - history / step * step
        let resolution: Resolution = step % Resolution.hour.milliseconds == 0 ? .hour : .minute
        let buckets = try await server.store.buckets(series: series.id, from: Timestamp(millisecondsSinceEpoch: start),
                                                     to: Timestamp(millisecondsSinceEpoch: end), width: step, resolution: resolution)
        var values = Array(repeating: Double.nan, count: Int((end - start) / step))
        for bucket in buckets where bucket.count > 0 {
            let index = Int((bucket.start.millisecondsSinceEpoch - start) / step)
            if values.indices.contains(index) { values[index] = bucket.average }
        }
        // A day's season when the values span two days or more.
        let day = Int64(86_400_000)
        let first = values.firstIndex(where: \.isFinite) ?? values.count
        let daily = day % step == 0 && day / step <= 1_440 && Int64(values.count - first) * step >= 2 * day
        let period = daily ? Int(day / step) : 1
        guard first < values.count,
              let band = ForecastBand.forecast(Array(values[first...]), period: period, horizon: steps, coverage: coverage) else {
            let needed = (period > 1 ? period : 0) + steps + ForecastBand.minimumErrors
            throw Problem(.unprocessableContent, "too little history to forecast \(tag) \(steps) steps of \(RuleText.duration(step)) ahead: "
                          + "it needs about \(needed) steps with values (\(RuleText.duration(Int64(needed) * step))), "
                          + "the last \(RuleText.duration(history)) hold \(values.filter(\.isFinite).count)")
        }
        let view = ForecastView(machine: machine.description, tag: tag, step: step, coverage: coverage, seasonSteps: period,
                                measuredCoverage: band.measuredCoverage, checked: band.checked,
                                points: band.points.map { .init(t: end + Int64($0.step - 1) * step, v: $0.value, low: $0.low, high: $0.high) })
        return try OEERoutes.encoded(view)
    }

    struct ForecastView: Encodable {
        struct Point: Encodable {
            var t: Int64
            var v: Double
            var low: Double
            var high: Double
        }

        var machine: String
        var tag: String
        var step: Int64
        var coverage: Double
        var seasonSteps: Int
        var measuredCoverage: Double?
        var checked: Int
        var points: [Point]
    }

    static let forecast = Schema.object([
        "machine": TelemetrySchemas.machinePath, "tag": .string, "step": Schema.integer.described("ms"),
        "coverage": Schema.number.described("The intervals' intended coverage"),
        "seasonSteps": Schema.integer.described("Steps in a season (1: none)"),
        "measuredCoverage": Schema.number.described("How often the intervals drawn over the history held the truth"),
        "checked": Schema.integer.described("Intervals checked for measuredCoverage"),
        "points": .array(.object(["t": WorkOrderRoutes.time, "v": .number, "low": .number, "high": .number])),
    ], optional: ["measuredCoverage"]).named("Forecast")
}
