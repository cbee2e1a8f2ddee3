internal import GembaCore
internal import GembaStorage
internal import GembaRules

/// What one machine reported over a span, read from raw samples and ready for the timeline:
/// state intervals (with the reasons people gave laid over them), units with their ideal cycle
/// times, and fault codes.
struct MachineRecord: Sendable {
    /// The machine's first stored sample: time before it is not monitored (`.max` when it has none).
    var monitoredSince: Int64
    /// State intervals from `monitoredSince` on (no unknown time is made up before it).
    var intervals: [StateInterval]
    /// Which order ran when, with its product (entered orders and those from tags).
    var running: [(range: Range<Int64>, order: String, product: String)]
    var counts: [ProductionCount]
    var faults: [(time: Int64, code: String?)]
    var assignments: [StopAssignment]

    /// Reads `span` (ending no later than `now`) of one machine. States are read from a
    /// microstop threshold before and after, so short stops at the edges are classified as in a
    /// longer span; counters take the last reading before the span as their baseline.
    static func load(tenant: TenantID, machine: AssetPath, span: Range<Int64>, settings: MachineProductionSettings,
                     catalogue: ReasonCatalogue, telemetry: any TelemetryStore, store: any AnalyticsStore,
                     now: Int64) async throws -> MachineRecord {
        let series = try await telemetry.series(tenant: tenant, machine: machine)
        let ids = Dictionary(series.map { ($0.tag.name, $0.id) }, uniquingKeysWith: { first, _ in first })
        let margin = settings.microstopThreshold
        let extended = (span.lowerBound - margin)..<min(span.upperBound + margin, max(now, span.upperBound))
        // Every raw read of the machine in one database round trip: states (or speed), total, good or scrap, fault codes.
        // Counters are read through the span's end: a reading at that instant counts in the span.
        let counted = span.lowerBound..<(span.upperBound + 1)
        let totalsRead = extended.lowerBound..<max(extended.upperBound, counted.upperBound)
        let defectTags = settings.defectCounters.keys.sorted()
        let reasonTag = defectTags.isEmpty ? settings.scrapReasonTag : nil
        let raw = try await read([(settings.rule?.speedTag ?? settings.stateTag, extended), (settings.totalCounter, totalsRead),
                                  (settings.goodCounter ?? settings.scrapCounter, counted), (settings.faultCodeTag, extended),
                                  (settings.reworkCounter, counted), (reasonTag, counted)] + defectTags.map { ($0, counted) },
                                 ids: ids, telemetry: telemetry)
        let totals = integers(raw[1])
        let stateSamples: [(time: Int64, reason: String?)]
        if let derivation = try? settings.stateDerivation() {
            stateSamples = try await derivedStates(derivation, span: extended, settings: settings, ids: ids, telemetry: telemetry)
        } else if let rule = settings.rule {
            stateSamples = rule.states(speed: raw[0].map { ($0.time.millisecondsSinceEpoch, $0.quality == .bad ? nil : $0.value.number) },
                                       counter: totals)
        } else {
            stateSamples = raw[0].map { sample in
                (sample.time.millisecondsSinceEpoch, sample.quality == .bad ? nil : settings.reason(forStateValue: sample.value.text))
            }
        }
        let builder = StateIntervalBuilder(catalogue: catalogue, microstopThreshold: margin, noDataTimeout: settings.noDataTimeout)
        // What people recorded, in one round trip: reasons given to stops, orders, quality entries.
        let annotations = try await store.annotations(tenant: tenant, machine: machine, stops: extended, orders: span, quality: counted)
        // Planned maintenance first, so a reason a person gave inside its window wins from its start on.
        let assignments = annotations.maintenanceWindows.map(\.assignment) + annotations.stopAssignments
        let monitoredSince = series.compactMap(\.firstSampleTime).min() ?? .max
        let states = builder.intervals(from: stateSamples, since: max(extended.lowerBound, min(monitoredSince, extended.upperBound)),
                                       until: extended.upperBound)
        let intervals = StopOverlay.apply(assignments, to: states, catalogue: catalogue)
        let orders = annotations.orders
        let tagOrders = try await Self.tagOrders(machine: machine, span: counted, settings: settings, ids: ids, telemetry: telemetry)
        let entries = annotations.qualityEntries
        let quality = QualityReadings(rework: integers(raw[4]), defects: zip(defectTags, raw[6...]).map { (settings.defectCounters[$0]!, integers($1)) },
                                      scrapReasons: codes(raw[5]), entries: entries)
        // Most machines run no orders: then no lookup (and no copy of an order) per reading.
        let order: (Int64) -> ProductionOrder? = orders.isEmpty && tagOrders.isEmpty ? { _ in nil }
            : { TagOrders.order(at: $0, entered: orders, fromTags: tagOrders) }
        let counts = units(span: span, totals: totals, goodOrScrap: integers(raw[2]), quality: quality, settings: settings, order: order)
        let running = TagOrders.running(in: span, entered: orders, fromTags: tagOrders)
        let faults = codes(raw[3])
        return MachineRecord(monitoredSince: monitoredSince, intervals: intervals, running: running, counts: counts, faults: faults,
                             assignments: assignments)
    }

