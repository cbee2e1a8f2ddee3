public import NIOCore
public import NIOPosix
import Synchronization

/// An `opc.tcp://host:port/path` endpoint URL, parsed.
public struct EndpointURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var text: String

    public init(parsing text: String) throws(OPCUAError) {
        guard text.hasPrefix("opc.tcp://") else { throw OPCUAError(.invalidRequest, "an OPC UA endpoint starts with opc.tcp://, not \(text)") }
        let rest = text.dropFirst("opc.tcp://".count)
        let authority = rest.prefix { $0 != "/" }
        var host = String(authority)
        var port = 4840
        if authority.hasPrefix("[") {  // [IPv6]:port
            guard let close = authority.firstIndex(of: "]") else { throw OPCUAError(.invalidRequest, "an unclosed [ in \(text)") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65_535).contains(number) else { throw OPCUAError(.invalidRequest, "a bad port in \(text)") }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(number) else {
                throw OPCUAError(.invalidRequest, "a bad port in \(text)")
            }
            host = String(authority[..<colon])
            port = number
        }
        guard !host.isEmpty else { throw OPCUAError(.invalidRequest, "no host in \(text)") }
        self.host = host
        self.port = port
        self.text = text
    }

    public var description: String { text }
}

/// One UA-TCP connection with its secure channel: Hello, OpenSecureChannel,
/// service calls matched to their answers by request id (several in flight, each with its own
/// timeout), the channel token renewed at three quarters of its lifetime, CloseSecureChannel at
/// the end. A malformed message closes the connection and fails what was in flight.
public final class UAConnection: Sendable {
    private let channel: any Channel
    private let handles = Mutex<UInt32>(0)
    public let endpoint: EndpointURL

    private init(channel: any Channel, endpoint: EndpointURL) {
        self.channel = channel
        self.endpoint = endpoint
    }

    /// Connects, says Hello and opens the secure channel (policy None), all within `timeout`.
    public static func connect(to endpoint: EndpointURL, limits: UATCPLimits = UATCPLimits(), timeout: TimeAmount = .seconds(5),
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws(OPCUAError) -> UAConnection {
        try await connect(to: endpoint, limits: limits, security: nil, timeout: timeout, group: group)
    }

    /// Connects, says Hello and opens the secure channel under `security` (nil: policy None).
    static func connect(to endpoint: EndpointURL, limits: UATCPLimits = UATCPLimits(), security: ChannelSecurity?, timeout: TimeAmount,
                        lifetime: UInt32 = UAClientHandler.defaultLifetime, group: any EventLoopGroup) async throws(OPCUAError) -> UAConnection {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UAClientHandler(secure: SecureChannel(endpoint: endpoint.text, limits: limits, security: security), lifetime: lifetime))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            let reason = (error as? NIOConnectionError).map { "\($0.connectionErrors.first?.error ?? $0)" } ?? "\(error)"
            throw OPCUAError(.connection, "cannot connect to \(endpoint.host):\(endpoint.port): \(reason)")
        }
        let connection = UAConnection(channel: channel, endpoint: endpoint)
        do {
            try await connection.submit(.hello, timeout: timeout)
            try await connection.submit(.open, timeout: timeout)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// The next request handle (Part 4 §7.32), unique on this connection.
    func nextHandle() -> UInt32 {
        handles.withLock { handle in
            handle = handle == .max ? 1 : handle + 1
            return handle
        }
    }

    /// Sends a service request and awaits its response; a bad service result is thrown.
    public func call<R: ServiceRequest>(_ request: R, authenticationToken: NodeId = .null, timeout: TimeAmount = .seconds(10)) async throws(OPCUAError) -> R.Response {
        let header = RequestHeader(authenticationToken: authenticationToken, timestamp: .now, requestHandle: nextHandle(),
                                   timeoutHint: UInt32(clamping: timeout.nanoseconds / 1_000_000))
        let body = try await submit(.request(encodeRequest(request, header: header)), timeout: timeout)
        return try decodeResponse(R.Response.self, from: body).1
    }

    @discardableResult
    private func submit(_ kind: UACall.Kind, timeout: TimeAmount) async throws(OPCUAError) -> [UInt8] {
        let promise = channel.eventLoop.makePromise(of: [UInt8].self)
        channel.writeAndFlush(UACall(kind: kind, timeout: timeout, promise: promise)).whenFailure { error in
            promise.fail(OPCUAError(.connection, error as? ChannelError == .ioOnClosedChannel ? "the connection closed" : "\(error)"))
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as OPCUAError {
            throw error
        } catch {
            throw OPCUAError(.connection, "\(error)")
        }
    }

    public var isActive: Bool { channel.isActive }

    /// Closes the secure channel (CloseSecureChannel) and the connection.
    public func close() async {
        if channel.isActive { try? await channel.writeAndFlush(UACall(kind: .close, timeout: .seconds(1), promise: nil)).get() }
        try? await channel.close()
    }

    /// Completes when the connection closes, for whoever watches it.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }
}

extension UADateTime {
    /// The current time.
    public static var now: UADateTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UADateTime(ticks: Int64(spec.tv_sec) * 10_000_000 + Int64(spec.tv_nsec) / 100 + unixEpochTicks)
    }
}

/// Work for the handler: the Hello, opening the channel, a request body, or the close.
struct UACall: Sendable {
    enum Kind: Sendable {
        case hello, open, close
        case request([UInt8])
    }

