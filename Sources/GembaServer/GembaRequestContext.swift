public import GembaCore
public import Hummingbird
public import HummingbirdWebSocket

/// The per-request context of every Gemba route: Hummingbird's core storage, the WebSocket
/// upgrade slot, and the tenant the request acts for.
public struct GembaRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    /// The tenant every query and write of this request is scoped to.
    public var tenant: TenantID = .default

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
    }

    /// Ingest bodies may be larger than Hummingbird's 2 MB default; routes enforce their own limits.
    public var maxUploadSize: Int { 64 << 20 }
}
