internal import GembaAnalytics
internal import GembaCore

/// The JSON of OEE answers. Ratios are fractions (0.8667), times milliseconds; a KPI is
/// `{"value": x|null, "note": why|null, "flagged": bool}` so a null always says why.
enum OEEJSON {
    static func report(_ report: OEEReport, asset: String, catalogue: ReasonCatalogue) -> JSONWriter {
        var json = JSONWriter(capacity: 2048 + 1024 * report.periods.count)
        json.object { json in
            header(&json, report, asset: asset)
            json.field("period") { $0.string(report.grouping.rawValue) }
            json.field("total") { period(&$0, report.total, catalogue: catalogue) }
            json.field("periods") { json in json.array { json in for item in report.periods { period(&json, item, catalogue: catalogue) } } }
        }
        return json
    }

    static func current(_ report: OEEReport, shifts: [String], asset: String, catalogue: ReasonCatalogue) -> JSONWriter {
        var json = JSONWriter(capacity: 2048)
        json.object { json in
            header(&json, report, asset: asset)
            json.field("shifts") { json in json.array { json in for shift in shifts { json.string(shift) } } }
            json.field("current") { period(&$0, report.total, catalogue: catalogue) }
        }
        return json
    }

    private static func header(_ json: inout JSONWriter, _ report: OEEReport, asset: String) {
        json.field("asset") { $0.string(asset) }
        json.field("machines") { json in json.array { json in for machine in report.machines { json.string(machine.description) } } }
        json.field("from") { $0.int(report.range.lowerBound) }
        json.field("to") { $0.int(report.range.upperBound) }
    }

    static func period(_ json: inout JSONWriter, _ result: PeriodResult, catalogue: ReasonCatalogue) {
        let components = result.components
        let kpis = result.kpis
        json.object { json in
            json.field("label") { $0.string(result.label) }
            json.field("from") { $0.int(result.range.lowerBound) }
            json.field("to") { $0.int(result.range.upperBound) }
            for (name, value) in [("availability", kpis.availability), ("performance", kpis.performance), ("quality", kpis.quality),
                                  ("oee", kpis.oee), ("utilization", kpis.utilization), ("teep", kpis.teep),
                                  ("mtbf_ms", kpis.mtbf), ("mttr_ms", kpis.mttr), ("scrap_ratio", kpis.scrapRatio),
                                  ("setup_rate", kpis.setupRate), ("first_pass_yield", kpis.firstPassYield)] {
                json.field(name) { kpi(&$0, value) }
            }
            json.field("components") { json in
                json.object { json in
                    for (name, value) in [
                        ("calendar_ms", components.calendarTime), ("not_monitored_ms", components.notMonitoredTime),
                        ("scheduled_ms", components.scheduledTime),
                        ("excluded_ms", components.excludedTime), ("planned_ms", components.plannedProductionTime),
                        ("downtime_ms", components.downtime), ("run_ms", components.runTime), ("unknown_ms", components.unknownTime),
                        ("performance_loss_ms", components.performanceLossTime), ("setup_ms", components.setupTime),
                        ("repair_ms", components.repairTime), ("failures", components.failures), ("total_count", components.totalCount),
                        ("good_count", components.goodCount), ("scrap_count", components.scrapCount),
                        ("rework_count", components.reworkCount),
                        ("unrated_count", components.unratedCount), ("ideal_ms", components.idealTime),
                    ] {
                        json.field(name) { $0.int(value) }
                    }
                }
            }
            json.field("states_ms") { json in
                json.object { json in for (state, time) in result.timeByState.sorted(by: { $0.key < $1.key }) { json.field(state) { $0.int(time) } } }
            }
            json.field("reasons_ms") { json in
                json.object { json in
                    for (reason, time) in components.timeByReason.sorted(by: { $0.key < $1.key }) { json.field(reason) { $0.int(time) } }
                }
            }
            json.field("downtime_pareto") { json in
                json.array { json in
                    for bar in components.downtimePareto {
                        json.object { json in
                            json.field("reason") { $0.string(bar.reason) }
                            json.field("name") { $0.string(catalogue[bar.reason]?.name ?? bar.reason) }
                            json.field("time_ms") { $0.int(bar.time) }
                            json.field("share") { $0.double(bar.share) }
                        }
                    }
                }
            }
            json.field("products") { json in
                json.array { json in
                    for (product, made) in components.byProduct.sorted(by: { $0.key < $1.key }) {
                        json.object { json in
                            json.field("product") { $0.string(product) }
                            json.field("run_ms") { $0.int(made.runTime) }
                            json.field("ideal_ms") { $0.int(made.idealTime) }
                            json.field("total_count") { $0.int(made.totalCount) }
                            json.field("good_count") { $0.int(made.goodCount) }
                            json.field("performance") { kpi(&$0, made.performance) }
                        }
                    }
                }
            }
            json.field("orders") { json in
                json.array { json in
                    for (order, entry) in components.byOrder.sorted(by: { $0.key < $1.key }) {
                        json.object { json in
                            json.field("order") { $0.string(order) }
                            json.field("product") { $0.string(entry.product) }
                            json.field("run_ms") { $0.int(entry.made.runTime) }
                            json.field("ideal_ms") { $0.int(entry.made.idealTime) }
                            json.field("total_count") { $0.int(entry.made.totalCount) }
                            json.field("good_count") { $0.int(entry.made.goodCount) }
                            json.field("performance") { kpi(&$0, entry.made.performance) }
                        }
                    }
                }
            }
            json.field("quality_pareto") { json in
                json.array { json in
                    for bar in components.qualityPareto {
                        json.object { json in
                            json.field("reason") { $0.string(bar.reason) }
                            json.field("count") { $0.int(bar.count) }
                            json.field("share") { $0.double(bar.share) }
                        }
                    }
                }
            }
        }
    }

