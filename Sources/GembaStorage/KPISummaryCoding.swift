package import GembaCore

/// How KPI summaries are stored, whatever the database: the components as `kpi_summary`
/// columns in one order (schema, writes, sums), and the per-reason, per-defect, per-product and
/// per-order parts as packed little-endian blobs of small ids (`kpi_reason`).
package enum KPISummaryCoding {
    /// The columns the table was made with (migration v2); later migrations add the rest.
    package static let componentColumnsOfV2 = ["calendar", "scheduled", "excluded", "downtime", "unknown", "performance_loss", "setup",
                                       "repair", "failures", "total", "good", "unrated", "ideal"]
    package static let componentColumns = componentColumnsOfV2 + ["not_monitored", "rework"]

    package static func values(_ components: KPIComponents) -> [Int64] {
        [components.calendarTime, components.scheduledTime, components.excludedTime, components.downtime, components.unknownTime,
         components.performanceLossTime, components.setupTime, components.repairTime, components.failures,
         components.totalCount, components.goodCount, components.unratedCount, components.idealTime, components.notMonitoredTime, components.reworkCount]
    }

    /// Adds the component columns (`value(i)` is the i-th of ``componentColumns``) to `components`.
    package static func add(_ value: (Int) -> Int64, to components: inout KPIComponents) {
        components.calendarTime = components.calendarTime.clampedAdding(value(0))
        components.scheduledTime = components.scheduledTime.clampedAdding(value(1))
        components.excludedTime = components.excludedTime.clampedAdding(value(2))
        components.downtime = components.downtime.clampedAdding(value(3))
        components.unknownTime = components.unknownTime.clampedAdding(value(4))
        components.performanceLossTime = components.performanceLossTime.clampedAdding(value(5))
        components.setupTime = components.setupTime.clampedAdding(value(6))
        components.repairTime = components.repairTime.clampedAdding(value(7))
        components.failures = components.failures.clampedAdding(value(8))
        components.totalCount = components.totalCount.clampedAdding(value(9))
        components.goodCount = components.goodCount.clampedAdding(value(10))
        components.unratedCount = components.unratedCount.clampedAdding(value(11))
        components.idealTime = components.idealTime.clampedAdding(value(12))
        components.notMonitoredTime = components.notMonitoredTime.clampedAdding(value(13))
        components.reworkCount = components.reworkCount.clampedAdding(value(14))
    }

    /// A summary's time by reason as packed little-endian entries: reason id (Int32), time (Int64), downtime (Int64).
    package static func packReasons(_ components: KPIComponents, id: (String) throws -> Int32) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20 * components.timeByReason.count)
        for (reason, time) in components.timeByReason.sorted(by: { $0.key < $1.key }) {
            let id = try id(reason)
            withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: time.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: (components.downtimeByReason[reason] ?? 0).littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// A summary's scrap by defect code as packed little-endian entries: code id (Int32), units (Int64).
    package static func packScrapReasons(_ components: KPIComponents, id: (String) throws -> Int32) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for (reason, units) in components.scrapByReason.sorted(by: { $0.key < $1.key }) {
            let id = try id(reason)
            withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: units.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// Products share the id table with reasons under this prefix (a product may be named like a defect code).
    package static let productPrefix = "product:"

    /// A summary's components by product as packed little-endian entries: product id (Int32), run
    /// time, ideal time, total and good units (Int64 each).
    package static func packProducts(_ components: KPIComponents, id: (String) throws -> Int32) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for (product, made) in components.byProduct.sorted(by: { $0.key < $1.key }) {
            let id = try id(productPrefix + product)
            withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
            append(made, to: &bytes)
        }
        return bytes
    }

    package static let orderPrefix = "order:"

    /// A summary's components by order: order id, product id (Int32 each), then as for products.
    package static func packOrders(_ components: KPIComponents, id: (String) throws -> Int32) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for (order, entry) in components.byOrder.sorted(by: { $0.key < $1.key }) {
            for id in [try id(orderPrefix + order), try id(productPrefix + entry.product)] {
                withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
            }
            append(entry.made, to: &bytes)
        }
        return bytes
    }

    package static func forEachOrder(in blob: UnsafeRawBufferPointer, _ body: (Int32, Int32, ProductComponents) -> Void) {
        var offset = 0
        while offset + 40 <= blob.count {
            body(Int32(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int32.self)),
                 Int32(littleEndian: blob.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self)), made(in: blob, at: offset + 8))
            offset += 40
        }
    }

    /// Run time, ideal time, total and good units as four little-endian Int64s.
    private static func append(_ made: ProductComponents, to bytes: inout [UInt8]) {
        for value in [made.runTime, made.idealTime, made.totalCount, made.goodCount] {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    private static func made(in blob: UnsafeRawBufferPointer, at offset: Int) -> ProductComponents {
        func int64(_ at: Int) -> Int64 { Int64(littleEndian: blob.loadUnaligned(fromByteOffset: offset + at, as: Int64.self)) }
        return ProductComponents(runTime: int64(0), idealTime: int64(8), totalCount: int64(16), goodCount: int64(24))
    }

    package static func forEachProduct(in blob: UnsafeRawBufferPointer, _ body: (Int32, ProductComponents) -> Void) {
        var offset = 0
        while offset + 36 <= blob.count {
            body(Int32(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int32.self)), made(in: blob, at: offset + 4))
            offset += 36
        }
    }

    package static func forEachScrapReason(in blob: UnsafeRawBufferPointer, _ body: (Int32, Int64) -> Void) {
        var offset = 0
        while offset + 12 <= blob.count {
            body(Int32(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int32.self)),
                 Int64(littleEndian: blob.loadUnaligned(fromByteOffset: offset + 4, as: Int64.self)))
            offset += 12
        }
    }

    package static func forEachReason(in blob: UnsafeRawBufferPointer, _ body: (Int32, Int64, Int64) -> Void) {
        var offset = 0
        while offset + 20 <= blob.count {
            body(Int32(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: Int32.self)),
                 Int64(littleEndian: blob.loadUnaligned(fromByteOffset: offset + 4, as: Int64.self)),
                 Int64(littleEndian: blob.loadUnaligned(fromByteOffset: offset + 12, as: Int64.self)))
            offset += 20
        }
    }

    /// The expression a grouping sums by.
    package static func groupColumn(_ grouping: SummaryGrouping) -> String {
        switch grouping {
        case .total: "''"
        case .day: "day"
        case .shift: "shift"
        }
    }
}

