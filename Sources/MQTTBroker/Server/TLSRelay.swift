import Glibc
import NIOCore
import NIOPosix
import NIOSSL

/// The broker's TLS listener. SwiftNIO terminates TLS (NIOSSL needs its pipeline) and relays the
/// plaintext through a socket pair: one end is a SwiftNIO channel glued to the TLS channel, the other
/// a ``BrokerConnection`` on the ``BrokerLoop`` like any plain-TCP connection. TLS connections pay
/// one more copy per direction; plain ones pay nothing for TLS existing.
enum TLSRelay {
    /// Binds `host:port` with `context`; returns the listening channel.
    static func bind(host: String, port: Int, context: NIOSSLContext, runtime: BrokerRuntime) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handlers = channel.pipeline.syncOperations
                    try handlers.addHandler(NIOSSLServerHandler(context: context))
                    try handlers.addHandler(RelayHandler(runtime: runtime))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

/// Joins a TLS channel and its socket pair's SwiftNIO end: what one reads, the other writes. It reads
/// only while its partner is writable, so a slow side pushes back on the other.
private final class RelayHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: BrokerRuntime?
    private var context: ChannelHandlerContext?
    private var partner: RelayHandler?
    /// What the TLS side read before its partner was there.
    private var early: [ByteBuffer] = []
    private var readHeld = false

    /// The TLS side, which makes the socket pair when its channel becomes active.
    init(runtime: BrokerRuntime) { self.runtime = runtime }
    /// The socket pair's side.
    private init(partner: RelayHandler) {
        self.runtime = nil
        self.partner = partner
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let runtime else {
            partner?.attach(self)
            return
        }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            runtime.logger.error("no socket pair for a TLS connection; closing it", metadata: ["error": "\(errno)"])
            context.close(promise: nil)
            return
        }
        let brokerEnd = pair[0]
        let remote = context.channel.remoteAddress?.description
        runtime.loop.execute { _ = BrokerConnection(socket: brokerEnd, runtime: runtime, relayedFrom: remote) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RelayHandler(partner: loopBound.value.0))
                }
            }
            .withConnectedSocket(pair[1])
            .whenComplete { result in
                let context = loopBound.value.1
                if case .failure = result { context.close(promise: nil) }
            }
    }

    /// The socket pair's side is in place: what the TLS side read meanwhile goes to it. If the TLS
    /// connection closed meanwhile, the pair closes too (the broker then sees its connection end).
    private func attach(_ partner: RelayHandler) {
        guard context != nil else {
            partner.context?.close(promise: nil)
            return
        }
        self.partner = partner
        for bytes in early { partner.partnerWrite(bytes) }
        early = []
        partner.partnerFlush()
        if readHeld {
            readHeld = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        if let partner { partner.partnerWrite(bytes) } else { early.append(bytes) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let partner, partner.readHeld {
            partner.readHeld = false
            partner.context?.read()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Reads on only while the partner takes more (or, before it is there, to finish the handshake).
    func read(context: ChannelHandlerContext) {
        if let partner, partner.context?.channel.isWritable == false {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func partnerWrite(_ bytes: ByteBuffer) { context?.write(wrapOutboundOut(bytes), promise: nil) }
    private func partnerFlush() { context?.flush() }
}
