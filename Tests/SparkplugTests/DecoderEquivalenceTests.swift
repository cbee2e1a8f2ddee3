import Foundation
import GembaCore
@testable import Sparkplug
import Testing

/// The hand-written wire decoder against the generated code: same acceptance, same reading.
@Suite struct DecoderEquivalenceTests {
    /// Both decoders on the same bytes: both refuse, or both read payloads that encode identically.
    static func agree(_ bytes: [UInt8]) -> Bool {
        let fast = try? SparkplugPayload(decoding: bytes)
        let reference = try? SparkplugPayload(generatedDecoding: bytes)
        switch (fast, reference) {
        case (nil, nil): return true
        case (let fast?, let reference?):
            return fast.serialized() == reference.serialized()
                // Compared as text: NaN payloads must agree too.
                && zip(fast.metrics, reference.metrics).allSatisfy { "\(String(describing: try? $0.value()))" == "\(String(describing: try? $1.value()))" }
        default: return false
        }
    }

    static var samples: [[UInt8]] {
        let everyType = SparkplugPayload(timestamp: 1, seq: 7, metrics: ValueTests.cases.map { type, value in
            try! SparkplugMetric(name: "\(type)", alias: UInt64(type.rawValue), timestamp: 5, dataType: type, value: value)
        }).serialized()
        return PayloadVectorTests.vectors.map(\.payload) + [everyType]
    }

    @Test func vectorsAndEveryDatatypeReadTheSame() {
        for bytes in Self.samples { #expect(Self.agree(bytes)) }
    }

    /// A field's key is a 32-bit varint: padded to 6 bytes it is refused, as the reference refuses
    /// it, though its value fits (found by the noise below, with another generator's draw).
    @Test func aFieldKeyLongerThanFiveBytesIsRefused() {
        let padded: [UInt8] = [221, 158, 204, 229, 137, 0, 115, 87, 51, 77]
        #expect(Self.agree(padded))
        #expect(throws: (any Error).self) { try SparkplugPayload(decoding: padded) }
        #expect(Self.agree([0xBD, 0x80, 0x80, 0x80, 0x00, 115, 87, 51, 77]))  // 5 bytes: read by both
        #expect((try? SparkplugPayload(decoding: [0xBD, 0x80, 0x80, 0x80, 0x00, 115, 87, 51, 77])) != nil)
    }

    /// Seeded, so that a run repeats; `GEMBA_FUZZ_SEED` draws other inputs when exploring.
    @Test func truncatedAndMutatedPayloadsAreTreatedTheSame() {
        let seed = ProcessInfo.processInfo.environment["GEMBA_FUZZ_SEED"].flatMap { UInt64($0) } ?? 26
        var random = SplitMix64(seed: seed)
        for bytes in Self.samples {
            for cut in 0..<bytes.count { #expect(Self.agree(Array(bytes.prefix(cut))), "cut at \(cut)") }
            for _ in 0..<1_000 {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    mutated[Int.random(in: 0..<mutated.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                #expect(Self.agree(mutated), "\(mutated)")
            }
        }
        for _ in 0..<3_000 {
            let noise = (0..<Int.random(in: 0...48, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(Self.agree(noise), "\(noise)")
        }
    }
}
