import Logging
import MQTTCodec
import NIOCore

/// One client connection: cuts packets from the bytes read and turns them into broker events. Runs
/// on the broker's event loop.
///
/// Before CONNECT it holds reads while the authenticator decides; after CONNECT it forwards everything
/// to the runtime. Decoding errors become a reason-coded disconnect for this client alone.
///
/// It decodes itself rather than behind a `ByteToMessageHandler`: one handler less per connection
/// (thousands of idle devices hold less memory) and per read.
///
/// It is its connection's ``ConnectionSlot`` too: what the runtime writes to the connection lives in
/// the same object.
final class BrokerConnectionHandler: ConnectionSlot, ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private enum Stage { case awaitingConnect, authenticating([Packet]), connected, closed }

    private let runtime: BrokerRuntime
    private var stage = Stage.awaitingConnect
    private var decoder: PacketDecoder
    /// The start of a packet whose rest has not arrived yet; nil between packets.
    private var partial: ByteBuffer?

    /// The runtime's logger and authenticator are read from it, not copied: a handler per connection stays small.
    private var logger: Logger { runtime.logger }

    init(runtime: BrokerRuntime, maximumPacketSize: Int) {
        self.decoder = PacketDecoder(maximumPacketSize: maximumPacketSize)
        self.runtime = runtime
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Lets go of the context, which holds this handler: the two would otherwise keep each other.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// The runtime closes the connection if no CONNECT comes within its timeout.
    func channelActive(context: ChannelHandlerContext) {
        runtime.register(self)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        if var held = partial {
            partial = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        do {
            while !isClosed, let packet = try decoder.next(from: &bytes) {
                handle(packet, context: context)
            }
        } catch {
            decodingFailed(error)
            return
        }
        if bytes.readableBytes > 0 && !isClosed {
            bytes.discardReadBytes()
            partial = bytes
        }
    }

    private var isClosed: Bool { if case .closed = stage { true } else { false } }

    private func handle(_ packet: Packet, context: ChannelHandlerContext) {
        switch stage {
        case .connected:
            runtime.receive(packet, from: id)
        case .authenticating(var held):
            held.append(packet)
            stage = .authenticating(held)
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                context.close(promise: nil)
                return
            }
            startAuthentication(connect, context: context)
        case .closed:
            break
        }
    }

    private func startAuthentication(_ connect: Connect, context: ChannelHandlerContext) {
        runtime.setVersion(connect.protocolVersion, for: id)
        stage = .authenticating([])
        setReading(false)
        let request = AuthenticationRequest(clientID: connect.clientID, username: connect.username,
                                            password: connect.password,
                                            remoteAddress: context.channel.remoteAddress?.description)
        let authenticator = runtime.authenticator
        let promise = context.eventLoop.makePromise(of: Result<Principal, AuthenticationFailure>.self)
        promise.completeWithTask { await authenticator.authenticate(request) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            handler.authenticated(connect, result: result, context: context)
        }
    }

    private func authenticated(_ connect: Connect, result: Result<Principal, AuthenticationFailure>,
                               context: ChannelHandlerContext) {
        guard case .authenticating(let held) = stage else { return }
        switch result {
        case .failure(let failure):
            logger.info("MQTT connection refused", metadata: [
                "mqtt.connection": "\(id)", "mqtt.client_id": "\(connect.clientID)",
                "mqtt.reason": "\(failure.reasonCode)",
            ])
            stage = .closed
            runtime.refuse(id, code: failure.reasonCode)
        case .success(let principal):
            stage = .connected
            runtime.connect(connect, principal: principal, on: id)
            for packet in held { runtime.receive(packet, from: id) }
            runtime.flush()
            setReading(true)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        runtime.readComplete(from: id)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stage = .closed
        runtime.closed(id)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["mqtt.connection": "\(id)", "error": "\(error)"])
        context.close(promise: nil)
    }

    private func decodingFailed(_ codecError: MQTTCodecError) {
        partial = nil
        switch stage {
        case .awaitingConnect where codecError.code == .unsupportedProtocolVersion:
            // Answer in 3.1.1 framing (return code 1), which every client version can read.
            logger.info("unsupported protocol version", metadata: ["mqtt.connection": "\(id)"])
            runtime.setVersion(.v311, for: id)
            runtime.refuse(id, code: .unsupportedProtocolVersion)
        default:
            runtime.protocolError(id, codecError)
        }
        stage = .closed
    }
}
