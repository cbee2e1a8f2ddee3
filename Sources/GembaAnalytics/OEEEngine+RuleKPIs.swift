public import GembaCore
public import GembaRules

extension OEEEngine {
    /// The shift KPIs rules read (`shift.oee`, `line.availability`, …, as fractions) of a group of
    /// machines: their shift at `time` from its start until then, or the shift running now when
    /// `time` is nil (late data applied first). The live engine is given these every 30 s; a
    /// backtest asks for them at past times.
    public func ruleKPIs(tenant: TenantID, machines: [AssetPath], at time: Int64? = nil) async throws -> [Operand.KPI: Double] {
        let report = if let time {
            try await shiftSoFar(tenant: tenant, machines: machines, at: time).report
        } else {
            try await currentShift(tenant: tenant, machines: machines).report
        }
        let kpis = report.total.kpis
        var values: [Operand.KPI: Double] = [:]
        values[.oee] = kpis.oee.value
        values[.availability] = kpis.availability.value
        values[.performance] = kpis.performance.value
        values[.quality] = kpis.quality.value
        return values
    }
}
