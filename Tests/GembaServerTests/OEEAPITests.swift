import Foundation
import GembaCore
import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import NIOCore
import Testing

/// The OEE engine through the API, fed by samples as a machine sends them: one JSON record per
/// minute with the state and the cumulative counters, posted to `/api/v1/ingest`.
@Suite struct OEEAPITests {
    static let minute: Int64 = 60_000

    /// 06:00 in Berlin, three days ago: inside the ingest window, closed, and not today.
    static let shiftStart: Int64 = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Berlin")!
        let day = calendar.date(byAdding: .day, value: -3, to: calendar.startOfDay(for: Date()))!
        return Int64(calendar.date(bySettingHour: 6, minute: 0, second: 0, of: day)!.timeIntervalSince1970 * 1000)
    }()
    static var shiftDate: String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Berlin")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(shiftStart) / 1000))
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    /// Early shift 06:00–14:00 with a break 10:00–10:30, late shift 14:00–22:00, every day, Berlin.
    static let calendarJSON = """
        {"timeZone": "Europe/Berlin", "exceptions": [], "patterns": [
          {"name": "A", "weekdays": [1,2,3,4,5,6,7], "start": "06:00", "end": "14:00", "breaks": [{"start": "10:00", "end": "10:30"}]},
          {"name": "B", "weekdays": [1,2,3,4,5,6,7], "start": "14:00", "end": "22:00", "breaks": [{"start": "18:00", "end": "18:30"}]}]}
        """

    /// What one machine reports, minute by minute from 06:00.
    struct Script {
        var machine: String
        /// (first minute, state word); each lasts until the next.
        var states: [(Int, String)]
        var totalUnits: Int64 = 242
        var goodUnits: Int64 = 221
        var minutes: Range<Int> = 0..<480
        /// Minutes without any record (the machine is offline).
        var silent: [Range<Int>] = []
        /// Counter readings to send instead of the generated ones (minute → value).
        var totals: [Int: Int64]?

        func state(at minute: Int) -> String { states.last { $0.0 <= minute }!.1 }

        /// Units are spread evenly over the producing minutes; the counter starts at 1000 (a baseline, not output).
        func records() -> [String] {
            let producing = minutes.filter { state(at: $0) == "producing" }
            var made = 0
            return minutes.compactMap { minute in
                if state(at: minute) == "producing" { made += 1 }
                guard !silent.contains(where: { $0.contains(minute) }) else { return nil }
                let total = totals.map { readings in readings.filter { $0.key <= minute }.max { $0.key < $1.key }!.value }
                    ?? 1000 + totalUnits * Int64(made) / Int64(max(1, producing.count))
                let good = 500 + goodUnits * Int64(made) / Int64(max(1, producing.count))
                let time = OEEAPITests.shiftStart + Int64(minute) * OEEAPITests.minute
                var values = "\"state\": \"\(state(at: minute))\", \"total_count\": \(total)"
                if totals == nil { values += ", \"good_count\": \(good)" }
                return "{\"machine\": \"\(machine)\", \"ts\": \(time), \"values\": {\(values)}}"
            }
        }
    }

    static func send(_ script: Script, _ client: some TestClientProtocol) async throws {
        let records = script.records()
        for start in stride(from: 0, to: records.count, by: 200) {
            let body = "{\"records\": [\(records[start..<min(start + 200, records.count)].joined(separator: ","))]}"
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok, "\(response.text)")
            }
        }
    }

    static func put(_ client: some TestClientProtocol, _ uri: String, _ body: String) async throws {
        try await client.execute(uri: uri, method: .put, body: ByteBuffer(string: body)) { response in
            #expect(response.status == .ok, "\(uri): \(response.text)")
        }
    }

    static func oee(_ client: some TestClientProtocol, asset: String, from: Int64 = shiftStart, to: Int64 = shiftStart + 480 * minute,
                    period: String = "none") async throws -> JSONValue {
        try await client.execute(uri: "/api/v1/oee?asset=\(asset)&from=\(from)&to=\(to)&period=\(period)", method: .get) { response in
            #expect(response.status == .ok, "\(response.text)")
            return response.json
        }
    }

    /// A KPI's value in percent, rounded to two places as a plant report shows it.
    static func percent(_ result: JSONValue, _ name: String) -> Double? {
        guard case .number(let value)? = result[name]?["value"] else { return nil }
        return (value * 10_000).rounded() / 100
    }

    static func component(_ result: JSONValue, _ name: String) -> Int64? { result["components"]?[name]?.int }

    static let ideal90s = #"{"idealCycleTime": 90000}"#

    /// The issue's reference shift and a table of further cases from the ISO 22400 definitions.
    @Test func referenceShiftAndCaseTable() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let reference = Script(machine: "ref/line1/m1", states: [(0, "producing"), (120, "breakdown"), (180, "producing"),
                                                                    (240, "break"), (270, "producing")])
            let noShift = Script(machine: "holiday/line1/m1", states: [(0, "producing")])
            let tooFast = Script(machine: "fast/line1/m1", states: [(0, "producing"), (240, "break"), (270, "producing"),
                                                                   (400, "breakdown")], totalUnits: 300, goodUnits: 300)
            let offline = Script(machine: "offline/line1/m1", states: [(0, "producing"), (240, "break"), (270, "producing")],
                                 silent: [180..<300])
            let microstops = Script(machine: "micro/line1/m1",
                                    states: [(0, "producing"), (30, "idle"), (31, "producing"), (90, "jam"), (91, "producing"),
                                             (240, "break"), (270, "producing"), (330, "idle"), (331, "producing")])
            let noOrder = Script(machine: "noorder/line1/m1", states: [(0, "no_order"), (60, "producing"), (240, "break"), (270, "producing")])
            let counters = Script(machine: "counters/line1/m1", states: [(0, "producing"), (240, "break"), (270, "producing")],
                                  totals: [0: 65_500, 100: 65_530, 101: 4, 200: 100, 201: 3, 479: 50])
            let ordered = Script(machine: "orders/line1/m1", states: [(0, "producing"), (240, "break"), (270, "producing")])
            for script in [reference, noShift, tooFast, offline, microstops, noOrder, counters, ordered] {
                let site = script.machine.split(separator: "/")[0]
                try await Self.put(client, "/api/v1/calendars/\(site)", site == "holiday"
                    ? Self.calendarJSON.replacingOccurrences(of: "\"exceptions\": []", with: "\"exceptions\": [{\"noProduction\": {\"date\": \"\(Self.shiftDate)\"}}]")
                    : Self.calendarJSON)
                let settings = script.machine.hasPrefix("fast") ? #"{"idealCycleTime": 120000}"#
                    : script.machine.hasPrefix("counters") ? #"{"idealCycleTime": 90000, "goodCounter": null, "counterWrap": 65536}"#
                    : script.machine.hasPrefix("orders") ? #"{"idealCycleTime": 90000, "productIdealCycleTimes": {"lid": 120000}}"# : Self.ideal90s
                try await Self.put(client, "/api/v1/production-settings?machine=\(script.machine)", settings)
                try await Self.send(script, client)
            }

            // The issue's shift: 450 min planned, 390 min run, A 86.67 %, P 93.08 %, Q 91.32 %, OEE 73.67 %.
            let shift = try await Self.oee(client, asset: "ref")["total"] ?? .null
            #expect(Self.component(shift, "planned_ms") == 450 * Self.minute)
            #expect(Self.component(shift, "run_ms") == 390 * Self.minute)
            #expect(Self.component(shift, "total_count") == 242 && Self.component(shift, "good_count") == 221)
            #expect(Self.percent(shift, "availability") == 86.67)
            #expect(Self.percent(shift, "performance") == 93.08)
            #expect(Self.percent(shift, "quality") == 91.32)
            #expect(Self.percent(shift, "oee") == 73.67)
            #expect(Self.component(shift, "failures") == 1 && shift["mttr_ms"]?["value"] == .number(Double(60 * Self.minute)))
            #expect(shift["mtbf_ms"]?["value"] == .number(Double(390 * Self.minute) / 2))  // ISO 22400: run time / (failures + 1)
            #expect(shift["downtime_pareto"]?.array.first?["reason"] == .string("unplanned_stop/equipment_failure"))
            #expect(Self.percent(shift, "scrap_ratio") == 8.68)

            // A holiday: no planned time, so A, P and OEE are null with the reason; units are still counted.
            let holiday = try await Self.oee(client, asset: "holiday")["total"] ?? .null
            #expect(holiday["availability"]?["value"] == .null)
            #expect(holiday["availability"]?["note"]?.stringValue?.contains("no planned production time") == true)
            #expect(holiday["oee"]?["value"] == .null && holiday["teep"]?["value"] == .null)
            #expect(Self.component(holiday, "total_count") == 242 && Self.percent(holiday, "quality") == 91.32)
            #expect(Self.percent(holiday, "utilization") == 0)

            // An ideal cycle time that is too long: performance above 100 % is reported as computed and flagged.
            let fast = try await Self.oee(client, asset: "fast")["total"] ?? .null
            #expect(Self.component(fast, "run_ms") == 370 * Self.minute)
            #expect(Self.percent(fast, "performance") == 162.16)  // 300 × 2 min / 370 min
            #expect(fast["performance"]?["flagged"] == .bool(true))
            #expect(fast["oee"]?["flagged"] == .bool(true))

            // Two silent hours: five minutes after the last record the state is unknown, an availability loss in its own bucket.
            let gap = try await Self.oee(client, asset: "offline")["total"] ?? .null
            // The last record is at 08:59: 09:04–10:00 and 10:30–11:00 are unknown; the break is excluded anyway.
            #expect(Self.component(gap, "unknown_ms") == 86 * Self.minute)
            #expect(Self.component(gap, "downtime_ms") == 86 * Self.minute)
            #expect(Self.percent(gap, "availability") == 80.89)
            #expect(gap["reasons_ms"]?["unknown/no_data"]?.int == 86 * Self.minute)

            // One-minute stops between producing stretches are microstops: a performance loss, not downtime.
            let micro = try await Self.oee(client, asset: "micro")["total"] ?? .null
            #expect(Self.component(micro, "downtime_ms") == 0 && Self.percent(micro, "availability") == 100)
            #expect(Self.component(micro, "performance_loss_ms") == 3 * Self.minute)
            #expect(micro["states_ms"]?["microstop"]?.int == 3 * Self.minute)

            // No order: excluded from planned production time, like the break.
            let idle = try await Self.oee(client, asset: "noorder")["total"] ?? .null
            #expect(Self.component(idle, "planned_ms") == 390 * Self.minute && Self.percent(idle, "availability") == 100)

            // Counters: the first reading is the baseline; a 16-bit wrap adds what went round; a drop from a low value is a reset.
            let counted = try await Self.oee(client, asset: "counters")["total"] ?? .null
            let units: Int64 = 30 + 10 + 96 + 3 + 47  // 65500→65530, wrap→4 (+10), →100, reset→3, →50
            #expect(Self.component(counted, "total_count") == units)
            #expect(Self.component(counted, "good_count") == 186)  // no good counter: every unit is good

            // Orders: the first brings its own ideal cycle time (60 s), the second makes a product with one on this machine (120 s).
            let change = Self.shiftStart + 240 * Self.minute
            try await Self.put(client, "/api/v1/orders/PO-A", """
                {"machine": "orders/line1/m1", "product": "bracket", "targetQuantity": 130, "start": \(Self.shiftStart), "end": \(change), "idealCycleTime": 60000}
                """)
            try await Self.put(client, "/api/v1/orders/PO-B", """
                {"machine": "orders/line1/m1", "product": "lid", "targetQuantity": 120, "start": \(change)}
                """)
            try await client.execute(uri: "/api/v1/orders?machine=orders/line1/m1&from=\(Self.shiftStart)&to=\(change + 1)", method: .get) { response in
                #expect(response.json["orders"]?.array.compactMap { $0["id"]?.stringValue } == ["PO-A", "PO-B"])
            }
            let orders = try await Self.oee(client, asset: "orders")["total"] ?? .null
            let idealTime: Int64 = (129 * 60 + 113 * 120) * 1000  // 242 units: 129 before the break, 113 after
            #expect(Self.component(orders, "ideal_ms") == idealTime)
            #expect(Self.percent(orders, "performance") == 78.89)  // 355 min of ideal time in 450 min of run time

            // A line is the sum of its machines' components, never an average of percentages.
            let both = try await Self.oee(client, asset: "ref/line1")["total"] ?? .null
            #expect(Self.percent(both, "oee") == 73.67)

            // Unknown time can be configured out of planned time; it stays its own bucket.
            try await Self.put(client, "/api/v1/reasons",
                          #"{"category": "unknown", "code": "no_data", "name": "No data", "lossClass": "excluded", "isFailure": false, "isSetup": false}"#)
            let excluded = try await Self.oee(client, asset: "offline")["total"] ?? .null
            #expect(Self.component(excluded, "unknown_ms") == 86 * Self.minute && Self.component(excluded, "downtime_ms") == 0)
            #expect(Self.component(excluded, "planned_ms") == 364 * Self.minute)
        }
    }

    /// Shifts, days and lines add up; a failure across a shift change counts once, where it started.
    @Test func periodsAddUpAndFailuresCountOnce() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let first = Script(machine: "plant/line1/m1", states: [(0, "producing"), (450, "breakdown"), (510, "producing"),
                                                                  (720, "break"), (750, "producing")],
                               totalUnits: 500, goodUnits: 480, minutes: 0..<960)
            let second = Script(machine: "plant/line1/m2", states: [(0, "producing"), (100, "setup"), (130, "producing"),
                                                                   (240, "break"), (270, "producing")],
                                totalUnits: 250, goodUnits: 240, minutes: 0..<960)
            try await Self.put(client, "/api/v1/calendars/plant", Self.calendarJSON)
            for script in [first, second] {
                try await Self.put(client, "/api/v1/production-settings?machine=\(script.machine)", Self.ideal90s)
                try await Self.send(script, client)
            }
            let end = Self.shiftStart + 960 * Self.minute
            let shifts = try await Self.oee(client, asset: "plant/line1/m1", to: end, period: "shift")
            let periods = shifts["periods"]?.array ?? []
            #expect(periods.map { $0["label"]?.stringValue } == ["\(Self.shiftDate) A", "\(Self.shiftDate) B"])
            #expect(periods.map { Self.component($0, "failures") } == [1, 0])  // the breakdown 13:30–14:30 started in A
            #expect(periods.map { Self.component($0, "downtime_ms") } == [30 * Self.minute, 30 * Self.minute])
            let total = shifts["total"] ?? .null
            #expect(Self.component(total, "failures") == 1 && total["mttr_ms"]?["value"] == .number(Double(60 * Self.minute)))

            // The day equals the sum of its shifts (over the same range), and both paths give the same KPIs.
            let days = try await Self.oee(client, asset: "plant/line1/m1", to: end, period: "day")["periods"]?.array ?? []
            #expect(days.map { $0["label"]?.stringValue } == [Self.shiftDate])
            let day = days.first ?? .null
            for name in ["planned_ms", "run_ms", "downtime_ms", "total_count", "good_count", "failures", "ideal_ms"] {
                #expect(Self.component(day, name) == periods.compactMap { Self.component($0, name) }.reduce(0, +), "\(name)")
            }
            #expect(day["oee"] == total["oee"])

            // Weeks and months: ISO weeks and calendar months of the site's local dates, the same sums.
            let date = LocalDateForTest(Self.shiftDate)
            for (period, label) in [("week", date.isoWeek), ("month", String(Self.shiftDate.prefix(7)))] {
                let periods = try await Self.oee(client, asset: "plant/line1/m1", to: end, period: period)["periods"]?.array ?? []
                #expect(periods.map { $0["label"]?.stringValue } == [label], "\(period)")
                #expect(periods.first?["oee"] == total["oee"])
            }

            // The line: components summed over its machines; its OEE is Σ ideal time of good units / Σ planned time.
            let line = try await Self.oee(client, asset: "plant/line1", to: end)["total"] ?? .null
            let machines = [try await Self.oee(client, asset: "plant/line1/m1", to: end)["total"] ?? .null,
                            try await Self.oee(client, asset: "plant/line1/m2", to: end)["total"] ?? .null]
            for name in ["planned_ms", "run_ms", "total_count", "good_count", "ideal_ms", "setup_ms"] {
                #expect(Self.component(line, name) == machines.compactMap { Self.component($0, name) }.reduce(0, +), "\(name)")
            }
            let planned = Double(Self.component(line, "planned_ms")!)
            let run = Double(Self.component(line, "run_ms")!)
            let expected = run / planned * (Double(Self.component(line, "ideal_ms")!) / run)
                * (Double(Self.component(line, "good_count")!) / Double(Self.component(line, "total_count")!))
            guard case .number(let oee)? = line["oee"]?["value"] else { Issue.record("no line OEE"); return }
            #expect(abs(oee - expected) < 1e-12)
            #expect(line["setup_rate"]?["value"] == .number(Double(30 * Self.minute) / planned))
        }
    }

    /// Units shown by a counter reading at t were made in (previous reading, t]: a reading at a
    /// shift's, a day's or a query's end counts in the window that ends there, and
    /// consecutive windows add up to the whole.
    @Test func aCounterReadingAtAWindowsEndCountsInTheWindowThatEndsThere() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            // One unit a minute from 06:00 to midnight, read every minute on the minute (06:00 is the baseline).
            let minutes = 0..<1081
            var script = Script(machine: "plant/line1/m1", states: [(0, "producing")], minutes: minutes,
                                totals: Dictionary(uniqueKeysWithValues: minutes.map { ($0, 1000 + Int64($0)) }))
            try await Self.put(client, "/api/v1/calendars/plant", Self.calendarJSON)
            try await Self.put(client, "/api/v1/production-settings?machine=\(script.machine)", Self.ideal90s)
            // First without the reading at 14:00:00: the one at 14:01 shows two units, made across the shift change.
            script.silent = [480..<481]
            try await Self.send(script, client)
            let asset = script.machine
            func units(_ from: Int, _ to: Int, period: String = "none") async throws -> [Int64?] {
                let answer = try await Self.oee(client, asset: asset, from: Self.shiftStart + Int64(from) * Self.minute,
                                                to: Self.shiftStart + Int64(to) * Self.minute, period: period)
                return period == "none" ? [Self.component(answer["total"] ?? .null, "total_count")]
                    : (answer["periods"]?.array ?? []).map { Self.component($0, "total_count") }
            }
            #expect(try await units(0, 960, period: "shift") == [479, 481])
            // The reading at 14:00:00 arrives late: it is A's last minute, and the stored summaries follow.
            script.silent = []
            script.minutes = 480..<481
            try await Self.send(script, client)
            #expect(try await units(0, 960, period: "shift") == [480, 480])
            // Queries that start and end on readings.
            #expect(try await units(0, 60) == [60])
            #expect(try await units(60, 90) == [30])
            #expect(try await units(90, 120) == [30])
            #expect(try await units(60, 120) == [60])
            // The day (midnight to midnight, local): the reading at midnight ends it.
            #expect(try await units(-360, 1080, period: "day") == [1080])
            // Asked again, from the stored summaries: the same.
            #expect(try await units(0, 960, period: "shift") == [480, 480])
        }
    }

    /// Time before a machine's first stored sample is not monitored: neither scheduled nor a loss.
    /// A backfilled sample of any tag moves the boundary back, and the stored day follows.
    @Test func timeBeforeTheFirstSampleIsNotMonitoredAndABackfillMovesItBack() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            // The machine is connected at 12:00 and produces until 22:00.
            let script = Script(machine: "mon/line1/m1", states: [(0, "producing")], minutes: 360..<960)
            try await Self.put(client, "/api/v1/calendars/mon", Self.calendarJSON)
            try await Self.put(client, "/api/v1/production-settings?machine=\(script.machine)", Self.ideal90s)
            try await Self.send(script, client)
            let hour = 60 * Self.minute
            let midnight = Self.shiftStart - 6 * hour
            func day(_ start: Int64) async throws -> JSONValue {
                try await Self.oee(client, asset: script.machine, from: start, to: start + 24 * hour, period: "day")["total"] ?? .null
            }
            var total = try await day(midnight)
            #expect(Self.component(total, "calendar_ms") == 24 * hour)
            #expect(Self.component(total, "not_monitored_ms") == 12 * hour)
            #expect(Self.component(total, "scheduled_ms") == 10 * hour)  // 12:00–22:00
            #expect(Self.component(total, "excluded_ms") == 30 * Self.minute)  // B's break; A's was before 12:00
            #expect(Self.component(total, "unknown_ms") == 0 && Self.component(total, "downtime_ms") == 0)
            #expect(Self.percent(total, "availability") == 100)
            #expect(Self.percent(total, "utilization") == 79.17)  // 9.5 h planned of 12 h monitored

            // The day before: nothing was monitored, so nothing was lost.
            let before = try await day(midnight - 24 * hour)
            #expect(Self.component(before, "not_monitored_ms") == 24 * hour && Self.component(before, "downtime_ms") == 0)
            #expect(before["availability"]?["value"] == .null && before["utilization"]?["note"]?.stringValue == "the machine was not monitored in the window")

            // A temperature reading from 08:00 is backfilled: the machine was monitored from then on,
            // without state data until 12:00 (unknown, downtime by default).
            let backfill = "{\"records\": [{\"machine\": \"\(script.machine)\", \"ts\": \(Self.shiftStart + 2 * hour), \"values\": {\"temperature\": 21.5}}]}"
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: backfill)) { #expect($0.status == .ok) }
            total = try await day(midnight)
            #expect(Self.component(total, "not_monitored_ms") == 8 * hour)
            #expect(Self.component(total, "scheduled_ms") == 14 * hour)
            #expect(Self.component(total, "excluded_ms") == 60 * Self.minute)
            #expect(Self.component(total, "unknown_ms") == 210 * Self.minute)  // 08:00–12:00 but A's break
            #expect(Self.component(total, "downtime_ms") == 210 * Self.minute)
        }
    }

    /// Scrap by defect from counters per defect and operators' entries, rework apart from scrap, and
    /// first-pass yield; entries are audited, withdrawn, refused when invalid, and stored summaries keep it all.
    @Test func scrapByDefectReworkAndFirstPassYield() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let machine = "q/line1/m1"
            try await Self.put(client, "/api/v1/calendars/q", Self.calendarJSON)
            try await Self.put(client, "/api/v1/production-settings?machine=\(machine)",
                               #"{"idealCycleTime": 30000, "defectCounters": {"scrap_porosity": "porosity", "scrap_burr": "burr"}}"#)
            // One producing hour: 100 units, 90 good by the good counter; 4 porosity and 3 burr by their counters; 5 reworked.
            let records = (0...60).map { minute -> String in
                var values = "\"state\": \"producing\""
                if minute == 0 || minute == 60 {
                    let end = minute == 60
                    values += ", \"total_count\": \(end ? 1100 : 1000), \"good_count\": \(end ? 590 : 500), \"scrap_porosity\": \(end ? 4 : 0)"
                        + ", \"scrap_burr\": \(end ? 3 : 0), \"rework_count\": \(end ? 5 : 0)"
                }
                return "{\"machine\": \"\(machine)\", \"ts\": \(Self.shiftStart + Int64(minute) * Self.minute), \"values\": {\(values)}}"
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: "{\"records\": [\(records.joined(separator: ","))]}")) {
                #expect($0.status == .ok)
            }
            // The inspector finds 2 dented units the machine counted good, and one more that was reworked.
            var ids: [String] = []
            for (kind, quantity, reason, minute) in [("scrap", 2, "dent", 30), ("rework", 1, "burr", 40)] {
                try await client.execute(uri: "/api/v1/quality-entries", method: .post, body: ByteBuffer(string: """
                    {"machine": "\(machine)", "time": \(Self.shiftStart + Int64(minute) * Self.minute), "kind": "\(kind)", "quantity": \(quantity),
                     "reason": "\(reason)", "note": "found at final inspection"}
                    """)) { response in
                    #expect(response.status == .created, "\(response.text)")
                    #expect(response.json["enteredBy"]?.stringValue?.isEmpty == false && response.json["note"]?.stringValue == "found at final inspection")
                    ids += [response.json["id"]?.stringValue ?? ""]
                }
            }
            func hour() async throws -> JSONValue {
                try await Self.oee(client, asset: machine, from: Self.shiftStart, to: Self.shiftStart + 60 * Self.minute)["total"] ?? .null
            }
            func pareto(_ result: JSONValue) -> [String] {
                (result["quality_pareto"]?.array ?? []).map { "\($0["reason"]?.stringValue ?? "?")=\($0["count"]?.int ?? -1)" }
            }
            var total = try await hour()
            #expect(Self.component(total, "total_count") == 100 && Self.component(total, "good_count") == 88)
            #expect(Self.component(total, "scrap_count") == 12 && Self.component(total, "rework_count") == 6)
            #expect(pareto(total) == ["porosity=4", "burr=3", "unspecified=3", "dent=2"])
            #expect(Self.percent(total, "quality") == 88 && Self.percent(total, "first_pass_yield") == 82)
            // The day, built into stored summaries and asked again from them: the same quality figures.
            for _ in 0..<2 {
                let day = try await Self.oee(client, asset: machine, from: Self.shiftStart - 360 * Self.minute,
                                             to: Self.shiftStart + 1080 * Self.minute, period: "day")["total"] ?? .null
                #expect(pareto(day) == ["porosity=4", "burr=3", "unspecified=3", "dent=2"] && Self.component(day, "rework_count") == 6)
            }
            // Refused: a defect code with a space, no such machine, a viewer.
            try await client.execute(uri: "/api/v1/quality-entries", method: .post, body: ByteBuffer(string: """
                {"machine": "\(machine)", "kind": "scrap", "quantity": 1, "reason": "bad part"}
                """)) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "/api/v1/quality-entries", method: .post, body: ByteBuffer(string: """
                {"machine": "q/line1/nope", "kind": "scrap", "quantity": 1, "reason": "dent"}
                """)) { #expect($0.status == .notFound) }
            let viewer: HTTPFields = [.authorization: "Bearer \(try await harness.apiKey(role: .viewer))"]
            try await client.execute(uri: "/api/v1/quality-entries", method: .post, headers: viewer, body: ByteBuffer(string: """
                {"machine": "\(machine)", "kind": "scrap", "quantity": 1, "reason": "dent"}
                """)) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/v1/quality-entries?machine=\(machine)&from=\(Self.shiftStart)&to=\(Self.shiftStart + 3_600_000)",
                                     method: .get, headers: viewer) { response in
                #expect(response.json["entries"]?.array.compactMap { $0["reason"]?.stringValue } == ["dent", "burr"])
            }
            // The dent entry was a mistake: withdrawn, the figures follow.
            try await client.execute(uri: "/api/v1/quality-entries/\(ids[0])", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/v1/quality-entries/\(ids[0])", method: .delete) { #expect($0.status == .notFound) }
            total = try await hour()
            #expect(Self.component(total, "good_count") == 90 && pareto(total) == ["porosity=4", "burr=3", "unspecified=3"])
            try await client.execute(uri: "/api/v1/audit?action=quality.", method: .get) { response in
                let actions = response.json["items"]?.array.compactMap { $0["action"]?.stringValue } ?? []
                #expect(actions.sorted() == ["quality.delete", "quality.rework", "quality.scrap"])
            }
        }
    }

    /// A scrap reason tag (a PLC's last reject reason) puts the scrap counted while it holds down to its
    /// value, whether good units come from a good counter or from total − a scrap counter.
    @Test func aScrapReasonTagPutsTheScrapCountedWhileItHoldsDownToItsValue() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            try await Self.put(client, "/api/v1/calendars/q", Self.calendarJSON)
            try await Self.put(client, "/api/v1/production-settings?machine=q/line1/m2", #"{"goodCounter": null, "scrapCounter": "scrap_count"}"#)
            // Two units a minute for an hour; scrap of one a minute: porosity at 11–20, no reason at 31–32, burr at 41–45 (the
            // burr reason then stays while every unit is good).
            let scrapped: (Int) -> Int = { minute in (1...minute).filter { (11...20).contains($0) || (31...32).contains($0) || (41...45).contains($0) }.count }
            let reasons = [11: "porosity", 21: "none", 41: "burr"]
            let records = ["q/line1/m1", "q/line1/m2"].flatMap { machine in
                (0...60).map { minute -> String in
                    let scrap = minute == 0 ? 0 : scrapped(minute)
                    var values = "\"state\": \"producing\", \"total_count\": \(1000 + 2 * minute)"
                    values += machine.hasSuffix("m1") ? ", \"good_count\": \(1000 + 2 * minute - scrap)" : ", \"scrap_count\": \(scrap)"
                    if let reason = reasons[minute] { values += ", \"scrap_reason\": \"\(reason)\"" }
                    return "{\"machine\": \"\(machine)\", \"ts\": \(Self.shiftStart + Int64(minute) * Self.minute), \"values\": {\(values)}}"
                }
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: "{\"records\": [\(records.joined(separator: ","))]}")) {
                #expect($0.status == .ok)
            }
            func pareto(_ result: JSONValue) -> [String] {
                (result["quality_pareto"]?.array ?? []).map { "\($0["reason"]?.stringValue ?? "?")=\($0["count"]?.int ?? -1)" }
            }
            for machine in ["q/line1/m1", "q/line1/m2"] {
                let hour = try await Self.oee(client, asset: machine, from: Self.shiftStart, to: Self.shiftStart + 60 * Self.minute)["total"] ?? .null
                #expect(Self.component(hour, "total_count") == 120 && Self.component(hour, "scrap_count") == 17, "\(machine)")
                #expect(pareto(hour) == ["porosity=10", "burr=5", "unspecified=2"], "\(machine)")
                // Split at 00:15 and 00:43, inside the porosity and burr stretches: the pieces add up to the hour.
                let cuts = [0, 15, 43, 60].map { Self.shiftStart + Int64($0) * Self.minute }
                var pieces: [String] = []
                for (from, to) in zip(cuts, cuts.dropFirst()) {
                    pieces += pareto(try await Self.oee(client, asset: machine, from: from, to: to)["total"] ?? .null)
                }
                #expect(pieces == ["porosity=5", "porosity=5", "burr=3", "unspecified=2", "burr=2"], "\(machine)")
                // The day, from stored summaries: the same Pareto.
                let day = try await Self.oee(client, asset: machine, from: Self.shiftStart - 360 * Self.minute,
                                             to: Self.shiftStart + 1080 * Self.minute, period: "day")["total"] ?? .null
                #expect(pareto(day) == ["porosity=10", "burr=5", "unspecified=2"], "\(machine)")
            }
        }
    }

    /// The order number tag opens and closes orders by itself, so performance uses each product's ideal
    /// cycle time without anyone typing; an entered order wins where both run.
    @Test func ordersFromTagsSetTheIdealCycleTimeAndAnEnteredOrderWins() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let machine = "o/line1/m1"
            try await Self.put(client, "/api/v1/calendars/o", Self.calendarJSON)
            try await Self.put(client, "/api/v1/production-settings?machine=\(machine)",
                               #"{"idealCycleTime": 45000, "productIdealCycleTimes": {"bracket-12": 30000, "hinge-3": 60000}}"#)
            // 06:00–09:00 producing, a unit a minute; PO-1 (bracket-12) from 06:00, PO-2 (hinge-3) from 07:00, none from 08:00.
            let changes: [Int: String] = [
                0: #", "order_number": "PO-1", "product": "bracket-12", "order_target": 60"#,
                60: #", "order_number": "PO-2", "product": "hinge-3", "order_target": 50"#, 120: #", "order_number": """#,
            ]
            let records = (0...180).map { minute in
                "{\"machine\": \"\(machine)\", \"ts\": \(Self.shiftStart + Int64(minute) * Self.minute), \"values\": "
                    + "{\"state\": \"producing\", \"total_count\": \(1000 + minute)\(changes[minute] ?? "")}}"
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: "{\"records\": [\(records.joined(separator: ","))]}")) {
                #expect($0.status == .ok)
            }
            let range = (from: Self.shiftStart, to: Self.shiftStart + 180 * Self.minute)
            func performance() async throws -> Double? {
                Self.percent(try await Self.oee(client, asset: machine, from: range.from, to: range.to)["total"] ?? .null, "performance")
            }
            #expect(try await performance() == 75)  // (60 × 30 s + 60 × 60 s + 60 × 45 s) / 180 min
            func byProduct() async throws -> [String] {
                let total = try await Self.oee(client, asset: machine, from: range.from, to: range.to)["total"] ?? .null
                return (total["products"]?.array ?? []).map { made in
                    "\(made["product"]?.stringValue ?? "?") \((made["run_ms"]?.int ?? 0) / Self.minute) min \(made["total_count"]?.int ?? -1) units "
                        + "\(Self.percent(made, "performance").map { String($0) } ?? "–") %"
                }
            }
            #expect(try await byProduct() == ["bracket-12 60 min 60 units 50.0 %", "hinge-3 60 min 60 units 100.0 %"])
            func listed() async throws -> [String] {
                try await client.execute(uri: "/api/v1/orders?machine=\(machine)&from=\(range.from)&to=\(range.to)", method: .get) { response in
                    (response.json["orders"]?.array ?? []).map { order in
                        let end = order["end"]?.int.map { String(($0 - Self.shiftStart) / Self.minute) } ?? "open"
                        return "\(order["id"]?.stringValue ?? "?") \(order["product"]?.stringValue ?? "?") \(order["targetQuantity"]?.int ?? -1) "
                            + "\(((order["start"]?.int ?? 0) - Self.shiftStart) / Self.minute)-\(end) \(order["fromTag"] == .bool(true) ? "tag" : "entered")"
                    }
                }
            }
            #expect(try await listed() == ["PO-1 bracket-12 60 0-60 tag", "PO-2 hinge-3 50 60-120 tag"])
            // Someone enters PO-M (bracket-12) for 07:30–08:00: it wins over PO-2 there.
            try await Self.put(client, "/api/v1/orders/PO-M", """
                {"machine": "\(machine)", "product": "bracket-12", "targetQuantity": 30, "start": \(Self.shiftStart + 90 * Self.minute),
                 "end": \(Self.shiftStart + 120 * Self.minute)}
                """)
            #expect(try await performance() == 66.67)  // 60 × 30 s + 30 × 60 s + 30 × 30 s + 60 × 45 s = 120 of 180 min
            #expect(try await byProduct() == ["bracket-12 90 min 90 units 50.0 %", "hinge-3 30 min 30 units 100.0 %"])
            let orders = try await Self.oee(client, asset: machine, from: range.from, to: range.to)["total"]?["orders"]?.array ?? []
            #expect(orders.map { "\($0["order"]?.stringValue ?? "?") \($0["product"]?.stringValue ?? "?") \($0["total_count"]?.int ?? -1) "
                + "\(Self.percent($0, "performance").map { String($0) } ?? "–") %" }
                == ["PO-1 bracket-12 60 50.0 %", "PO-2 hinge-3 30 100.0 %", "PO-M bracket-12 30 50.0 %"])
            // The closed day, from stored summaries: the same per product.
            for _ in 0..<2 {
                let day = try await Self.oee(client, asset: machine, from: Self.shiftStart - 360 * Self.minute, to: Self.shiftStart + 1080 * Self.minute,
                                             period: "day")["total"] ?? .null
                #expect((day["products"]?.array ?? []).map { "\($0["product"]?.stringValue ?? "?") \($0["total_count"]?.int ?? -1)" }
                        == ["bracket-12 90", "hinge-3 30"])
                #expect((day["orders"]?.array ?? []).map { "\($0["order"]?.stringValue ?? "?") \($0["product"]?.stringValue ?? "?") \($0["run_ms"]?.int ?? -1)" }
                        == ["PO-1 bracket-12 \(60 * Self.minute)", "PO-2 hinge-3 \(30 * Self.minute)", "PO-M bracket-12 \(30 * Self.minute)"])
            }
            #expect(try await listed() == ["PO-1 bracket-12 60 0-60 tag", "PO-2 hinge-3 50 60-120 tag", "PO-M bracket-12 30 90-120 entered"])
        }
    }

    /// States derived by rules over several signals, first match first, on a recorded hour of a mill
    /// without a state tag: door switch, PLC fault bit, spindle load and power draw.
    @Test func statesFromRulesOverSignalsWithPriorities() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let machine = "s/line1/mill-1"
            try await Self.put(client, "/api/v1/production-settings?machine=\(machine)", """
                {"stateRules": [
                   {"state": "breakdown", "when": "fault_bit == 1"},
                   {"state": "setup", "when": "door_open == true"},
                   {"state": "producing", "when": "spindle_load >= 5 and power > 2"}],
                 "stateOtherwise": "idle"}
                """)
            // The recorded hour: minute, spindle load (%), power (kW), door open, fault bit.
            let recorded = """
                0,40,8.1,false,0
                20,0,1.0,true,0
                25,42,8.3,false,0
                40,0,1.2,false,1
                45,0,1.1,true,1
                50,2,1.5,false,0
                """
            let rows = recorded.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
            var records: [String] = []
            for (index, f) in rows.enumerated() {
                let next = index + 1 < rows.count ? Int(rows[index + 1][0])! : 60
                for minute in Int(f[0])!..<next {  // the PLC reports every minute
                    records.append("{\"machine\": \"\(machine)\", \"ts\": \(Self.shiftStart + Int64(minute) * Self.minute), \"values\": "
                                   + "{\"spindle_load\": \(f[1]), \"power\": \(f[2]), \"door_open\": \(f[3]), \"fault_bit\": \(f[4])}}")
                }
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: "{\"records\": [\(records.joined(separator: ","))]}")) {
                #expect($0.status == .ok)
            }
            let total = try await Self.oee(client, asset: machine, from: Self.shiftStart, to: Self.shiftStart + 60 * Self.minute)["total"] ?? .null
            guard case .object(let members)? = total["reasons_ms"] else { Issue.record("no reasons_ms"); return }
            let reasons = Dictionary(members.map { ($0.0, ($0.1.int ?? 0) / Self.minute) }, uniquingKeysWith: { a, _ in a })
            #expect(reasons == ["producing/running": 35, "planned_stop/setup": 5, "unplanned_stop/equipment_failure": 10, "idle/unspecified": 10])
            // Refused with the place named: a syntax error, and a condition on time.
            for (rules, words) in [(#"[{"state": "jam", "when": "load >"}]"#, "stateRules[1].when: line 1, column"),
                                   (#"[{"state": "jam", "when": "load > 1"}, {"state": "idle", "when": "no_data(load, 5m)"}]"#, "stateRules[2].when")] {
                try await client.execute(uri: "/api/v1/production-settings?machine=\(machine)", method: .put,
                                         body: ByteBuffer(string: "{\"stateRules\": \(rules)}")) { response in
                    #expect(response.status == .unprocessableContent && response.text.contains(words), "\(response.text)")
                }
            }
        }
    }

    /// A state rule with a duration holds from the moment its condition has held that long, also in a
    /// window that begins while it already holds.
    @Test func aStateRuleWithADurationHoldsOnceItsConditionHasHeldThatLong() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let machine = "s/line1/press-1"
            try await Self.put(client, "/api/v1/production-settings?machine=\(machine)", """
                {"stateRules": [{"state": "setup", "when": "door_open == true for 5m"}], "stateOtherwise": "producing"}
                """)
            // The door is open from 00:10 to 00:20; the PLC reports every minute.
            let records = (0...60).map { minute in
                "{\"machine\": \"\(machine)\", \"ts\": \(Self.shiftStart + Int64(minute) * Self.minute), \"values\": {\"door_open\": \((10..<20).contains(minute))}}"
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: "{\"records\": [\(records.joined(separator: ","))]}")) {
                #expect($0.status == .ok)
            }
            func minutes(from: Int, to: Int) async throws -> [String: Int64] {
                let total = try await Self.oee(client, asset: machine, from: Self.shiftStart + Int64(from) * Self.minute,
                                               to: Self.shiftStart + Int64(to) * Self.minute)["total"] ?? .null
                guard case .object(let members)? = total["reasons_ms"] else { return [:] }
                return Dictionary(members.map { ($0.0, ($0.1.int ?? 0) / Self.minute) }, uniquingKeysWith: { a, _ in a })
            }
            // Setup from 00:15 (five minutes open) to 00:20.
            #expect(try await minutes(from: 0, to: 60) == ["planned_stop/setup": 5, "producing/running": 55])
            // A window from 00:18, when the rule already holds: setup from its start (the samples are read from 5 min before).
            #expect(try await minutes(from: 18, to: 30) == ["planned_stop/setup": 2, "producing/running": 10])
        }
    }

    /// Late data recomputes only the machine-day it touches; an operator's reasons and splits change the KPIs and are audited.
    @Test func lateDataAndOperatorReasons() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let reference = Script(machine: "ref/line1/m1", states: [(0, "producing"), (120, "breakdown"), (180, "producing"),
                                                                    (240, "break"), (270, "producing")])
            let other = Script(machine: "ref/line1/m2", states: [(0, "producing")], silent: [360..<380])
            try await Self.put(client, "/api/v1/calendars/ref", Self.calendarJSON)
            for script in [reference, other] {
                try await Self.put(client, "/api/v1/production-settings?machine=\(script.machine)", Self.ideal90s)
                try await Self.send(script, client)
            }
            let range = (from: Self.shiftStart - 12 * 60 * Self.minute, to: Self.shiftStart + 24 * 60 * Self.minute)
            _ = try await Self.oee(client, asset: "ref", from: range.from, to: range.to)
            let built = harness.server.oee!.statistics
            #expect(built.daysBuilt == 2)  // the shift's whole local day, once per machine
            _ = try await Self.oee(client, asset: "ref", from: range.from, to: range.to)
            #expect(harness.server.oee!.statistics.piecesComputed == built.piecesComputed)  // the second answer comes from summaries
            var m2 = try await Self.oee(client, asset: "ref/line1/m2")["total"] ?? .null
            #expect(Self.component(m2, "unknown_ms") == 16 * Self.minute)  // silent 12:00–12:20: unknown from 12:04

            // The records of 12:00–12:20 arrive late: m2 had a jam. Only the two hours they touch are recomputed.
            let late = (360..<380).map { minute in
                "{\"machine\": \"ref/line1/m2\", \"ts\": \(Self.shiftStart + Int64(minute) * Self.minute), \"values\": {\"state\": \"jam\"}}"
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post,
                                     body: ByteBuffer(string: "{\"records\": [\(late.joined(separator: ","))]}")) { #expect($0.status == .ok) }
            let before = harness.server.oee!.statistics
            m2 = try await Self.oee(client, asset: "ref/line1/m2")["total"] ?? .null
            #expect(Self.component(m2, "unknown_ms") == 0 && Self.component(m2, "downtime_ms") == 20 * Self.minute)
            #expect(m2["reasons_ms"]?["unplanned_stop/jam"]?.int == 20 * Self.minute)
            #expect(harness.server.oee!.statistics.piecesComputed == before.piecesComputed + 2)  // 11:00–12:00 and 12:00–13:00
            _ = try await Self.oee(client, asset: "ref", from: range.from, to: range.to)
            #expect(harness.server.oee!.statistics.daysBuilt == built.daysBuilt + 1)  // m2's day again, not m1's

            // The stops list shows the breakdown as the machine reported it.
            let stopsURI = "/api/v1/stops?machine=ref/line1/m1&from=\(Self.shiftStart)&to=\(Self.shiftStart + 480 * Self.minute)"
            let breakdown = try await client.execute(uri: stopsURI, method: .get) { response in
                response.json["stops"]?.array.first { $0["reason"] == .string("unplanned_stop/equipment_failure") } ?? .null
            }
            #expect(breakdown["start"]?.int == Self.shiftStart + 120 * Self.minute)
            #expect(breakdown["duration_ms"]?.int == 60 * Self.minute && breakdown["assigned_by"] == .null)

            // An operator: material shortage instead. No failure any more, so MTTR has none to divide by.
            let operatorKey = try await harness.apiKey(role: .operator)
            let asOperator: HTTPFields = [.authorization: "Bearer \(operatorKey)"]
            let start = Self.shiftStart + 120 * Self.minute
            try await client.execute(uri: "/api/v1/stops/reason", method: .post, headers: asOperator,
                                     body: ByteBuffer(string: #"{"machine": "ref/line1/m1", "start": \#(start), "reason": "unplanned_stop/material_shortage"}"#)) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["stops"]?.array.first?["assigned_by"]?.stringValue?.isEmpty == false)
            }
            var shift = try await Self.oee(client, asset: "ref/line1/m1")["total"] ?? .null
            #expect(Self.component(shift, "failures") == 0 && shift["mttr_ms"]?["value"] == .null)
            #expect(shift["reasons_ms"]?["unplanned_stop/material_shortage"]?.int == 60 * Self.minute)
            #expect(Self.percent(shift, "availability") == 86.67)

            // Split it: 20 min jam, then 40 min equipment failure with a fault code.
            try await client.execute(uri: "/api/v1/stops/split", method: .post, headers: asOperator, body: ByteBuffer(string: """
                {"machine": "ref/line1/m1", "start": \(start), "faultCode": "E202",
                 "parts": [{"end": \(start + 20 * Self.minute), "reason": "unplanned_stop/jam"}, {"reason": "unplanned_stop/equipment_failure"}]}
                """)) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["stops"]?.array.map { $0["duration_ms"]?.int } == [20 * Self.minute, 40 * Self.minute])
            }
            shift = try await Self.oee(client, asset: "ref/line1/m1")["total"] ?? .null
            #expect(Self.component(shift, "failures") == 1 && shift["mttr_ms"]?["value"] == .number(Double(40 * Self.minute)))
            #expect(shift["downtime_pareto"]?.array.map { $0["reason"]?.stringValue } == ["unplanned_stop/equipment_failure", "unplanned_stop/jam"])
            try await client.execute(uri: stopsURI, method: .get) { response in
                let failure = response.json["stops"]?.array.first { $0["reason"] == .string("unplanned_stop/equipment_failure") }
                #expect(failure?["fault_code"] == .string("E202"))
            }

            // Bad requests: an unknown reason, a stop that does not exist, a producing reason, parts outside the stop.
            for (body, status) in [
                (#"{"machine": "ref/line1/m1", "start": \#(start), "reason": "unplanned_stop/gremlins"}"#, HTTPResponse.Status.unprocessableContent),
                (#"{"machine": "ref/line1/m1", "start": \#(start + 1), "reason": "unplanned_stop/jam"}"#, .notFound),
                (#"{"machine": "ref/line1/m1", "start": \#(start), "reason": "producing/running"}"#, .unprocessableContent),
                (#"{"machine": "ref/line1/m1", "reason": "unplanned_stop/jam"}"#, .badRequest),
            ] {
                try await client.execute(uri: "/api/v1/stops/reason", method: .post, headers: asOperator, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body): \(response.text)")
                }
            }
            try await client.execute(uri: "/api/v1/stops/split", method: .post, headers: asOperator, body: ByteBuffer(string: """
                {"machine": "ref/line1/m1", "start": \(start), "parts": [{"end": \(start + 99 * Self.minute), "reason": "unplanned_stop/jam"}, {"reason": "unplanned_stop/jam"}]}
                """)) { #expect($0.status == .unprocessableContent) }

            // A viewer may read stops but not change them; every change is in the audit log.
            let viewer: HTTPFields = [.authorization: "Bearer \(try await harness.apiKey(role: .viewer))"]
            try await client.execute(uri: "/api/v1/stops/reason", method: .post, headers: viewer,
                                     body: ByteBuffer(string: #"{"machine": "ref/line1/m1", "start": \#(start), "reason": "unplanned_stop/jam"}"#)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/audit?action=stop.", method: .get) { response in
                let actions = response.json["items"]?.array.compactMap { $0["action"]?.stringValue } ?? []
                #expect(actions.sorted() == ["stop.reason", "stop.split"])
                #expect(response.json["items"]?.array.allSatisfy { $0["detail"]?.stringValue?.contains("start=\(start)") == true } == true)
            }
        }
    }

    /// The current shift's figures are pushed on the WebSocket as they change: a breakdown shows up live.
    @Test func currentShiftIsPushedLive() async throws {
        let harness = try await ServerHarness()
        let token = try await harness.ownerToken()
        try await harness.test { client in
            @Sendable func record(_ state: String, at time: Int64) -> ByteBuffer {
                ByteBuffer(string: "{\"records\": [{\"machine\": \"live/line1/m1\", \"ts\": \(time), \"values\": {\"state\": \"\(state)\"}}]}")
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: record("producing", at: nowMillis - 30_000)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/oee/current?asset=live", method: .get) { response in
                #expect(response.json["shifts"]?.array.first?.stringValue?.hasSuffix(" 24h") == true)  // no calendar: round the clock
                #expect((response.json["current"]?["states_ms"]?["producing"]?.int ?? 0) >= 30_000)
            }
            try await client.ws("/api/v1/live/oee?asset=live/line1&interval=1&access_token=\(token)") { inbound, _, _ in
                var frames = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let first)? = try await frames.next() else { Issue.record("no first frame"); return }
                let reasons = try JSONParser.parse(Array(first.utf8))["current"]?["reasons_ms"]
                #expect(reasons?["producing/running"] != nil && reasons?["unplanned_stop/equipment_failure"] == nil)
                try await client.execute(uri: "/api/v1/ingest", method: .post, body: record("breakdown", at: Timestamp.now().millisecondsSinceEpoch)) {
                    #expect($0.status == .ok)
                }
                var sawBreakdown = false
                for _ in 0..<20 where !sawBreakdown {
                    guard case .text(let text)? = try await frames.next() else { break }
                    let frame = try JSONParser.parse(Array(text.utf8))
                    sawBreakdown = frame["current"]?["reasons_ms"]?["unplanned_stop/equipment_failure"]?.int != nil
                }
                #expect(sawBreakdown)
            }
            // The floor: the machine's running stop, its reason and since when, and the shift's figures.
            try await client.execute(uri: "/api/v1/floor?asset=live", method: .get) { response in
                let machine = response.json["machines"]?.array.first
                #expect(machine?["machine"]?.stringValue == "live/line1/m1")
                #expect(machine?["stop"]?["reason"]?.stringValue == "unplanned_stop/equipment_failure")
                #expect(machine?["stop"]?["open"] == .bool(true))
                #expect(machine?["shift"]?.stringValue?.hasSuffix(" 24h") == true)
                #expect(machine?["availability"]?["value"] != nil)
            }
        }
    }

    /// Settings are checked: a bad zone, a break outside its shift, a bad time, a shift without name or weekdays, a negative cycle time.
    @Test func badSettingsAreRefusedWithTheReason() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            for (uri, body, status, text) in [
                ("/api/v1/calendars/p1", #"{"timeZone": "Mars/Olympus", "patterns": [], "exceptions": []}"#, HTTPResponse.Status.unprocessableContent, "Mars/Olympus"),
                ("/api/v1/calendars/p1", #"{"timeZone": "UTC", "exceptions": [], "patterns": [{"name": "A", "weekdays": [1], "start": "06:00", "end": "14:00", "breaks": [{"start": "15:00", "end": "15:30"}]}]}"#, .unprocessableContent, "outside the shift"),
                ("/api/v1/calendars/p1", #"{"timeZone": "UTC", "exceptions": [], "patterns": [{"name": "A", "weekdays": [1], "start": "6 am", "end": "14:00"}]}"#, .badRequest, "HH:MM"),
                ("/api/v1/calendars/p1", #"{"timeZone": "UTC"}"#, .badRequest, "patterns is required"),
                ("/api/v1/calendars/p1", #"{"timeZone": "UTC", "exceptions": [], "patterns": [{"name": "", "weekdays": [1], "start": "06:00", "end": "14:00"}]}"#, .unprocessableContent, "needs a name"),
                ("/api/v1/calendars/p1", #"{"timeZone": "UTC", "exceptions": [], "patterns": [{"name": "A", "weekdays": [], "start": "06:00", "end": "14:00"}]}"#, .unprocessableContent, "choose the weekdays"),
                ("/api/v1/production-settings?machine=p1/l1/m1", #"{"idealCycleTime": -5}"#, .unprocessableContent, "idealCycleTime"),
                ("/api/v1/production-settings?machine=p1/l1/m1", #"{"counterMode": "sometimes"}"#, .badRequest, "counterMode"),
                ("/api/v1/reasons", #"{"category": "unplanned_stop", "code": "Bad Code!", "name": "x", "lossClass": "availability", "isFailure": false, "isSetup": false}"#, .unprocessableContent, "reason code"),
                ("/api/v1/orders/PO-1", #"{"machine": "p1/l1/m1", "product": "x", "targetQuantity": 5, "start": 100, "end": 50}"#, .unprocessableContent, "end after its start"),
            ] {
                try await client.execute(uri: uri, method: .put, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body): \(response.text)")
                    #expect(response.json["detail"]?.stringValue?.contains(text) == true, "\(response.text)")
                }
            }
            try await client.execute(uri: "/api/v1/oee?asset=nowhere", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/oee?period=fortnight", method: .get) { #expect($0.status == .badRequest) }
        }
    }
}

/// The ISO week of a `YYYY-MM-DD` date, worked out with Foundation's ISO 8601 calendar (independently of the engine's own arithmetic).
struct LocalDateForTest {
    let isoWeek: String

    init(_ text: String) {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = text.split(separator: "-").map { Int($0)! }
        let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))!
        let week = calendar.component(.weekOfYear, from: date)
        isoWeek = "\(calendar.component(.yearForWeekOfYear, from: date))-W\(week < 10 ? "0" : "")\(week)"
    }
}
