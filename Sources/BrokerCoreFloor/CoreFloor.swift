import CEpoll
import Glibc
import MQTTBroker
import MQTTCodec
import NIOCore

/// A failed system call at start-up.
struct SystemCallError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// One client connection: its socket, the bytes of a packet not read whole yet, and what waits to
/// be written.
final class FloorConnection {
    let socket: Int32
    var decoder = PacketDecoder(maximumPacketSize: 1 << 20)
    var partial: ByteBuffer?
    var output: ByteBuffer?
    /// The version its CONNECT named; nothing is written before.
    var version: ProtocolVersion?
    var closing = false

    init(socket: Int32) { self.socket = socket }

    var id: ConnectionID { ConnectionID(Int(socket)) }
}

/// The epoll loop: reads every ready connection, hands its packets to ``BrokerState``, encodes the
/// actions' packets into each connection's output and writes each output once per iteration.
final class CoreFloor {
    /// Reads in an iteration below which the loop waits before polling again.
    static let batch = 16
    /// The core's tick (keep-alive, expiry), as in `gemba serve`.
    static let tickInterval: Int64 = 250

    private let listener: Int32
    private let poller: Int32
    private let wait: UInt32
    private var connections: [FloorConnection?] = Array(repeating: nil, count: 1 << 16)
    private var state = BrokerState(limits: BrokerLimits(), authorizer: AllowAll(), hasReceiver: false)
    private var actions: [BrokerAction] = []
    private var dirty: [FloorConnection] = []
    private let allocator = ByteBufferAllocator()
    private var readBuffer = [UInt8](repeating: 0, count: 1 << 16)

    init(port: UInt16, wait: UInt32) throws {
        signal(SIGPIPE, SIG_IGN)
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        poller = epoll_create1(0)
        self.wait = wait
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SystemCallError(call: "bind", code: errno) }
        guard listen(listener, 1024) == 0 else { throw SystemCallError(call: "listen", code: errno) }
        watch(listener)
    }

    func run() throws {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastTick = Self.now()
        while true {
            let ready = Int(epoll_wait(poller, &events, Int32(events.count), dirty.isEmpty ? 250 : 1))
            if ready < 0 && errno != EINTR { throw SystemCallError(call: "epoll_wait", code: errno) }
            let time = Self.now()
            for event in events.prefix(max(0, ready)) {
                let socket = event.data.fd
                if socket == listener {
                    acceptAll()
                } else if let connection = connections[Int(socket)] {
                    read(connection, now: time)
                }
            }
            flush()
            if time - lastTick >= Self.tickInterval {
                lastTick = time
                state.tick(now: time, into: &actions)
                execute()
            }
            if ready > 0 && ready < Self.batch && wait > 0 { usleep(wait) }
        }
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    private func watch(_ socket: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = socket
        epoll_ctl(poller, EPOLL_CTL_ADD, socket, &event)
    }

    private func acceptAll() {
        var one: Int32 = 1
        while case let socket = accept(listener, nil, nil), socket >= 0 {
            guard Int(socket) < connections.count else {
                close(socket)
                continue
            }
            _ = fcntl(socket, F_SETFL, O_NONBLOCK)
            setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, 4)
            connections[Int(socket)] = FloorConnection(socket: socket)
            watch(socket)
        }
    }

    /// Reads what the connection sent and hands each whole packet to the core.
    private func read(_ connection: FloorConnection, now: Int64) {
        let count = readBuffer.withUnsafeMutableBytes { Glibc.read(connection.socket, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }  // nothing now; the next wake-up reads
        guard count > 0 else { return drop(connection, now: now) }  // the peer closed, or the socket failed
        var bytes = connection.partial ?? allocator.buffer(capacity: count)
        connection.partial = nil
        readBuffer.withUnsafeBytes { bytes.writeBytes(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        do {
            while let packet = try connection.decoder.next(from: &bytes) {
                if case .connect(let connect) = packet {
                    connection.version = connect.protocolVersion
                    state.connect(connect, principal: .anonymous, on: connection.id, now: now, into: &actions)
                } else {
                    state.receive(packet, from: connection.id, now: now, into: &actions)
                }
                execute()
            }
        } catch {
            return drop(connection, now: now)
        }
        if bytes.readableBytes > 0 {
            bytes.discardReadBytes()
            connection.partial = bytes
        }
    }

    private func execute() {
        for action in actions {
            switch action {
            case .send(let id, let packet): write(packet, to: id)
            case .close(let id): connections[id.rawValue].map(closeAfterWriting)
            case .receive, .notice: break
            }
        }
        actions.removeAll(keepingCapacity: true)
    }

    private func write(_ packet: Packet, to id: ConnectionID) {
        guard let connection = connections[id.rawValue], let version = connection.version else { return }
        if connection.output == nil {
            connection.output = allocator.buffer(capacity: 512)
            dirty.append(connection)
        }
        try? packet.encode(into: &connection.output!, version: version)
    }

    private func closeAfterWriting(_ connection: FloorConnection) {
        guard !connection.closing else { return }
        connection.closing = true
        if connection.output == nil {
            connection.output = allocator.buffer(capacity: 0)
            dirty.append(connection)
        }
    }

    /// Writes each connection's output; what the socket does not take waits for the next iteration.
    private func flush() {
        let written = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in written {
            guard var output = connection.output else { continue }
            connection.output = nil
            while output.readableBytes > 0 {
                let count = output.withUnsafeReadableBytes { Glibc.write(connection.socket, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                output.moveReaderIndex(forwardBy: count)
            }
            if output.readableBytes > 0 {
                connection.output = output
                dirty.append(connection)
            } else if connection.closing {
                drop(connection, now: Self.now())
            }
        }
    }

    private func drop(_ connection: FloorConnection, now: Int64) {
        guard connections[Int(connection.socket)] === connection else { return }
        epoll_ctl(poller, EPOLL_CTL_DEL, connection.socket, nil)
        close(connection.socket)
        connections[Int(connection.socket)] = nil
        state.connectionClosed(connection.id, now: now, into: &actions)
        execute()
    }
}
