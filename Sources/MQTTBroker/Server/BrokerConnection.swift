import CEpoll
import Glibc
import Logging
import MQTTCodec
import NIOCore

/// One client connection on the ``BrokerLoop``: its socket, the packets cut from what it sends, and
/// what the runtime writes to it.
///
/// Before CONNECT it stops reading while the authenticator decides; after CONNECT it forwards every
/// packet to the runtime. Decoding errors become a reason-coded disconnect for this client alone.
/// Output is written at once; what the socket does not take waits for `EPOLLOUT`, and past
/// ``highWaterMark`` the connection counts as not writable (QoS 0 messages to it are then dropped).
///
/// The runtime's per-connection state lives here too, so a connection costs one small object: an
/// idle device holds no read buffer, only the start of a packet not read whole yet.
final class BrokerConnection: LoopSource {
    /// Bytes waiting to be written past which the connection is not writable.
    static let highWaterMark = 1 << 20

    private enum Stage { case awaitingConnect, authenticating([Packet]), connected, closed }

    // The runtime's state.
    /// Given by ``BrokerRuntime/register(_:)`` when the connection is accepted.
    var id = ConnectionID(0)
    /// The protocol version the CONNECT named; nil until then (nothing is written before).
    var version: ProtocolVersion?
    /// Bytes encoded for the next flush.
    var pending: ByteBuffer?
    var closing = false
    /// Acknowledgements held for the receiver or a save; created on first use.
    var acks: AckQueue?

    // The connection's own.
    private let runtime: BrokerRuntime
    /// The socket; -1 once closed.
    private var socket: Int32
    private var stage = Stage.awaitingConnect
    private var decoder: PacketDecoder
    /// The start of a packet whose rest has not arrived yet; nil between packets.
    private var partial: ByteBuffer?
    /// What the socket did not take yet; nil when all is written.
    private var unwritten: ByteBuffer?
    private var reading = true
    /// Where the client connects from, when the socket's peer is not it (a TLS connection's relay).
    private let relayedFrom: String?

    private var loop: BrokerLoop { runtime.loop }
    private var logger: Logger { runtime.logger }

    /// Takes over `socket` (non-blocking, connected) and starts reading from it.
    init(socket: Int32, runtime: BrokerRuntime, relayedFrom: String? = nil) {
        self.socket = socket
        self.runtime = runtime
        self.relayedFrom = relayedFrom
        self.decoder = PacketDecoder(maximumPacketSize: runtime.maximumPacketSize)
        runtime.register(self)
        loop.watch(socket, events: EPOLLIN.rawValue, self)
    }

    // MARK: Reading

    func ready(_ events: UInt32) {
        let hungUp = events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
        if events & EPOLLOUT.rawValue != 0 { writeUnwritten() }
        // After a hang-up, what the peer sent before still counts (a DISCONNECT that clears its will).
        if events & EPOLLIN.rawValue != 0 || hungUp, reading, socket >= 0 { read() }
        if hungUp { shutDown() }
    }