    private static func kpi(_ json: inout JSONWriter, _ value: KPIValue) {
        json.object { json in
            json.field("value") { json in value.value.map { json.double($0) } ?? json.null() }
            json.field("note") { json in value.note.map { json.string($0) } ?? json.null() }
            json.field("flagged") { $0.bool(value.flagged) }
        }
    }

    static func floor(_ statuses: [FloorStatus]) -> JSONWriter {
        var json = JSONWriter(capacity: 512 * statuses.count + 32)
        json.object { json in
            json.field("machines") { json in
                json.array { json in
                    for status in statuses {
                        json.object { json in
                            json.field("machine") { $0.string(status.machine.description) }
                            json.field("shift") { json in status.shift.map { json.string($0) } ?? json.null() }
                            for (name, value) in [("availability", status.kpis.availability), ("performance", status.kpis.performance),
                                                  ("quality", status.kpis.quality), ("oee", status.kpis.oee)] {
                                json.field(name) { kpi(&$0, value) }
                            }
                            json.field("total_count") { $0.int(status.components.totalCount) }
                            json.field("good_count") { $0.int(status.components.goodCount) }
                            json.field("stop") { json in
                                guard let stop = status.stop else { return json.null() }
                                write(stop, into: &json)
                            }
                        }
                    }
                }
            }
        }
        return json
    }

    static func stops(_ stops: [Stop]) -> JSONWriter {
        var json = JSONWriter(capacity: 256 * stops.count + 32)
        json.object { json in
            json.field("stops") { json in
                json.array { json in
                    for stop in stops { write(stop, into: &json) }
                }
            }
        }
        return json
    }

    private static func write(_ stop: Stop, into json: inout JSONWriter) {
        json.object { json in
            json.field("machine") { $0.string(stop.machine.description) }
            json.field("start") { $0.int(stop.start) }
            json.field("end") { $0.int(stop.end) }
            json.field("duration_ms") { $0.int(stop.end - stop.start) }
            json.field("open") { $0.bool(stop.open) }
            json.field("reason") { $0.string(stop.reason.path) }
            json.field("reason_name") { $0.string(stop.reason.name) }
            json.field("category") { $0.string(stop.reason.category.rawValue) }
            json.field("loss_class") { $0.string(stop.reason.lossClass.rawValue) }
            json.field("fault_code") { json in stop.faultCode.map { json.string($0) } ?? json.null() }
            json.field("assigned_by") { json in stop.assignedBy.map { json.string($0) } ?? json.null() }
            json.field("assigned_at") { json in stop.assignedAt.map { json.int($0) } ?? json.null() }
        }
    }
}
