import Crypto
import _CryptoExtras

/// What protects a secured channel's chunks (Part 6 §6.7.2 to §6.7.6): OpenSecureChannel chunks are
/// signed with the sender's certificate key and encrypted for the receiver's (always, in Sign mode
/// too, since the nonces are secrets); message chunks are signed with HMAC-SHA256 and, in
/// SignAndEncrypt mode, encrypted with AES-CBC, under keys derived from both nonces.
///
/// ```
/// asymmetric: | header | channel id | policy URI, certificate, thumbprint | E( sequence header, body, padding, signature ) |
/// symmetric:  | header | channel id | token id                            | E( sequence header, body, padding, signature ) |
/// padding: N+1 bytes of value N (plus a high byte when the encrypting key is larger than 2048 bits)
/// ```
struct ChannelSecurity: Sendable {
    let algorithms: PolicyAlgorithms
    let mode: MessageSecurityMode
    let local: LocalIdentity
    let remoteCertificate: [UInt8]
    let remoteKey: _RSA.Signing.PublicKey
    /// This side's nonce for the current OpenSecureChannel.
    var localNonce: [UInt8]
    /// Keys for what this side sends and receives; nil until the channel is open.
    private(set) var sending: SymmetricKeys?
    private(set) var receiving: SymmetricKeys?
    /// The keys of the token before the last renewal: chunks the server sent before it learnt of the new one.
    private var previousReceiving: SymmetricKeys?

    init(policy: SecurityPolicy, mode: MessageSecurityMode, local: LocalIdentity, remoteCertificate: [UInt8]) throws(OPCUAError) {
        guard let algorithms = PolicyAlgorithms.of(policy) else { throw OPCUAError(.security, "security policy \(policy.name) is not supported") }
        guard mode == .sign || mode == .signAndEncrypt else { throw OPCUAError(.security, "a secured policy needs mode Sign or SignAndEncrypt") }
        self.algorithms = algorithms
        self.mode = mode
        self.local = local
        self.remoteCertificate = remoteCertificate
        remoteKey = try CertificateInfo(der: remoteCertificate).publicKey
        localNonce = Self.nonce(algorithms.nonceLength)
    }