    var kind: Kind
    var timeout: TimeAmount
    var promise: EventLoopPromise<[UInt8]>?
}

/// Runs the ``SecureChannel`` on the event loop: frames out and in, a timer per request, renewal.
final class UAClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = UACall
    typealias OutboundOut = ByteBuffer

    /// Lifetime asked for the channel's tokens by default, ms.
    static let defaultLifetime: UInt32 = 3_600_000
    /// Lifetime asked for the channel's tokens, ms: renewed at three quarters of what the server grants.
    private let lifetime: UInt32

    private var secure: SecureChannel
    private var decoder: UATCPFrameDecoder
    private var hello: EventLoopPromise<[UInt8]>?
    private var waiting: [UInt32: (promise: EventLoopPromise<[UInt8]>?, timer: Scheduled<Void>?)] = [:]
    private var renewal: Scheduled<Void>?

    init(secure: SecureChannel, lifetime: UInt32) {
        self.secure = secure
        self.lifetime = lifetime
        decoder = UATCPFrameDecoder(maximumSize: Int(secure.local.receiveBufferSize))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        switch call.kind {
        case .hello:
            hello = call.promise
            send(secure.hello(), context: context, promise: promise)
        case .open:
            open(context: context, promise: call.promise, timeout: call.timeout)
            promise?.succeed()
        case .close:
            guard let (_, frames) = try? secure.chunks(closeSecureChannelBody(now: .now, requestHandle: 0), type: .close) else {
                promise?.succeed()
                return
            }
            for frame in frames { send(frame, context: context, promise: nil) }
            context.flush()
            promise?.succeed()
        case .request(let body):
            do {
                let (requestId, frames) = try secure.chunks(body)
                track(requestId, promise: call.promise, timeout: call.timeout, context: context)
                for frame in frames { send(frame, context: context, promise: nil) }
                promise?.succeed()
            } catch {
                call.promise?.fail(error)
                promise?.succeed()
            }
        }
    }

    private func open(context: ChannelHandlerContext, promise: EventLoopPromise<[UInt8]>?, timeout: TimeAmount) {
        let requestId: UInt32, frame: UATCPFrame
        do { (requestId, frame) = try secure.openRequest(now: .now, requestHandle: 0, lifetime: lifetime) } catch {
            promise?.fail(error)
            failAll(error)
            context.close(promise: nil)
            return
        }
        track(requestId, promise: promise, timeout: timeout, context: context)
        send(frame, context: context, promise: nil)
        context.flush()
    }

    private func track(_ requestId: UInt32, promise: EventLoopPromise<[UInt8]>?, timeout: TimeAmount, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.expire(requestId) }
        waiting[requestId] = (promise, timer)
    }

    private func send(_ frame: UATCPFrame, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame.encoded)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        decoder.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
        do {
            while let frame = try decoder.next() { try handle(try secure.receive(frame), context: context) }
        } catch let error as OPCUAError {
            failAll(error)
            context.close(promise: nil)
        } catch {
            failAll(OPCUAError(.protocolViolation, "\(error)"))
            context.close(promise: nil)
        }
    }

    private func handle(_ event: SecureChannel.Event, context: ChannelHandlerContext) throws {
        switch event {
        case .acknowledged(let limits):
            // Chunks from the server are at most what we said we receive, and at most what it sends.
            decoder.maximumSize = Int(min(secure.local.receiveBufferSize, limits.sendBufferSize))
            hello?.succeed([])
            hello = nil
        case .opened(let requestId, let token):
            complete(requestId, with: .success([]))
            scheduleRenewal(after: token.revisedLifetime, context: context)
        case .response(let requestId, let body):
            complete(requestId, with: .success(body))
        case .aborted(let requestId, let status, let reason):
            complete(requestId, with: .failure(OPCUAError(.service, "the server aborted the response\(reason.isEmpty ? "" : ": \(reason)")", status: status)))
        case .partial:
            return
        }
    }

    private func scheduleRenewal(after lifetime: UInt32, context: ChannelHandlerContext) {
        renewal?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        renewal = context.eventLoop.scheduleTask(in: .milliseconds(Int64(lifetime) * 3 / 4)) {
            let (handler, context) = loopBound.value
            handler.open(context: context, promise: nil, timeout: .seconds(10))
        }
    }

    private func complete(_ requestId: UInt32, with result: Result<[UInt8], OPCUAError>) {
        guard let entry = waiting.removeValue(forKey: requestId) else { return }  // its time ran out: dropped
        entry.timer?.cancel()
        entry.promise?.completeWith(result.mapError { $0 as any Error })
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(OPCUAError(.connection, "the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(OPCUAError(.connection, "\(error)"))
        context.close(promise: nil)
    }

    private func expire(_ requestId: UInt32) {
        guard let entry = waiting.removeValue(forKey: requestId) else { return }
        entry.promise?.fail(OPCUAError(.timeout, "no answer in time", status: .badTimeout))
    }

    private func failAll(_ error: OPCUAError) {
        renewal?.cancel()
        hello?.fail(error)
        hello = nil
        let entries = waiting
        waiting.removeAll()
        for entry in entries.values {
            entry.timer?.cancel()
            entry.promise?.fail(error)
        }
    }
}
