/// Run-to-failure histories in NASA's C-MAPSS text layout: one row per machine and cycle,
/// space-separated: the machine's number, the cycle, then its readings (settings and sensors).
public enum RunToFailureFile {
    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The histories, by machine number in order: each machine's readings (every column after the
    /// cycle), one row per cycle in cycle order.
    public static func histories(_ text: String) throws(FormatError) -> [[[Double]]] {
        var machines: [Int: [(cycle: Int, row: [Double])]] = [:]
        var width: Int?
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard !fields.isEmpty else { continue }
            guard fields.count >= 3, let machine = Int(fields[0]), let cycle = Int(fields[1]) else {
                throw FormatError(description: "line \(index + 1): not `machine cycle reading…`")
            }
            let readings = fields.dropFirst(2).compactMap { Double($0) }
            guard readings.count == fields.count - 2, readings.allSatisfy(\.isFinite) else {
                throw FormatError(description: "line \(index + 1): a reading is not a number")
            }
            guard width == nil || width == readings.count else {
                throw FormatError(description: "line \(index + 1): \(readings.count) readings, the lines before have \(width!)")
            }
            width = readings.count
            machines[machine, default: []].append((cycle, readings))
        }
        guard !machines.isEmpty else { throw FormatError(description: "no rows") }
        return machines.keys.sorted().map { machine in machines[machine]!.sorted { $0.cycle < $1.cycle }.map(\.row) }
    }
}
