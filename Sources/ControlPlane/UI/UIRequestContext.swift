public import ControlPlaneStorage
public import Hummingbird

/// The request context of the web UI's routes: the control plane's context plus the signed-in session and the
/// submitted form, both set by `UISessionMiddleware`.
public struct UIRequestContext: ChildRequestContext {
    public typealias ParentContext = ControlPlaneRequestContext

    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address, for the failed sign-in limit; nil for in-process test requests.
    public let clientAddress: String?
    /// The live session; set on every route behind `UISessionMiddleware`.
    public var session: SessionRecord?
    /// A POST's fields, parsed once by the middleware that checked its CSRF token.
    public var form = FormFields()

    public init(context: ControlPlaneRequestContext) throws {
        coreContext = context.coreContext
        clientAddress = context.clientAddress
    }

    /// UI forms are small; nothing larger is read.
    public var maxUploadSize: Int { FormFields.maximumBytes }

    /// The session of a route behind `UISessionMiddleware`.
    func requireSession() throws -> SessionRecord {
        guard let session else { throw APIError.unauthorized("sign in first") }
        return session
    }
}
