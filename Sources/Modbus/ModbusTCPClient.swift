public import NIOCore
public import NIOPosix

/// A Modbus TCP client on one connection: requests go out as they are asked (several may be in
/// flight; a device that answers one at a time is paced by its caller), each answered or failed
/// with a timeout of its own. A malformed frame closes the connection and fails what was in
/// flight: after it, the stream cannot be trusted to find the next frame.
public final class ModbusTCPClient: Sendable {
    private let channel: any Channel
    private let timeout: TimeAmount

    private init(channel: any Channel, timeout: TimeAmount) {
        self.channel = channel
        self.timeout = timeout
    }

    /// Connects to `host:port` (502 is Modbus's port) within `timeout`, which also bounds every request.
    public static func connect(host: String, port: Int = 502, timeout: TimeAmount = .seconds(2),
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws(ModbusError) -> ModbusTCPClient {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ModbusClientHandler(timeout: timeout)) }
            }
        do {
            return ModbusTCPClient(channel: try await bootstrap.connect(host: host, port: port).get(), timeout: timeout)
        } catch {
            let reason = (error as? NIOConnectionError).map { "\($0.connectionErrors.first?.error ?? $0)" } ?? "\(error)"
            throw .disconnected("cannot connect to \(host):\(port): \(reason)")
        }
    }

    /// Sends `request` to `unit` (1–247 on a gateway; 255 or 0 often for a device of its own) and awaits the answer.
    public func send(_ request: ModbusRequest, unit: UInt8 = 1) async throws(ModbusError) -> ModbusResponse {
        try request.validate()
        let promise = channel.eventLoop.makePromise(of: ModbusResponse.self)
        channel.writeAndFlush(ModbusCall(request: request, unit: unit, promise: promise)).whenFailure { error in
            promise.fail(ModbusError.disconnected(error as? ChannelError == .ioOnClosedChannel ? "the connection closed" : "\(error)"))
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as ModbusError {
            throw error
        } catch {
            throw .disconnected("\(error)")
        }
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    public func close() async {
        try? await channel.close()
    }
}

/// A request on its way to the handler, with the promise of its answer.
struct ModbusCall: Sendable {
    var request: ModbusRequest
    var unit: UInt8
    var promise: EventLoopPromise<ModbusResponse>
}

/// Runs `ModbusTransactions` on the event loop: frames out, frames in, timeouts armed per request.
final class ModbusClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ModbusCall
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var transactions = ModbusTransactions()
    private var decoder = ModbusFrameDecoder()
    private var waiting: [UInt16: (promise: EventLoopPromise<ModbusResponse>, timer: Scheduled<Void>)] = [:]

    init(timeout: TimeAmount) { self.timeout = timeout }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        let frame: ModbusFrame
        do { frame = try transactions.start(call.request, unit: call.unit) } catch {
            call.promise.fail(error)
            promise?.succeed()
            return
        }
        let id = frame.transaction
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.expire(id) }
        waiting[id] = (call.promise, timer)
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame.encoded)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        decoder.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
        do {
            while let frame = try decoder.next() {
                // An answer nobody awaits (its request timed out) is dropped.
                guard let (id, result) = transactions.receive(frame), let entry = waiting.removeValue(forKey: id) else { continue }
                entry.timer.cancel()
                entry.promise.completeWith(result.mapError { $0 as any Error })
            }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.disconnected("the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.disconnected("\(error)"))
        context.close(promise: nil)
    }

    private func expire(_ id: UInt16) {
        guard transactions.abandon(id), let entry = waiting.removeValue(forKey: id) else { return }
        entry.promise.fail(ModbusError.timeout)
    }

    private func failAll(_ error: ModbusError) {
        transactions.abandonAll()
        let entries = waiting
        waiting.removeAll()
        for entry in entries.values {
            entry.timer.cancel()
            entry.promise.fail(error)
        }
    }
}