    /// The KPI components of `window`, inside the shift `shift` with its breaks.
    /// Counts are in time order, so a window's are found by binary search, not by a pass over all of them.
    func components(window: Range<Int64>, shift: Range<Int64>?, breaks: [Range<Int64>]) -> KPIComponents {
        let first = counts.firstIndex(orderedBy: \.time, after: window.lowerBound)
        let end = counts.firstIndex(orderedBy: \.time, after: window.upperBound)
        return ProductionTimeline.components(window: window, shifts: shift.map { [$0] } ?? [], breaks: breaks,
                                             states: intervals.filter { $0.end > window.lowerBound && $0.start < window.upperBound },
                                             counts: Array(counts[first..<max(first, end)]), monitoredSince: monitoredSince,
                                             running: running.filter { $0.range.overlaps(window) })
    }

    /// The fault code in effect at `time`.
    func faultCode(at time: Int64) -> String? {
        faults.last { $0.time <= time }?.code
    }

    /// States from the state rules over the samples of the tags they read in `span` (those in effect at its start included).
    private static func derivedStates(_ derivation: StateDerivation, span: Range<Int64>, settings: MachineProductionSettings,
                                      ids: [String: Int64], telemetry: any TelemetryStore) async throws -> [(time: Int64, reason: String?)] {
        let tags = derivation.tags.sorted()
        // Read from the longest duration earlier, so a condition holding since before the span holds at its start.
        let lookback = (span.lowerBound - derivation.longestDuration)..<span.upperBound
        let raw = try await read(tags.map { ($0, lookback) }, ids: ids, telemetry: telemetry)
        let samples = zip(tags, raw).flatMap { tag, samples in samples.map { (tag: tag, sample: $0) } }
        return derivation.states(from: samples, staleAfter: settings.noDataTimeout).map { ($0.time, $0.state.map(settings.reason(forStateValue:))) }
    }

    /// The orders the machine's order tag opened and closed, running at some moment of `span`.
    static func tagOrders(machine: AssetPath, span: Range<Int64>, settings: MachineProductionSettings, ids: [String: Int64],
                          telemetry: any TelemetryStore) async throws -> [ProductionOrder] {
        guard let orderTag = settings.orderTag, ids[orderTag] != nil else { return [] }
        let raw = try await read([(orderTag, span), (settings.productTag, span), (settings.orderTargetTag, span)], ids: ids, telemetry: telemetry)
        let texts = { (samples: [Sample]) in samples.filter { $0.quality != .bad }.map { ($0.time.millisecondsSinceEpoch, $0.value.text) } }
        return TagOrders.orders(machine: machine, numbers: texts(raw[0]), products: texts(raw[1]), targets: integers(raw[2]))
            .filter { $0.start < span.upperBound && ($0.end ?? .max) > span.lowerBound }
    }

    // MARK: Reading

    private static let maxSamples = 2_000_000

