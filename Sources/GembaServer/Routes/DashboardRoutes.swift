internal import Hummingbird
internal import NIOCore

/// The web dashboard: `GET /` (the page) and `GET /assets/{file}` (ES modules and CSS), served
/// from the binary (see `scripts/generate-dashboard.sh`). Open: the files hold no data; every
/// call they make to the API carries the user's token.
struct DashboardRoutes {
    func register(on router: Router<GembaRequestContext>) {
        router.get("/") { _, _ in try Self.file("index.html") }
        router.get("/assets/{file}") { _, context in try Self.file(try context.parameters.require("file")) }
    }

    static func file(_ name: String) throws -> Response {
        guard let file = DashboardAssets.files[name] else { throw Problem.notFound("no file \(name)") }
        return Response(status: .ok, headers: [.contentType: file.contentType, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(string: file.body)))
    }
}
