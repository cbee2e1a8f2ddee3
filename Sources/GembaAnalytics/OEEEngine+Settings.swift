#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
public import GembaCore

/// The engine's settings: the tenant's reason catalogue, each site's shift calendar, each
/// machine's production settings and the production orders. Stored as JSON documents, cached in
/// memory; every change invalidates the summaries it affects.
extension OEEEngine {
    static let reasonsKind = "reasons", calendarKind = "calendar", machineKind = "machine"

    public func catalogue(tenant: TenantID) async throws -> ReasonCatalogue {
        if let cached = cache.withLock({ $0.catalogues[tenant] }) { return cached }
        var catalogue = ReasonCatalogue.standard
        if let json = try await store.setting(tenant: tenant, kind: Self.reasonsKind, key: "catalogue") {
            for reason in try JSONDecoder().decode([ReasonCode].self, from: Data(json.utf8)) { catalogue.set(reason) }
        }
        cache.withLock { $0.catalogues[tenant] = catalogue }
        return catalogue
    }

    /// Adds a reason or changes one (its name, loss class, failure and setup flags); every KPI of the tenant follows.
    public func setReason(_ reason: ReasonCode, tenant: TenantID) async throws {
        try reason.validate()
        var catalogue = try await catalogue(tenant: tenant)
        catalogue.set(reason)
        let changed = catalogue.reasons.values.filter { ReasonCatalogue.standard[$0.path] != $0 }.sorted { $0.path < $1.path }
        try await store.setSetting(tenant: tenant, kind: Self.reasonsKind, key: "catalogue", json: try Self.json(changed))
        cache.withLock { $0.catalogues[tenant] = catalogue }
        for machine in try await telemetry.machines(tenant: tenant) {
            try await dropSummaries(tenant: tenant, machine: machine.path, range: Int64.min / 2..<Int64.max / 2)
        }
        await announce(Change(.catalogue, tenant: tenant))
    }

    /// The site's shift calendar; nil when none is set (the site then counts round the clock).
    public func calendar(tenant: TenantID, site: String) async throws -> ShiftCalendar? {
        let key = SiteKey(tenant: tenant, site: site)
        if let cached = cache.withLock({ $0.calendars[key] }) { return cached }
        let calendar = try await store.setting(tenant: tenant, kind: Self.calendarKind, key: site).map { json in
            try JSONDecoder().decode(ShiftCalendar.self, from: Data(json.utf8))
        }
        cache.withLock { $0.calendars[key] = .some(calendar) }
        return calendar
    }

    /// Sets (nil: removes) a site's calendar; the site's KPIs follow.
    public func setCalendar(_ calendar: ShiftCalendar?, tenant: TenantID, site: String) async throws {
        try calendar?.validate()
        try await store.setSetting(tenant: tenant, kind: Self.calendarKind, key: site, json: try calendar.map(Self.json))
        cache.withLock { $0.calendars[SiteKey(tenant: tenant, site: site)] = .some(calendar) }
        for machine in try await telemetry.machines(tenant: tenant) where machine.path.site == site {
            try await dropSummaries(tenant: tenant, machine: machine.path, range: Int64.min / 2..<Int64.max / 2)
        }
        await announce(Change(.calendar, tenant: tenant, key: site))
    }

    /// The machine's production settings (the defaults when none were set).
    public func settings(tenant: TenantID, machine: AssetPath) async throws -> MachineProductionSettings {
        let key = MachineKey(tenant: tenant, machine: machine)
        if let cached = cache.withLock({ $0.settings[key] }) { return cached }
        let settings = try await store.setting(tenant: tenant, kind: Self.machineKind, key: machine.description).map { json in
            try JSONDecoder().decode(MachineProductionSettings.self, from: Data(json.utf8))
        } ?? MachineProductionSettings()
        cache.withLock { $0.settings[key] = settings }
        return settings
    }

    /// Sets a machine's production settings; its KPIs follow.
    public func setSettings(_ settings: MachineProductionSettings, tenant: TenantID, machine: AssetPath) async throws {
        try settings.validate()
        try await store.setSetting(tenant: tenant, kind: Self.machineKind, key: machine.description, json: try Self.json(settings))
        cache.withLock { $0.settings[MachineKey(tenant: tenant, machine: machine)] = settings }
        try await dropSummaries(tenant: tenant, machine: machine, range: Int64.min / 2..<Int64.max / 2)
        await announce(Change(.settings, tenant: tenant, key: machine.description))
    }

    /// The machine's (or every machine's) orders running at some moment of `range`, entered ones
    /// and those its order tag opened, by start.
    public func orders(tenant: TenantID, machine: AssetPath?, overlapping range: Range<Int64>) async throws -> [ProductionOrder] {
        var orders = try await store.orders(tenant: tenant, machine: machine, overlapping: range)
        let machines = if let machine { [machine] } else { try await telemetry.machines(tenant: tenant).map(\.path) }
        for machine in machines {
            let settings = try await settings(tenant: tenant, machine: machine)
            guard settings.orderTag != nil else { continue }
            let ids = Dictionary(try await telemetry.series(tenant: tenant, machine: machine).map { ($0.tag.name, $0.id) }, uniquingKeysWith: { a, _ in a })
            orders += try await MachineRecord.tagOrders(machine: machine, span: range, settings: settings, ids: ids, telemetry: telemetry)
        }
        return orders.sorted { ($0.start, $0.machine, $0.id) < ($1.start, $1.machine, $1.id) }
    }