    /// Each (tag, range) read with the sample in effect at the range's start; a tag the machine lacks reads as empty.
    private static func read(_ reads: [(tag: String?, range: Range<Int64>)], ids: [String: Int64],
                             telemetry: any TelemetryStore) async throws -> [[Sample]] {
        let requests = reads.map { read in
            read.tag.flatMap { ids[$0] }.map { series in
                SampleRequest(series: series, from: Timestamp(millisecondsSinceEpoch: read.range.lowerBound),
                              to: Timestamp(millisecondsSinceEpoch: read.range.upperBound), limit: maxSamples, withPrevious: true)
            }
        }
        var answers = try await telemetry.samples(requests.compactMap { $0 }).makeIterator()
        return requests.map { $0 == nil ? [] : answers.next() ?? [] }
    }

    private static func integers(_ samples: [Sample]) -> [(time: Int64, value: Int64)] {
        samples.compactMap { sample in sample.value.integer.map { (sample.time.millisecondsSinceEpoch, $0) } }
    }

    /// A code tag's values (fault codes, scrap reasons) as text; `none`, `""`, `0` and bad samples mean no code.
    private static func codes(_ samples: [Sample]) -> [(time: Int64, code: String?)] {
        samples.map { sample in
            let code = sample.value.text
            return (sample.time.millisecondsSinceEpoch, ["", "none", "0"].contains(code) || sample.quality == .bad ? nil : code)
        }
    }

    /// What tells the machine's quality apart from its good and total counters.
    struct QualityReadings {
        var rework: [(time: Int64, value: Int64)]
        /// Per defect code, its counter's readings.
        var defects: [(code: String, readings: [(time: Int64, value: Int64)])]
        /// The scrap reason tag's values, in time order.
        var scrapReasons: [(time: Int64, code: String?)]
        var entries: [QualityEntry]

        /// The scrap reason in effect at `time` (set at or before it).
        func scrapReason(at time: Int64) -> String? {
            let index = scrapReasons.firstIndex(orderedBy: \.time, after: time)
            return index == 0 ? nil : scrapReasons[index - 1].code
        }
    }

    /// Units per reading in `span`: counter increases (or per-cycle values), good from the good
    /// counter or total − scrap, each with the ideal cycle time of the order running then; then
    /// rework and scrap by defect from their counters and from operators' entries (scrap entered
    /// is taken from the good units; counted scrap per defect is, only when no counter tells good
    /// or scrap). Readings of several counters at one instant (one PLC message) fold into one count.
    private static func units(span: Range<Int64>, totals: [(time: Int64, value: Int64)], goodOrScrap: [(time: Int64, value: Int64)],
                              quality: QualityReadings, settings: MachineProductionSettings,
                              order: (Int64) -> ProductionOrder?) -> [ProductionCount] {
        func increments(_ readings: [(time: Int64, value: Int64)]) -> [(time: Int64, units: Int64)] {
            let units = settings.counterMode == .cumulative ? CounterDeltas.deltas(readings, wrapAt: settings.counterWrap)
                : readings.map { ($0.time, $0.value) }
            return units.filter { span.holdsReading(at: $0.time) }
        }
        let totalIsGood = settings.goodCounter == nil && settings.scrapCounter == nil
        // Units shown at `time` were made just before it: an order ending at that instant made them.
        var counts = TimeOrderedCounts(increments(totals).map { reading in
            let running = order(reading.time - 1)
            var count = ProductionCount(time: reading.time, total: reading.units, good: totalIsGood ? reading.units : 0,
                                        idealCycleTime: settings.idealCycleTime(for: running), product: running?.product, order: running?.id)
            // With a good counter and a scrap reason tag, the reason's scrap is its total units less its good units.
            if settings.goodCounter != nil, let reason = quality.scrapReason(at: reading.time) { (count.defects, count.defect) = (reading.units, reason) }
            return count
        }, capacity: totals.count + goodOrScrap.count)
        if settings.goodCounter != nil {
            counts.fold(increments(goodOrScrap)) { units, count in
                count.good = count.good.clampedAdding(units)
                if count.defect != nil { count.defects = count.defects.clampedSubtracting(units) }
            } otherwise: { reading in
                let running = order(reading.time - 1)
                let reason = quality.scrapReason(at: reading.time)
                return ProductionCount(time: reading.time, total: 0, good: reading.units, idealCycleTime: nil, defects: reason == nil ? 0 : -reading.units,
                                       defect: reason, product: running?.product, order: running?.id)
            }
        } else if settings.scrapCounter != nil {
            counts.fold(increments(goodOrScrap)) { units, count in
                count.good = count.good.clampedSubtracting(units)
                if let reason = quality.scrapReason(at: count.time) { (count.defects, count.defect) = (units, reason) }
            } otherwise: { reading in
                let reason = quality.scrapReason(at: reading.time)
                return ProductionCount(time: reading.time, total: 0, good: Int64(0).clampedSubtracting(reading.units), idealCycleTime: nil,
                                       defects: reason == nil ? 0 : reading.units, defect: reason)
            }
            counts.updateEach { if $0.total > 0 { $0.good = $0.good.clampedAdding($0.total) } }
        }
        counts.fold(increments(quality.rework)) { units, count in count.rework = count.rework.clampedAdding(units) } otherwise: { reading in
            ProductionCount(time: reading.time, total: 0, good: 0, idealCycleTime: nil, rework: reading.units)
        }
        for (code, readings) in quality.defects {
            for reading in increments(readings) {
                counts.append(ProductionCount(time: reading.time, total: 0, good: totalIsGood ? -reading.units : 0, idealCycleTime: nil,
                                              defects: reading.units, defect: code))
            }
        }
        for entry in quality.entries where span.holdsReading(at: entry.time) {
            switch entry.kind {
            case .scrap:
                counts.append(ProductionCount(time: entry.time, total: 0, good: -entry.quantity, idealCycleTime: nil,
                                              defects: entry.quantity, defect: entry.reason))
            case .rework:
                counts.append(ProductionCount(time: entry.time, total: 0, good: 0, idealCycleTime: nil, rework: entry.quantity))
            }
        }
        return counts.sorted()
    }

