public import GembaCore

/// Production orders a machine's tags open and close by themselves: an order number tag that takes
/// a new non-empty value opens an order under that number, and its next change (another number,
/// an empty value, `0` or `none`) closes it; the product and target quantity are the values their
/// tags hold when the order opens.
///
/// An entered order wins over one from tags for the time it covers: ``order(at:entered:fromTags:)``.
public enum TagOrders {
    /// The orders the samples make, oldest first; one still open at `end` has no end.
    /// Each list is (time, value) in any order, the value in effect before the span included.
    public static func orders(machine: AssetPath, numbers: [(time: Int64, value: String)], products: [(time: Int64, value: String)],
                              targets: [(time: Int64, value: Int64)]) -> [ProductionOrder] {
        let numbers = numbers.sorted { $0.time < $1.time }
        let products = products.sorted { $0.time < $1.time }
        let targets = targets.sorted { $0.time < $1.time }
        var orders: [ProductionOrder] = []
        var current: String?
        for (time, value) in numbers {
            let number = closing.contains(value) ? nil : value
            guard number != current else { continue }
            if current != nil { orders[orders.count - 1].end = time }
            current = number
            guard let number else { continue }
            // The values held when the order opened (the first ones read, when the order opened before them).
            let product = (products.last { $0.time <= time } ?? products.first)?.value ?? ""
            let target = (targets.last { $0.time <= time } ?? targets.first)?.value ?? 0
            orders.append(ProductionOrder(id: number, machine: machine, product: product, targetQuantity: max(0, target), start: time,
                                          fromTag: true))
        }
        return orders
    }

    /// Values of the order number tag that mean no order runs.
    static let closing: Set<String> = ["", "0", "none"]

    /// Which order ran when over `span`, with its product (stretches without an order left out),
    /// by ``order(at:entered:fromTags:)``.
    public static func running(in span: Range<Int64>, entered: [ProductionOrder], fromTags: [ProductionOrder])
        -> [(range: Range<Int64>, order: String, product: String)] {
        var cuts = Set([span.lowerBound, span.upperBound])
        for order in entered + fromTags {
            for bound in [order.start, order.end ?? .max] where span.contains(bound) { cuts.insert(bound) }
        }
        let points = cuts.sorted()
        var stretches: [(range: Range<Int64>, order: String, product: String)] = []
        for (start, end) in zip(points, points.dropFirst()) {
            guard let running = order(at: start, entered: entered, fromTags: fromTags) else { continue }
            if let last = stretches.last, last.order == running.id, last.product == running.product, last.range.upperBound == start {
                stretches[stretches.count - 1].range = last.range.lowerBound..<end
            } else {
                stretches.append((start..<end, running.id, running.product))
            }
        }
        return stretches
    }

    /// The order running at `time`: an entered one first, else one from tags.
    public static func order(at time: Int64, entered: [ProductionOrder], fromTags: [ProductionOrder]) -> ProductionOrder? {
        entered.last { $0.covers(time) } ?? fromTags.last { $0.covers(time) }
    }
}
