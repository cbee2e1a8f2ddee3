internal import Foundation
internal import NIOCore
internal import NIOPosix
internal import NIOSSL

/// Sends one message per connection over SwiftNIO: the ``SMTPConversation`` decides, this shell
/// reads lines, writes commands and starts TLS in the pipeline when told to.
struct SMTPClient {
    var settings: SMTPSettings
    var password: String?
    var timeout: TimeAmount

    func send(_ message: EmailMessage) async throws(SMTPError) {
        let credentials = settings.username.map { SMTPConversation.Credentials(username: $0, password: password ?? "") }
        let conversation = SMTPConversation(security: settings.security, credentials: credentials, from: settings.from, recipients: message.to)
        let tls: NIOSSLContext
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let pem = settings.caCertificate {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            }
            tls = try NIOSSLContext(configuration: configuration)
        } catch {
            throw SMTPError(message: "the channel's TLS settings are not usable: \(error)", permanent: true)
        }
        let host = settings.host
        let implicitTLS = settings.security == .tls
        let done = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: host))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPHandler(conversation: conversation, data: SMTPConversation.dotStuffed(message.rendered), tls: tls, host: host, done: done))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: settings.host, port: settings.port).get()
        } catch {
            let failure = SMTPError(message: "could not connect to \(settings.host):\(settings.port): \(error)", permanent: false)
            done.fail(failure)  // a promise must be completed, even one nobody waits for
            throw failure
        }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            done.fail(SMTPError(message: "the SMTP server did not finish within \(timeout.nanoseconds / 1_000_000_000) s", permanent: false))
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            try await done.futureResult.get()
        } catch let error as SMTPError {
            throw error
        } catch {
            throw SMTPError(message: "the SMTP connection failed: \(error)", permanent: false)
        }
    }
}

/// Frames replies out of the byte stream and carries out the conversation's actions.
private final class SMTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var conversation: SMTPConversation
    private var parser = SMTPReplyParser()
    private var buffer = ByteBuffer()
    private let data: String
    private let tls: NIOSSLContext
    private let host: String
    private let done: EventLoopPromise<Void>

    init(conversation: SMTPConversation, data: String, tls: NIOSSLContext, host: String, done: EventLoopPromise<Void>) {
        self.conversation = conversation
        self.data = data
        self.tls = tls
        self.host = host
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        guard buffer.readableBytes <= 64 << 10 else { return fail(context, SMTPError(message: "the server sent a line over 64 KiB", permanent: false)) }
        do {
            while let line = nextLine() {
                guard let reply = try parser.feed(line) else { continue }
                try act(on: try conversation.receive(reply), context: context)
            }
        } catch let error as SMTPError {
            fail(context, error)
        } catch {
            fail(context, SMTPError(message: "\(error)", permanent: false))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if conversation.delivered { done.succeed() } else {
            done.fail(SMTPError(message: "the SMTP server closed the connection", permanent: false))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, SMTPError(message: "\(error)", permanent: false))
    }

    private func act(on action: SMTPConversation.Action, context: ChannelHandlerContext) throws {
        switch action {
        case .send(let line): write(line + "\r\n", context: context)
        case .sendData: write(data, context: context)
        case .done:
            done.succeed()
            context.close(promise: nil)
        case .startTLS:
            // Bytes that arrived with the 220 before TLS would be an injection (CVE-2011-0411 and kin).
            guard buffer.readableBytes == 0 else {
                throw SMTPError(message: "the server sent data after its STARTTLS answer", permanent: false)
            }
            let handler = try NIOSSLClientHandler(context: tls, serverHostname: host)
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            try act(on: conversation.tlsStarted(), context: context)
        }
    }

    private func write(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    private func nextLine() -> String? {
        guard let view = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let length = view - buffer.readerIndex
        var line = buffer.readString(length: length) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }

    private func fail(_ context: ChannelHandlerContext, _ error: SMTPError) {
        done.fail(error)
        context.close(promise: nil)
    }
}