    /// Counts in time order as they are built: a reading at the instant of an existing count
    /// folds into it (no second count to store and sort), and only counts appended out of order
    /// cost a sort at the end.
    private struct TimeOrderedCounts {
        private var counts: [ProductionCount]
        private var ordered = true

        init(_ counts: [ProductionCount], capacity: Int) {
            self.counts = counts
            self.counts.reserveCapacity(capacity)
        }

        /// Each reading (in time order) folded into the count at its instant by `change`, or appended as `otherwise` makes it.
        mutating func fold(_ readings: [(time: Int64, units: Int64)], _ change: (Int64, inout ProductionCount) -> Void,
                           otherwise make: ((time: Int64, units: Int64)) -> ProductionCount) {
            let existing = counts.count
            var cursor = 0
            for reading in readings {
                while cursor < existing && counts[cursor].time < reading.time { cursor += 1 }
                if cursor < existing && counts[cursor].time == reading.time {
                    change(reading.units, &counts[cursor])
                } else {
                    append(make(reading))
                }
            }
        }

        mutating func append(_ count: ProductionCount) {
            if let last = counts.last, last.time > count.time { ordered = false }
            counts.append(count)
        }

        mutating func updateEach(_ change: (inout ProductionCount) -> Void) {
            for index in counts.indices { change(&counts[index]) }
        }

        consuming func sorted() -> [ProductionCount] {
            if !ordered { counts.sort { $0.time < $1.time } }
            return counts
        }
    }
}

extension SampleValue {
    /// The value as a number, for speeds.
    var number: Double? {
        switch self {
        case .double(let number): number
        case .int(let number): Double(number)
        case .bool(let flag): flag ? 1 : 0
        case .string: nil
        }
    }

    /// The value as a whole count, for counters.
    var integer: Int64? {
        switch self {
        case .int(let number): number
        case .double(let number) where number.isFinite && abs(number) < 9e18: Int64(number.rounded())
        default: nil
        }
    }
}

extension Array {
    /// The index of the first element whose key is above `value`, in an array sorted by that key.
    func firstIndex(orderedBy key: (Element) -> Int64, after value: Int64) -> Int {
        var low = startIndex, high = endIndex
        while low < high {
            let middle = (low + high) / 2
            if key(self[middle]) > value { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
