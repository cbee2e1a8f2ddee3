internal import GembaCore
internal import GembaStorage

/// Chooses how to answer a history request: raw samples when they fit in the requested number
/// of points, otherwise min/max-preserving buckets from the coarsest rollup that still gives
/// at least half the requested points (minute rollups from 30 s buckets, hour rollups from 30 min).
struct HistoryPlanner {
    let store: any TelemetryStore

    func history(_ series: Series, from: Timestamp, to: Timestamp, points: Int) async throws -> History {
        let span = to.millisecondsSinceEpoch - from.millisecondsSinceEpoch
        var width = max(1, (span + Int64(points) - 2) / Int64(points - 1))
        let numeric = series.tag.valueType != .string
        if !numeric || width < Resolution.minute.milliseconds / 2 {
            let count = try await store.count(series: series.id, from: from, to: to, cap: points + 1)
            if count <= points || !numeric {
                let samples = try await store.samples(series: series.id, from: from, to: to, limit: points)
                return History(series: series, samples: samples, resolution: .raw)
            }
            let buckets = try await store.buckets(series: series.id, from: from, to: to, width: width, resolution: .raw)
            return History(series: series, buckets: buckets, bucketWidth: width, resolution: .raw)
        }
        let resolution: Resolution = width >= Resolution.hour.milliseconds / 2 ? .hour : .minute
        let period = resolution.milliseconds
        width = (width + period - 1) / period * period
        let buckets = try await store.buckets(series: series.id, from: from, to: to, width: width, resolution: resolution)
        return History(series: series, buckets: buckets, bucketWidth: width, resolution: resolution)
    }

    static func write(_ history: History, into json: inout JSONWriter) {
        let series = history.series
        json.object { json in
            json.field("machine") { $0.string(series.key.machine.description) }
            json.field("tag") { $0.string(series.key.tag) }
            json.field("unit") { json in series.tag.unit.map { json.string($0) } ?? json.null() }
            json.field("value_type") { $0.string(series.tag.valueType.rawValue) }
            json.field("resolution") { $0.string(history.resolution.rawValue) }
            if let samples = history.samples {
                json.field("points") { json in
                    json.array { json in
                        for sample in samples {
                            json.object { json in QueryRoutes.write(sample, type: series.tag.valueType, into: &json) }
                        }
                    }
                }
            }
            if let buckets = history.buckets, let width = history.bucketWidth {
                json.field("bucket_ms") { $0.int(width) }
                json.field("buckets") { json in
                    json.array { json in
                        for bucket in buckets {
                            json.object { json in
                                json.field("t") { $0.int(bucket.start.millisecondsSinceEpoch) }
                                json.field("min") { $0.double(bucket.min) }
                                json.field("max") { $0.double(bucket.max) }
                                json.field("avg") { $0.double(bucket.average) }
                                json.field("first") { $0.double(bucket.first) }
                                json.field("last") { $0.double(bucket.last) }
                                json.field("count") { $0.int(bucket.count) }
                            }
                        }
                    }
                }
            }
        }
    }
}
