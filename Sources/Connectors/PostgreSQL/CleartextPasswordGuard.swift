internal import NIOCore
internal import Synchronization

/// Watches a PostgreSQL connection until it is authenticated and closes it, before the client can answer, when the
/// server asks for the password in cleartext (`AuthenticationCleartextPassword`) over an unencrypted connection.
///
/// It sits first in the pipeline, so it sees the bytes as the server sent them. With `expectsSSLResponse` the first
/// byte is the answer to the client's SSLRequest: `S` means TLS follows, so nothing more is unencrypted and the
/// guard steps aside; anything else means the connection stays plain and the guard reads on. It forwards whole
/// messages only, so the client never sees a message the guard has not judged, and steps aside once
/// `AuthenticationOk` has passed.
final class CleartextPasswordGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Records a refused cleartext password request, so the connect error can say why.
    let refusal: Refusal
    private var awaitingSSLResponse: Bool
    private var pending: ByteBuffer?

    /// Whether the guard refused the server's request for a cleartext password.
    final class Refusal: Sendable {
        private let state = Mutex(false)
        var happened: Bool { state.withLock { $0 } }
        fileprivate func record() { state.withLock { $0 = true } }
    }

    init(expectsSSLResponse: Bool, refusal: Refusal) {
        self.awaitingSSLResponse = expectsSSLResponse
        self.refusal = refusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if awaitingSSLResponse {
            guard let answer = bytes.readSlice(length: 1) else { return }
            awaitingSSLResponse = false
            context.fireChannelRead(wrapInboundOut(answer))
            if answer.getInteger(at: answer.readerIndex, as: UInt8.self) == UInt8(ascii: "S") {
                stepAside(context: context, forwarding: bytes)
                return
            }
        }
        if var pending {
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        pending = nil
        while bytes.readableBytes >= 5 {
            let start = bytes.readerIndex
            let type = bytes.getInteger(at: start, as: UInt8.self)
            let length = Int(bytes.getInteger(at: start + 1, as: Int32.self) ?? 0)
            if type == UInt8(ascii: "R") {
                guard bytes.readableBytes >= 9 else { break }
                switch bytes.getInteger(at: start + 5, as: Int32.self) {
                case 3:
                    refusal.record()
                    context.close(promise: nil)
                    return
                case 0:
                    stepAside(context: context, forwarding: bytes)
                    return
                default:
                    break
                }
            }
            guard length >= 4 else {
                // Not a message: the client will say so.
                stepAside(context: context, forwarding: bytes)
                return
            }
            guard bytes.readableBytes >= 1 + length, let message = bytes.readSlice(length: 1 + length) else { break }
            context.fireChannelRead(wrapInboundOut(message))
        }
        if bytes.readableBytes > 0 { pending = bytes }
    }

    private func stepAside(context: ChannelHandlerContext, forwarding rest: ByteBuffer) {
        if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