    /// Adds or replaces a production order; the KPIs of the time it covers (before and after a change) follow.
    public func saveOrder(_ order: ProductionOrder, tenant: TenantID) async throws {
        guard order.targetQuantity >= 0, order.end.map({ $0 > order.start }) ?? true, order.idealCycleTime.map({ $0 > 0 }) ?? true else {
            throw ModelError(.invalid, "an order needs a target quantity ≥ 0, an end after its start and a positive ideal cycle time")
        }
        let previous = try await store.order(tenant: tenant, id: order.id)
        try await store.saveOrder(order, tenant: tenant)
        for version in [previous, order].compactMap({ $0 }) {
            try await invalidate(tenant: tenant, machine: version.machine, range: version.start..<(version.end ?? Int64.max / 2))
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension ReasonCode {
    /// Checks the code and name; throws a message naming what is wrong.
    public func validate() throws(ModelError) {
        guard !code.isEmpty, code.utf8.count <= 64, code.utf8.allSatisfy({ AssetPath.isAllowed($0) }) else {
            throw ModelError(.invalid, "reason code \"\(code)\" must be 1 to 64 characters of a-z, 0-9, '-' and '_'")
        }
        guard !name.isEmpty, name.count <= 200 else { throw ModelError(.invalid, "a reason needs a name of at most 200 characters") }
        if category == .unknown || category == .producing, code != ReasonCatalogue.standard.reasons.values.first(where: { $0.category == category })?.code {
            throw ModelError(.invalid, "\(category.rawValue) has one reason only; change its loss class instead")
        }
    }
}

extension ShiftCalendar {
    /// Checks a decoded calendar: the zone, weekdays 1–7, times within a day, breaks inside their shift.
    public func validate() throws(ModelError) {
        guard TimeZone(identifier: timeZone) != nil else { throw ModelError(.invalid, "unknown time zone \"\(timeZone)\"") }
        let days = 0...1440
        for pattern in patterns + exceptions.compactMap(\.extraPattern) {
            guard !pattern.name.isEmpty else { throw ModelError(.invalid, "every shift needs a name") }
            guard !pattern.weekdays.isEmpty || exceptions.contains(where: { $0.extraPattern == pattern }) else {
                throw ModelError(.invalid, "shift \"\(pattern.name)\": choose the weekdays it runs on")
            }
            guard pattern.weekdays.allSatisfy({ (1...7).contains($0) }), days.contains(pattern.start), days.contains(pattern.end) else {
                throw ModelError(.invalid, "shift \"\(pattern.name)\": weekdays must be 1 (Monday) to 7 and times 0 to 1440 minutes")
            }
            let crosses = pattern.end <= pattern.start
            for range in pattern.breaks {
                let inside = crosses ? (range.lowerBound >= pattern.start || range.upperBound <= pattern.end)
                    : (range.lowerBound >= pattern.start && range.upperBound <= pattern.end)
                guard inside, days.contains(range.lowerBound), days.contains(range.upperBound) else {
                    throw ModelError(.invalid, "shift \"\(pattern.name)\": break \(range) lies outside the shift")
                }
            }
        }
        for exception in exceptions {
            let date = switch exception {
            case .noProduction(let date), .extraShift(let date, _): date
            }
            guard LocalDate(date) != nil else { throw ModelError(.invalid, "exception date \"\(date)\" must be YYYY-MM-DD") }
        }
    }
}

extension ShiftCalendar.Exception {
    var extraPattern: ShiftCalendar.Pattern? {
        if case .extraShift(_, let pattern) = self { return pattern }
        return nil
    }
}

extension OEEEngine {
    /// Follows a machine that moved to a new path (its stored settings and summaries moved with it):
    /// cached state goes to the new key, and builds begun under the old path do not store.
    public func machineMoved(tenant: TenantID, from machine: AssetPath, to target: AssetPath) {
        let (old, new) = (MachineKey(tenant: tenant, machine: machine), MachineKey(tenant: tenant, machine: target))
        cache.withLock { cache in
            cache.settings[new] = cache.settings.removeValue(forKey: old)
            cache.summarizedUntil[new] = cache.summarizedUntil.removeValue(forKey: old)
            cache.late[new] = cache.late.removeValue(forKey: old)
            cache.monitoredSince[new] = cache.monitoredSince.removeValue(forKey: old)
            cache.generation[old, default: 0] += 1
            cache.generation[new, default: 0] += 1
        }
    }

    /// Forgets a deleted machine's cached settings, summaries, late marks and monitoring start.
    public func machineDeleted(tenant: TenantID, machine: AssetPath) {
        let key = MachineKey(tenant: tenant, machine: machine)
        cache.withLock { cache in
            cache.settings[key] = nil
            cache.summarizedUntil[key] = nil
            cache.late[key] = nil
            cache.monitoredSince[key] = nil
            cache.generation[key, default: 0] += 1
        }
    }
}
