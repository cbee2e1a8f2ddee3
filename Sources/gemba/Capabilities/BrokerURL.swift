import Foundation
import MQTTClient
import NIOSSL

/// Reads the broker addresses of `--mqtt-upstream`, `--sparkplug-upstream`, `gemba edge --broker` and `gemba simulate --mqtt`.
enum BrokerURL {
    /// Parses `mqtt://[user:pass@]host[:port]` (or `mqtts://`, port 8883 by default).
    static func parse(_ text: String, source: String) throws -> MQTTClientConfiguration {
        guard let configuration = MQTTClientConfiguration(brokerURL: text) else {
            throw ConfigurationError("\(source) must look like mqtt://[user:pass@]host[:port], got '\(text)'")
        }
        return configuration
    }
}

/// Loads the server certificates of `--mqtt-tls-*` and `--http-tls-*`.
enum ServerTLS {
    /// A server TLS configuration from a PEM certificate chain and key, both or neither.
    static func load(cert: (value: String, source: String)?, key: (value: String, source: String)?,
                     what: String) throws -> TLSConfiguration? {
        switch (cert, key) {
        case (nil, nil): return nil
        case (let cert?, let key?):
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(cert.value).map { NIOSSLCertificateSource.certificate($0) }
                let privateKey = try NIOSSLPrivateKey(file: key.value, format: .pem)
                return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            } catch {
                throw ConfigurationError("cannot load TLS certificate \(cert.value) / key \(key.value): \(error)")
            }
        default:
            throw ConfigurationError("\(what)-cert and \(what)-key must be given together")
        }
    }
}