    static func nonce(_ length: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    var encrypts: Bool { mode == .signAndEncrypt }

    /// A new nonce for the next OpenSecureChannel (issue or renew).
    mutating func renewNonce() { localNonce = Self.nonce(algorithms.nonceLength) }

    /// The keys from both nonces, once the server's is known (Part 6 §6.7.5).
    mutating func derive(serverNonce: [UInt8]) throws(OPCUAError) {
        guard serverNonce.count >= algorithms.nonceLength else { throw OPCUAError(.security, "the server's nonce has \(serverNonce.count) bytes") }
        previousReceiving = receiving
        sending = algorithms.deriveKeys(secret: serverNonce, seed: localNonce)
        receiving = algorithms.deriveKeys(secret: localNonce, seed: serverNonce)
    }

    // MARK: OpenSecureChannel (asymmetric)

    /// The security header of an OpenSecureChannel chunk: policy, our certificate, the server certificate's thumbprint.
    func asymmetricHeader(_ writer: inout UAWriter) {
        writer.string(algorithms.policy.rawValue)
        writer.byteString(local.certificate)
        writer.byteString(Array(Insecure.SHA1.hash(data: remoteCertificate)))
    }

    /// Signs and encrypts `plain` (sequence header and body) after `prefix` (channel id and security header).
    func sealAsymmetric(type: UATCPMessageType, prefix: [UInt8], plain: [UInt8]) throws(OPCUAError) -> UATCPFrame {
        let cipherBlock = remoteKey.keySizeInBits / 8
        let plainBlock = cipherBlock - algorithms.oaepOverhead
        let signatureSize = local.key.keySizeInBits / 8
        let padding = Self.padding(length: plain.count + signatureSize, block: plainBlock, wide: cipherBlock > 256)
        let plaintextLength = plain.count + padding.count + signatureSize
        let bodyLength = prefix.count + plaintextLength / plainBlock * cipherBlock
        let header = Self.header(type, size: bodyLength + 8)
        let signature = try sign(header + prefix + plain + padding)
        let plaintext = plain + padding + signature
        let encryptionKey = try Self.rsaEncryption(remoteKey)
        var body = prefix
        do {
            for start in stride(from: 0, to: plaintext.count, by: plainBlock) {
                body += try encryptionKey.encrypt(plaintext[start..<start + plainBlock], padding: .PKCS1_OAEP)
            }
        } catch {
            throw OPCUAError(.security, "cannot encrypt for the server's key: \(error)")
        }
        return UATCPFrame(type: type, body: body)
    }

    /// Decrypts and checks an OpenSecureChannel chunk whose security header ends at `offset`;
    /// answers the sequence header and body.
    func openAsymmetric(_ frame: UATCPFrame, offset: Int) throws(OPCUAError) -> [UInt8] {
        let cipherBlock = local.key.keySizeInBits / 8
        let ciphertext = frame.body[offset...]
        guard !ciphertext.isEmpty, ciphertext.count % cipherBlock == 0 else {
            throw OPCUAError(.security, "an OpenSecureChannel response of \(ciphertext.count) encrypted bytes")
        }
        var plaintext: [UInt8] = []
        do {
            let key = try _RSA.Encryption.PrivateKey(derRepresentation: local.key.derRepresentation)
            for start in stride(from: ciphertext.startIndex, to: ciphertext.endIndex, by: cipherBlock) {
                plaintext += try key.decrypt(ciphertext[start..<start + cipherBlock], padding: .PKCS1_OAEP)
            }
        } catch {
            throw OPCUAError(.security, "cannot decrypt the server's OpenSecureChannel response: \(error)")
        }
        let signatureSize = remoteKey.keySizeInBits / 8
        guard plaintext.count > signatureSize + 8 else { throw OPCUAError(.security, "an OpenSecureChannel response too short for its signature") }
        let signed = Self.header(frame.type, chunk: frame.chunk, size: frame.body.count + 8) + frame.body[..<offset] + plaintext.dropLast(signatureSize)
        guard verify(Array(plaintext.suffix(signatureSize)), over: Array(signed)) else {
            throw OPCUAError(.security, "the server's OpenSecureChannel response has a bad signature")
        }
        return try Self.unpad(Array(plaintext.dropLast(signatureSize)), wide: cipherBlock > 256)
    }

    // MARK: Messages (symmetric)

    /// Bytes of body one message chunk carries within a buffer of `bufferSize`.
    func maximumBody(bufferSize: Int) -> Int {
        guard encrypts else { return bufferSize - 16 - 8 - 32 }
        return (bufferSize - 16) / 16 * 16 - 8 - 32 - 1
    }

    /// Signs (and encrypts) `plain` (sequence header and body part) after `prefix` (channel and token ids).
    func sealSymmetric(type: UATCPMessageType, chunk: UInt8, prefix: [UInt8], plain: [UInt8]) throws(OPCUAError) -> UATCPFrame {
        guard let keys = sending else { throw OPCUAError(.security, "the channel's keys are not derived yet") }
        let padding = encrypts ? Self.padding(length: plain.count + 32, block: 16, wide: false) : []
        let bodyLength = prefix.count + plain.count + padding.count + 32
        let header = Self.header(type, chunk: chunk, size: bodyLength + 8)
        let signature = Array(HMAC<SHA256>.authenticationCode(for: header + prefix + plain + padding, using: keys.signing))
        guard encrypts else { return UATCPFrame(type: type, chunk: chunk, body: prefix + plain + signature) }
        do {
            let encrypted = try AES._CBC.encrypt(plain + padding + signature, using: keys.encryption, iv: AES._CBC.IV(ivBytes: keys.iv), noPadding: true)
            return UATCPFrame(type: type, chunk: chunk, body: prefix + encrypted)
        } catch {
            throw OPCUAError(.security, "cannot encrypt a message: \(error)")
        }
    }

    /// Decrypts and checks a message chunk (the 8 bytes of channel and token ids first); answers the
    /// sequence header and body part.
    func openSymmetric(_ frame: UATCPFrame) throws(OPCUAError) -> [UInt8] {
        for keys in [receiving, previousReceiving].compactMap({ $0 }) {
            if let plain = try open(frame, with: keys) { return plain }
        }
        throw OPCUAError(.security, "a message from the server with a bad signature")
    }

    private func open(_ frame: UATCPFrame, with keys: SymmetricKeys) throws(OPCUAError) -> [UInt8]? {
        guard frame.body.count >= 8 + 8 + 32 else { throw OPCUAError(.security, "a message chunk too short for its signature") }
        var plaintext = Array(frame.body[8...])
        if encrypts {
            guard plaintext.count % 16 == 0 else { throw OPCUAError(.security, "a message chunk of \(plaintext.count) encrypted bytes") }
            guard let decrypted = try? AES._CBC.decrypt(plaintext, using: keys.encryption, iv: AES._CBC.IV(ivBytes: keys.iv), noPadding: true) else {
                return nil
            }
            plaintext = Array(decrypted)
        }
        let signed = Self.header(frame.type, chunk: frame.chunk, size: frame.body.count + 8) + frame.body[..<8] + plaintext.dropLast(32)
        guard HMAC<SHA256>.isValidAuthenticationCode(plaintext.suffix(32), authenticating: signed, using: keys.signing) else { return nil }
        let content = Array(plaintext.dropLast(32))
        return encrypts ? try Self.unpad(content, wide: false) : content
    }

    // MARK: Shared

    /// Signs `data` with our certificate's key (RSA-PKCS#1 v1.5, SHA-256).
    func sign(_ data: [UInt8]) throws(OPCUAError) -> [UInt8] {
        do { return try local.key.opcuaSignature(data) } catch {
            throw OPCUAError(.security, "cannot sign: \(error)")
        }
    }

    /// Whether `signature` is the server's over `data`.
    func verify(_ signature: [UInt8], over data: [UInt8]) -> Bool {
        remoteKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5)
    }

