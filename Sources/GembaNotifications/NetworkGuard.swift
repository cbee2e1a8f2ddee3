internal import Foundation
#if canImport(Glibc)
internal import Glibc
#endif

/// Refuses webhook targets in loopback, private, link-local and other non-public ranges (SSRF),
/// unless the server was told to allow them. Checked when a channel is saved and before each delivery.
public struct NetworkGuard: Sendable {
    public var allowPrivateNetworks: Bool

    public init(allowPrivateNetworks: Bool) { self.allowPrivateNetworks = allowPrivateNetworks }

    /// Nil when `host` may be called; else why not.
    public func refusal(host: String) async -> String? {
        guard !allowPrivateNetworks else { return nil }
        let addresses = await Self.resolve(host)
        guard !addresses.isEmpty else { return "\(host) does not resolve" }
        if let address = addresses.first(where: Self.isPrivate) {
            return "\(host) is in a private or loopback range (\(address)); the server does not call such addresses"
        }
        return nil
    }

    /// Whether a numeric address is loopback, private, link-local, shared, unspecified or multicast.
    static func isPrivate(_ address: String) -> Bool {
        let lower = address.lowercased()
        if let mapped = lower.range(of: "::ffff:"), lower.hasPrefix("::ffff:") { return isPrivate(String(lower[mapped.upperBound...])) }
        if lower.contains(":") {
            return lower == "::1" || lower == "::" || lower.hasPrefix("fc") || lower.hasPrefix("fd") || lower.hasPrefix("fe8")
                || lower.hasPrefix("fe9") || lower.hasPrefix("fea") || lower.hasPrefix("feb") || lower.hasPrefix("ff")
        }
        let parts = lower.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return true }
        switch (parts[0], parts[1]) {
        case (0, _), (10, _), (127, _), (169, 254), (192, 168): return true
        case (172, 16...31), (100, 64...127): return true
        case (224...255, _): return true
        default: return false
        }
    }

    /// The host's addresses (getaddrinfo, off the cooperative pool).
    static func resolve(_ host: String) async -> [String] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0 else { return continuation.resume(returning: []) }
                defer { freeaddrinfo(result) }
                var addresses: [String] = []
                var cursor = result
                while let entry = cursor {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                        addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                    }
                    cursor = entry.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}