    private func read() {
        let count = Glibc.read(socket, loop.readBuffer.baseAddress, loop.readBuffer.count)
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }  // nothing now; the next wake-up reads
        guard count > 0 else { return shutDown() }  // the peer closed, or the socket failed
        var bytes = partial ?? runtime.allocator.buffer(capacity: count)
        partial = nil
        bytes.writeBytes(UnsafeRawBufferPointer(rebasing: loop.readBuffer[..<count]))
        do {
            while !isClosed, let packet = try decoder.next(from: &bytes) {
                handle(packet)
            }
        } catch {
            return decodingFailed(error)
        }
        if bytes.readableBytes > 0 && !isClosed {
            bytes.discardReadBytes()
            partial = bytes
        }
        runtime.readComplete(from: id)
    }

    private var isClosed: Bool { if case .closed = stage { true } else { false } }

    private func handle(_ packet: Packet) {
        switch stage {
        case .connected:
            runtime.receive(packet, from: id)
        case .authenticating(var held):
            held.append(packet)
            stage = .authenticating(held)
        case .awaitingConnect:
            guard case .connect(let connect) = packet else { return shutDown() }
            startAuthentication(connect)
        case .closed:
            break
        }
    }

    private func startAuthentication(_ connect: Connect) {
        runtime.setVersion(connect.protocolVersion, for: id)
        stage = .authenticating([])
        setReading(false)
        let request = AuthenticationRequest(clientID: connect.clientID, username: connect.username,
                                            password: connect.password, remoteAddress: relayedFrom ?? peerAddress())
        let authenticator = runtime.authenticator
        let promise = loop.makePromise(of: Result<Principal, AuthenticationFailure>.self)
        promise.completeWithTask { await authenticator.authenticate(request) }
        let loopBound = NIOLoopBound(self, eventLoop: loop)
        promise.futureResult.whenSuccess { result in
            loopBound.value.authenticated(connect, result: result)
        }
    }

    private func authenticated(_ connect: Connect, result: Result<Principal, AuthenticationFailure>) {
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

    /// The socket's peer as SwiftNIO describes addresses, for the authenticator's log and audit.
    private func peerAddress() -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(socket, $0, &length) == 0 }
        }
        guard found else { return nil }
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: &storage) { raw -> String? in
            switch family {
            case AF_INET: SocketAddress(raw.load(as: sockaddr_in.self)).description
            case AF_INET6: SocketAddress(raw.load(as: sockaddr_in6.self)).description
            default: nil
            }
        }
    }

    // MARK: Writing and closing (the runtime's side)

    /// Whether the connection takes more bytes without passing the high-water mark.
    var isWritable: Bool { socket >= 0 && (unwritten?.readableBytes ?? 0) < Self.highWaterMark }

    /// Writes `bytes` now, as far as the socket takes them; the rest waits for the socket to drain.
    func send(_ bytes: ByteBuffer) {
        guard socket >= 0 else { return }
        guard unwritten == nil else {
            var bytes = bytes
            unwritten!.writeBuffer(&bytes)
            return
        }
        var rest = bytes
        guard write(&rest) else { return shutDown() }
        if rest.readableBytes > 0 {
            unwritten = rest
            updateInterest()
        }
    }

    /// Closes the connection after writing what waits, as far as the socket takes it now: a client
    /// that stopped reading does not keep its connection open.
    func close() {
        guard socket >= 0 else { return }
        if var rest = unwritten { _ = write(&rest) }
        shutDown()
    }

    /// Starts or stops reading from the connection.
    func setReading(_ on: Bool) {
        guard socket >= 0, reading != on else { return }
        reading = on
        updateInterest()
    }

    private func writeUnwritten() {
        guard var rest = unwritten else { return }
        guard write(&rest) else { return shutDown() }
        if rest.readableBytes > 0 {
            unwritten = rest
            return
        }
        unwritten = nil
        updateInterest()
    }

    /// Writes as much of `bytes` as the socket takes, moving its reader index; false if the socket failed.
    private func write(_ bytes: inout ByteBuffer) -> Bool {
        while bytes.readableBytes > 0 {
            let written = bytes.withUnsafeReadableBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                return errno == EAGAIN
            }
            bytes.moveReaderIndex(forwardBy: written)
        }
        return true
    }

    private func updateInterest() {
        let events = (reading ? EPOLLIN.rawValue : 0) | (unwritten == nil ? 0 : EPOLLOUT.rawValue)
        loop.change(socket, events: events)
    }

    /// Closes the socket now and tells the runtime once this loop iteration's work is done.
    private func shutDown() {
        guard socket >= 0 else { return }
        loop.forget(socket)
        Glibc.close(socket)
        socket = -1
        stage = .closed
        partial = nil
        unwritten = nil
        let runtime = self.runtime
        let id = self.id
        loop.execute { runtime.closed(id) }
    }
}
