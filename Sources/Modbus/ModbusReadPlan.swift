/// One value to read from a device: where it sits and how it is encoded.
public struct ModbusPoint: Sendable, Hashable {
    public var table: ModbusTable
    /// The 0-based protocol address (what goes on the wire).
    public var address: UInt16
    public var type: ModbusValueType

    public init(table: ModbusTable, address: UInt16, type: ModbusValueType) {
        self.table = table
        self.address = address
        self.type = type
    }

    /// The items (registers or bits) the point covers.
    public var span: Range<Int> { Int(address)..<(Int(address) + type.width) }
}

/// Reads that cover a set of points with as few requests as the protocol allows: points of one
/// table whose items lie within `maximumGap` of each other share a read, up to the table's limit
/// per request (125 registers, 2,000 bits). Reading the gap costs bytes but saves a round trip;
/// a device that refuses to read some addresses needs `maximumGap` 0.
public struct ModbusReadPlan: Sendable, Hashable {
    /// Where a point's items start in a read's answer.
    public struct Slot: Sendable, Hashable {
        /// The point's index in the plan's input.
        public var index: Int
        public var offset: Int
    }

    public struct Read: Sendable, Hashable {
        public var request: ModbusRequest
        /// The points it answers.
        public var points: [Slot]
    }

    public var reads: [Read]

    /// Plans the reads; a point whose type does not suit its table, or that runs past address
    /// 65535, is an error naming it.
    public init(_ points: [ModbusPoint], maximumGap: Int = 16) throws(ModbusError) {
        for (index, point) in points.enumerated() {
            guard point.table.holdsBits == (point.type == .bool) else {
                throw .invalidRequest("point \(index + 1): \(point.table.holdsBits ? "bits hold bool values only" : "registers do not hold bool (use bitN)")")
            }
            guard point.span.upperBound <= 65_536, point.type.width <= point.table.readLimit else {
                throw .invalidRequest("point \(index + 1): \(point.type.width) items from address \(point.address) do not fit one read")
            }
        }
        var reads: [Read] = []
        for table in ModbusTable.allCases {
            let sorted = points.indices.filter { points[$0].table == table }.sorted { points[$0].address < points[$1].address }
            var current: (start: Int, end: Int, points: [Slot])?
            func close() {
                guard let block = current else { return }
                reads.append(Read(request: .read(table, address: UInt16(block.start), count: block.end - block.start), points: block.points))
                current = nil
            }
            for index in sorted {
                let span = points[index].span
                if let block = current, span.lowerBound - block.end <= maximumGap, max(block.end, span.upperBound) - block.start <= table.readLimit {
                    current = (block.start, max(block.end, span.upperBound), block.points + [Slot(index: index, offset: span.lowerBound - block.start)])
                } else {
                    close()
                    current = (span.lowerBound, span.upperBound, [Slot(index: index, offset: 0)])
                }
            }
            close()
        }
        self.reads = reads
    }

    /// Each point's value from the answers to the reads (in the plan's order), decoded by `decode`
    /// from the point's index and its items; a read that failed gives its points that error.
    public func values<Value>(_ answers: [Result<ModbusResponse, ModbusError>], points: [ModbusPoint],
                              decode: (Int, ModbusResponse) -> Value) -> [Result<Value, ModbusError>] {
        // Every point is in exactly one read (the plan was made from them), so each placeholder is replaced.
        var values = [Result<Value, ModbusError>](repeating: .failure(.timeout), count: points.count)
        for (read, answer) in zip(reads, answers) {
            for slot in read.points {
                let (index, offset) = (slot.index, slot.offset)
                values[index] = answer.map { response in
                    let width = points[index].type.width
                    let slice: ModbusResponse = switch response {
                    case .bits(let bits): .bits(Array(bits[offset..<(offset + width)]))
                    case .registers(let registers): .registers(Array(registers[offset..<(offset + width)]))
                    case .written: .written
                    }
                    return decode(index, slice)
                }
            }
        }
        return values
    }
}
