import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1
import X509

/// This application's instance certificate and its private key (Part 4 §6.1).
public struct LocalIdentity: Sendable {
    public let certificate: [UInt8]
    let key: _RSA.Signing.PrivateKey
    public let applicationURI: String

    /// A new self-signed RSA 2048 certificate naming `applicationURI` in its subjectAltName, valid five years.
    public static func generate(applicationURI: String, name: String, hostname: String) throws -> LocalIdentity {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let subject = try DistinguishedName {
            CommonName(name)
            OrganizationName("Gemba")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3_600, notValidAfter: now + 5 * 365 * 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, nonRepudiation: true, keyEncipherment: true, dataEncipherment: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.uniformResourceIdentifier(applicationURI), .dnsName(hostname)])
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return LocalIdentity(certificate: serializer.serializedBytes, key: key, applicationURI: applicationURI)
    }

    /// SHA-1 of the certificate, upper-case hex.
    public var thumbprint: String { CertificateInfo.thumbprint(of: certificate) }

    /// The key in PEM, for storing.
    var keyPEM: String { key.pemRepresentation }

    init(certificate: [UInt8], key: _RSA.Signing.PrivateKey, applicationURI: String) {
        self.certificate = certificate
        self.key = key
        self.applicationURI = applicationURI
    }

    init(certificate: [UInt8], keyPEM: String) throws {
        let info = try CertificateInfo(der: certificate)
        self.init(certificate: certificate, key: try _RSA.Signing.PrivateKey(pemRepresentation: keyPEM), applicationURI: info.applicationURI ?? "")
    }
}

/// What the client needs of a certificate: its RSA key, thumbprint, validity and names.
struct CertificateInfo: Sendable {
    let publicKey: _RSA.Signing.PublicKey
    /// SHA-1 of the DER, upper-case hex: how OPC UA tools name a certificate.
    let thumbprint: String
    let notValidBefore: Date
    let notValidAfter: Date
    let subject: String
    let applicationURI: String?

    /// SHA-1 of a certificate's DER, upper-case hex: how OPC UA tools name a certificate.
    static func thumbprint(of der: [UInt8]) -> String { Insecure.SHA1.hash(data: der).map { String(format: "%02X", $0) }.joined() }

    init(der: [UInt8]) throws(OPCUAError) {
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: der) } catch {
            throw OPCUAError(.security, "the server's certificate cannot be read: \(error)")
        }
        guard let key = _RSA.Signing.PublicKey(certificate.publicKey) else { throw OPCUAError(.security, "the server's certificate has no RSA key") }
        publicKey = key
        thumbprint = Self.thumbprint(of: der)
        notValidBefore = certificate.notValidBefore
        notValidAfter = certificate.notValidAfter
        subject = "\(certificate.subject)"
        let names = try? certificate.extensions.subjectAlternativeNames
        applicationURI = names?.lazy.compactMap { name -> String? in
            if case .uniformResourceIdentifier(let uri) = name { return uri }
            return nil
        }.first
    }
}

/// The client's PKI directory: its own certificate and key (`own/`), the server certificates it
/// trusts (`trusted/`) and those it refused (`rejected/`, where an engineer finds them to trust).
public struct CertificateStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    private var own: URL { URL(fileURLWithPath: directory).appendingPathComponent("own") }
    var trusted: URL { URL(fileURLWithPath: directory).appendingPathComponent("trusted") }
    var rejected: URL { URL(fileURLWithPath: directory).appendingPathComponent("rejected") }

    /// The application instance certificate, made on first use (key readable by its owner only).
    public func identity(applicationURI: String, name: String) throws -> LocalIdentity {
        let files = FileManager.default
        let certificateURL = own.appendingPathComponent("certificate.der")
        let keyURL = own.appendingPathComponent("private").appendingPathComponent("key.pem")
        for folder in [trusted, rejected, keyURL.deletingLastPathComponent()] {
            try files.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        if let certificate = try? Data(contentsOf: certificateURL), let pem = try? String(contentsOf: keyURL, encoding: .utf8) {
            return try LocalIdentity(certificate: Array(certificate), keyPEM: pem)
        }
        let identity = try LocalIdentity.generate(applicationURI: applicationURI, name: name, hostname: ProcessInfo.processInfo.hostName)
        guard files.createFile(atPath: keyURL.path, contents: Data(identity.keyPEM.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw OPCUAError(.security, "cannot write the application instance key to \(keyURL.path)")
        }
        try Data(identity.certificate).write(to: certificateURL)
        return identity
    }

    /// Checks a server's certificate: in date, and trusted (in `trusted/`, or pinned by thumbprint).
    /// One that is not is copied to `rejected/` and refused with a message saying how to trust it.
    func check(_ certificate: [UInt8], pinned: String?, now: Date = Date()) throws(OPCUAError) {
        let info = try CertificateInfo(der: certificate)
        guard info.notValidBefore <= now, now <= info.notValidAfter else {
            throw OPCUAError(.security, "the server's certificate \(info.thumbprint) (\(info.subject)) is valid from \(info.notValidBefore) to \(info.notValidAfter), not now")
        }
        if let pinned {
            guard pinned.uppercased().filter(\.isHexDigit) == info.thumbprint else {
                throw OPCUAError(.security, "the server's certificate \(info.thumbprint) is not the pinned \(pinned)")
            }
            return
        }
        let known = (try? FileManager.default.contentsOfDirectory(at: trusted, includingPropertiesForKeys: nil)) ?? []
        if known.contains(where: { (try? Data(contentsOf: $0)).map { Array($0) == certificate } ?? false }) { return }
        let file = rejected.appendingPathComponent("\(info.thumbprint).der")
        for folder in [trusted, rejected] { try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try? Data(certificate).write(to: file)
        throw OPCUAError(.security, "the server's certificate \(info.thumbprint) (\(info.subject)) is not trusted: to trust it, move \(file.path) to \(trusted.path)/")
    }
}

/// A user certificate's RSA key, for the user token signature.
struct UserKey {
    let key: _RSA.Signing.PrivateKey

    init(pem: String) throws { key = try _RSA.Signing.PrivateKey(pemRepresentation: pem) }

    func sign(_ data: [UInt8]) throws -> [UInt8] { try key.opcuaSignature(data) }
}

extension _RSA.Signing.PrivateKey {
    /// RSA-PKCS#1 v1.5 over SHA-256: the asymmetric signature of the policies spoken here.
    func opcuaSignature(_ data: [UInt8]) throws -> [UInt8] {
        Array(try signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
    }
}

/// Certificates as files hold them.
public enum CertificateFile {
    /// The DER of a certificate given as DER or as PEM.
    public static func der(_ bytes: [UInt8]) throws -> [UInt8] {
        guard let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") else { return bytes }
        return try PEMDocument(pemString: text).derBytes
    }
}
