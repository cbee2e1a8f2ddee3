#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A detector's recent nonconformities (how unusual each sample was, on any positive scale) and
/// the conformal p-value of a new one against them: the share at least as large. The latest
/// ``capacity`` are kept, each in two bytes (the logarithm, to 1/1024 of a binary order, which
/// keeps their order): 1 KB.
struct ConformalCalibration: Sendable, Codable {
    /// Recent nonconformities a p-value is drawn from: many, so that p-values are fine enough to
    /// tell a 1-in-500 pattern from a 1-in-100 one (on NAB's series this mattered most).
    static let capacity = 500
    private var recorded: [UInt16] = []
    private var next = 0

    init() { recorded.reserveCapacity(Self.capacity) }

    /// How many are recorded (up to ``capacity``).
    var count: Int { recorded.count }

    var stateBytes: Int { heapBytes(recorded) }

    /// The p-value of `nonconformity`. Beyond the largest recorded, where the share cannot fall
    /// below 1/(n+1), it falls further with the square of how far beyond it lies, so a sample far
    /// from all the detector knows is told from a merely rare one.
    func pValue(of nonconformity: Double) -> Double {
        let atLeast = Self.count(atLeast: Self.code(nonconformity), in: recorded)
        let total = Double(recorded.count + 1)
        // Only a nonconformity beyond every recorded one needs the largest (rare: a second pass then).
        guard atLeast == 0, let largest = recorded.max(), largest > 0 else { return Double(atLeast + 1) / total }
        let beyond = nonconformity / Self.value(of: largest)
        return 1 / total / (beyond * beyond)
    }

    /// The p-value's surprise as a score: −log10(p) / 10, 1 at p = 1e-10.
    func surprise(of nonconformity: Double) -> Double {
        min(10, -log10(pValue(of: nonconformity))) / 10
    }

    /// How many of `codes` are at least `code`: sixteen at a time (this runs for every sample a
    /// detector scores).
    private static func count(atLeast code: UInt16, in codes: [UInt16]) -> Int {
        codes.withUnsafeBufferPointer { codes in
            let lanes = SIMD16<UInt16>.scalarCount
            var counts = SIMD16<UInt16>()
            let threshold = SIMD16<UInt16>(repeating: code), one = SIMD16<UInt16>(repeating: 1)
            var index = 0
            if let base = codes.baseAddress {
                let raw = UnsafeRawPointer(base)
                while index + lanes <= codes.count {
                    let chunk = raw.loadUnaligned(fromByteOffset: index * 2, as: SIMD16<UInt16>.self)
                    counts &+= SIMD16<UInt16>().replacing(with: one, where: chunk .>= threshold)
                    index += lanes
                }
            }
            var atLeast = Int(counts.wrappedSum())
            while index < codes.count {
                if codes[index] >= code { atLeast += 1 }
                index += 1
            }
            return atLeast
        }
    }

    mutating func record(_ nonconformity: Double) {
        let code = Self.code(nonconformity)
        if recorded.count < Self.capacity {
            recorded.append(code)
        } else {
            recorded[next] = code
            next = next + 1 == Self.capacity ? 0 : next + 1
        }
    }

    /// The order-keeping code of a nonconformity: 0 for zero (or below 2⁻³²), then its base-2
    /// logarithm in steps of 1/1024 up to 2³².
    static func code(_ value: Double) -> UInt16 {
        guard value > 0x1p-32 else { return 0 }
        let step = (log2(value) + 32) * 1_024
        return UInt16(min(65_535, max(1, step.rounded(.down) + 1)))
    }

    /// The nonconformity a code stands for (the lower end of its step).
    static func value(of code: UInt16) -> Double {
        code == 0 ? 0 : exp2(Double(code - 1) / 1_024 - 32)
    }
}
