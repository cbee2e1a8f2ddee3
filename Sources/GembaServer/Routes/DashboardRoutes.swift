internal import Hummingbird
internal import NIOCore

/// The web dashboard: `GET /` (the page) and `GET /assets/{file}` (ES modules and CSS), served
/// from the binary (see `scripts/generate-dashboard.sh`). Open: the files hold no data; every
/// call they make to the API carries the user's token.
struct DashboardRoutes {
    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/", .open, group: "Operations", summary: "The web dashboard",
                     responses: [Reply(200, "The page", content: ("text/html", .string))]) { _, _ in try Self.file("index.html") },
            Endpoint(.get, "/assets/{file}", .open, group: "Operations", summary: "The dashboard's scripts, styles and icon",
                     parameters: [.path("file", "A file name such as app.js")],
                     responses: [Reply(200, "The file", content: ("text/javascript", .string), ("text/css", .string),
                                   ("image/svg+xml", .string), ("text/html", .string)), .problem(404, "No such file")]) { _, context in
                try Self.file(try context.parameters.require("file"))
            },
        ]
    }

    static func file(_ name: String) throws -> Response {
        guard let file = DashboardAssets.files[name] else { throw Problem.notFound("no file \(name)") }
        return Response(status: .ok, headers: [.contentType: file.contentType, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(string: file.body)))
    }
}