    /// Encrypts a secret (a user's password) for a server's certificate (RSA-OAEP, SHA-1).
    static func encryptSecret(_ data: [UInt8], for certificate: [UInt8]) throws(OPCUAError) -> [UInt8] {
        let remote = try CertificateInfo(der: certificate).publicKey
        let key = try rsaEncryption(remote)
        let block = remote.keySizeInBits / 8 - 42
        var out: [UInt8] = []
        do {
            for start in stride(from: 0, to: data.count, by: block) {
                out += try key.encrypt(data[start..<min(data.count, start + block)], padding: .PKCS1_OAEP)
            }
        } catch {
            throw OPCUAError(.security, "cannot encrypt for the server's key: \(error)")
        }
        return out
    }

    private static func rsaEncryption(_ key: _RSA.Signing.PublicKey) throws(OPCUAError) -> _RSA.Encryption.PublicKey {
        do { return try _RSA.Encryption.PublicKey(derRepresentation: key.derRepresentation) } catch {
            throw OPCUAError(.security, "the server's key cannot encrypt: \(error)")
        }
    }

    static func header(_ type: UATCPMessageType, chunk: UInt8 = UInt8(ascii: "F"), size: Int) -> [UInt8] {
        Array(type.rawValue.utf8) + [chunk] + (0..<4).map { UInt8(truncatingIfNeeded: size >> (8 * $0)) }
    }

    /// The padding that makes `length` + padding a multiple of `block`: N+1 bytes of value N (Part 6 §6.7.2.5).
    static func padding(length: Int, block: Int, wide: Bool) -> [UInt8] {
        let extra = wide ? 2 : 1
        let remainder = (length + extra) % block
        let size = remainder == 0 ? 0 : block - remainder
        return [UInt8](repeating: UInt8(size & 0xFF), count: size + 1) + (wide ? [UInt8(size >> 8)] : [])
    }

    /// `content` without its padding, checked.
    static func unpad(_ content: [UInt8], wide: Bool) throws(OPCUAError) -> [UInt8] {
        guard let last = content.last else { throw OPCUAError(.security, "no padding") }
        let size = wide ? Int(last) << 8 | Int(content[content.count - 2]) : Int(last)
        let total = size + (wide ? 2 : 1)
        guard total <= content.count, content[(content.count - total)..<(content.count - (wide ? 1 : 0))].allSatisfy({ $0 == UInt8(size & 0xFF) }) else {
            throw OPCUAError(.security, "a message with bad padding")
        }
        return Array(content.dropLast(total))
    }
}