/// Stored summaries summed as they are read: the component columns, and the packed blobs by the
/// ids they hold (turned into names once, at the end).
package struct SummarySum {
    private var sum = KPIComponents()
    private var reasons: [Int32: (time: Int64, downtime: Int64)] = [:]
    private var scrap: [Int32: Int64] = [:]
    private var products: [Int32: ProductComponents] = [:]
    private var orders: [Int32: (product: Int32, made: ProductComponents)] = [:]

    /// The `kpi_reason` ids the sum refers to.
    package var ids: some Sequence<Int32> {
        [Array(reasons.keys), Array(scrap.keys), Array(products.keys), Array(orders.keys), orders.values.map(\.product)].joined()
    }

    package init() {}

    /// Adds one stored row: its component columns (`value(i)` is the i-th of
    /// ``KPISummaryCoding/componentColumns``) and its four blobs.
    package mutating func add(_ value: (Int) -> Int64, reasons reasonBlob: UnsafeRawBufferPointer, scrap scrapBlob: UnsafeRawBufferPointer,
                              products productBlob: UnsafeRawBufferPointer, orders orderBlob: UnsafeRawBufferPointer) {
        KPISummaryCoding.add(value, to: &sum)
        KPISummaryCoding.forEachReason(in: reasonBlob) { id, time, downtime in
            let current = reasons[id] ?? (0, 0)
            reasons[id] = (current.time + time, current.downtime + downtime)
        }
        KPISummaryCoding.forEachScrapReason(in: scrapBlob) { id, units in scrap[id, default: 0] += units }
        KPISummaryCoding.forEachProduct(in: productBlob) { id, made in products[id] = (products[id] ?? ProductComponents()) + made }
        KPISummaryCoding.forEachOrder(in: orderBlob) { id, product, made in
            orders[id] = (product, (orders[id]?.made ?? ProductComponents()) + made)
        }
    }

    /// The sum with reasons, defects, products and orders by name.
    package func components(named paths: [Int32: String]) -> KPIComponents {
        var components = sum
        for (id, times) in reasons {
            let reason = paths[id] ?? "unknown/no_data"
            components.timeByReason[reason, default: 0] += times.time
            if times.downtime > 0 { components.downtimeByReason[reason, default: 0] += times.downtime }
        }
        for (id, units) in scrap { components.scrapByReason[paths[id] ?? QualityEntry.unspecifiedReason, default: 0] += units }
        for (id, made) in products {
            guard let name = paths[id], name.hasPrefix(KPISummaryCoding.productPrefix) else { continue }
            let product = String(name.dropFirst(KPISummaryCoding.productPrefix.count))
            components.byProduct[product] = (components.byProduct[product] ?? ProductComponents()) + made
        }
        for (id, entry) in orders {
            guard let name = paths[id], name.hasPrefix(KPISummaryCoding.orderPrefix) else { continue }
            let order = String(name.dropFirst(KPISummaryCoding.orderPrefix.count))
            let product = paths[entry.product].map { String($0.dropFirst(KPISummaryCoding.productPrefix.count)) } ?? ""
            components.byOrder[order] = OrderComponents(product: components.byOrder[order]?.product ?? product,
                                                        made: (components.byOrder[order]?.made ?? ProductComponents()) + entry.made)
        }
        return components
    }
}
