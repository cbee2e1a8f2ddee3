import Foundation
@testable import OPCUA
import Testing

@Suite struct ChannelSecurityTests {
    /// asyncua's `uacrypto.p_sha256(bytes(range(32)), bytes(range(100, 132)), (32, 16, 16))`.
    @Test func keysAreDerivedAsAsyncuaDerivesThem() {
        let bytes = PolicyAlgorithms.pSHA256(secret: Array(0..<32), seed: Array(100..<132), length: 64)
        #expect(bytes == BinaryEncodingTests.bytes(
            "5d667f3542df4c0d18c2edc05d8fecbf7beb6a0a0403e76e1e91719689d1ecd8" + "1cdf20ea137039545580dbadc02dc685" + "72e6506f48406debe0a2f12bc59e7c01"))
    }

    @Test func paddingFillsTheBlockAndIsCheckedOnTheWayBack() throws {
        for length in 0..<40 {
            let padding = ChannelSecurity.padding(length: length, block: 16, wide: false)
            #expect((length + padding.count) % 16 == 0 && padding.allSatisfy { $0 == padding.last })
            #expect(try ChannelSecurity.unpad([9, 9, 9] + padding, wide: false) == [9, 9, 9])
        }
        let wide = ChannelSecurity.padding(length: 300, block: 470, wide: true)
        #expect((300 + wide.count) % 470 == 0)
        #expect(try ChannelSecurity.unpad([1] + wide, wide: true) == [1])
        #expect(throws: OPCUAError.self) { try ChannelSecurity.unpad([1, 2, 3, 7], wide: false) }
    }

    /// Two ends made here: a client and a "server" with certificates of their own, each sealing what the other opens.
    static func pair(_ policy: SecurityPolicy, _ mode: MessageSecurityMode) throws -> (client: ChannelSecurity, server: ChannelSecurity) {
        let clientIdentity = try LocalIdentity.generate(applicationURI: "urn:test:client", name: "client", hostname: "localhost")
        let serverIdentity = try LocalIdentity.generate(applicationURI: "urn:test:server", name: "server", hostname: "localhost")
        var client = try ChannelSecurity(policy: policy, mode: mode, local: clientIdentity, remoteCertificate: serverIdentity.certificate)
        var server = try ChannelSecurity(policy: policy, mode: mode, local: serverIdentity, remoteCertificate: clientIdentity.certificate)
        let (clientNonce, serverNonce) = (client.localNonce, server.localNonce)
        try client.derive(serverNonce: serverNonce)
        try server.derive(serverNonce: clientNonce)  // so the server receives with the keys the client sends with
        return (client, server)
    }

    @Test(arguments: [SecurityPolicy.basic256Sha256, .aes128Sha256RsaOaep], [MessageSecurityMode.sign, .signAndEncrypt])
    func chunksSealedByOneEndOpenAtTheOther(policy: SecurityPolicy, mode: MessageSecurityMode) throws {
        let (client, server) = try Self.pair(policy, mode)
        var prefix = UAWriter()
        prefix.uint32(7)
        client.asymmetricHeader(&prefix)
        let plain = Array(0..<600).map { UInt8($0 % 251) }
        let open = try client.sealAsymmetric(type: .open, prefix: prefix.bytes, plain: plain)
        #expect(open.encoded.count <= 8_192)
        #expect(try server.openAsymmetric(open, offset: prefix.bytes.count) == plain)

        let message = try client.sealSymmetric(type: .message, chunk: UInt8(ascii: "F"), prefix: [7, 0, 0, 0, 1, 0, 0, 0], plain: plain)
        let visible = message.body.windows(ofCount: 32).contains(plain[0..<32])
        #expect(visible == (mode == .sign))  // encrypted, the plaintext is nowhere in the chunk
        #expect(try server.openSymmetric(message) == plain)

        // One flipped bit anywhere is refused.
        var tampered = message
        tampered.body[tampered.body.count / 2] ^= 0x01
        #expect(throws: OPCUAError.self) { try server.openSymmetric(tampered) }
        var tamperedOpen = open
        tamperedOpen.body[tamperedOpen.body.count - 3] ^= 0x01
        #expect(throws: OPCUAError.self) { try server.openAsymmetric(tamperedOpen, offset: prefix.bytes.count) }
    }
}

extension Array where Element == UInt8 {
    func windows(ofCount count: Int) -> [ArraySlice<UInt8>] {
        guard self.count >= count else { return [] }
        return (0...(self.count - count)).map { self[$0..<$0 + count] }
    }
}

@Suite struct CertificateStoreTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gemba-pki-\(UUID().uuidString)").path
    }

    @Test func anUntrustedCertificateIsRejectedNamedAndTrustedOnceMoved() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CertificateStore(directory: path)
        let own = try store.identity(applicationURI: "urn:test:gateway", name: "gateway")
        #expect(try store.identity(applicationURI: "urn:other", name: "other").certificate == own.certificate)  // made once, then read
        let server = try LocalIdentity.generate(applicationURI: "urn:test:server", name: "server", hostname: "localhost")
        do {
            try store.check(server.certificate, pinned: nil)
            Issue.record("an untrusted certificate must be refused")
        } catch {
            #expect(error.message.contains(server.thumbprint) && error.message.contains("rejected/\(server.thumbprint).der"))
        }
        try FileManager.default.moveItem(atPath: "\(path)/rejected/\(server.thumbprint).der", toPath: "\(path)/trusted/\(server.thumbprint).der")
        try store.check(server.certificate, pinned: nil)
        try store.check(server.certificate, pinned: server.thumbprint.lowercased())
        #expect(throws: OPCUAError.self) { try store.check(own.certificate, pinned: server.thumbprint) }
    }

    @Test func aCertificateOutOfItsDatesIsRefusedEvenWhenTrusted() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = CertificateStore(directory: path)
        let server = try LocalIdentity.generate(applicationURI: "urn:test:server", name: "server", hostname: "localhost")
        try FileManager.default.createDirectory(atPath: "\(path)/trusted", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(path)/trusted/server.der", contents: Data(server.certificate)))
        try store.check(server.certificate, pinned: nil)
        do {
            try store.check(server.certificate, pinned: nil, now: Date().addingTimeInterval(6 * 365 * 86_400))
            Issue.record("an expired certificate must be refused")
        } catch {
            #expect(error.message.contains("is valid from"))
        }
        #expect(throws: OPCUAError.self) { try store.check([0x30, 0x03, 0x02, 0x01, 0x01], pinned: nil) }  // not a certificate
    }
}
