public import GembaCore
public import Hummingbird
public import HummingbirdWebSocket
public import NIOCore

/// The per-request context of every Gemba route: Hummingbird's core storage, the WebSocket
/// upgrade slot, and the tenant the request acts for.
public struct GembaRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let remoteAddress: SocketAddress?
    /// Who is calling, once the access middleware has authenticated the request (nil on open routes).
    public var caller: Caller?
    /// When the caller's access token expires (users only): the live stream ends then.
    public var credentialExpiry: Timestamp?
    /// The request's correlation id (`X-Request-ID`, or generated), in logs and the audit log.
    public var requestID = ""
    /// The client's IP address (the TCP peer; proxies' forwarding headers are not trusted).
    public var clientIP: String { remoteAddress?.ipAddress ?? "unknown" }
    /// The tenant every query and write of this request is scoped to: the caller's.
    public var tenant: TenantID { caller?.tenant ?? .default }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
    }

    /// Ingest bodies may be larger than Hummingbird's 2 MB default; routes enforce their own limits.
    public var maxUploadSize: Int { 64 << 20 }
}
