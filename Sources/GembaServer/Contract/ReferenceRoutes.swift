internal import Hummingbird
internal import NIOCore

/// The API's own description: `/openapi.json` for tools and `/api/docs` for people, both
/// written once at start-up from the endpoint declarations (these two included).
enum ReferenceRoutes {
    static func endpoints(documenting others: [Endpoint]) -> [Endpoint] {
        let declared = { (document: ByteBuffer, page: String) -> [Endpoint] in
            [
                Endpoint(.get, "/openapi.json", .requires(.readData), group: "Operations", summary: "This API as an OpenAPI 3.1 document",
                         responses: [.json(200, "The document", Schema.any.described("An OpenAPI 3.1 document"))]) { _, _ in
                    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: document))
                },
                Endpoint(.get, "/api/docs", .open, group: "Operations", summary: "This API's reference for people (HTML)",
                         responses: [Reply(200, "The reference", content: ("text/html", .string))]) { _, _ in
                    Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                             body: .init(byteBuffer: ByteBuffer(string: page)))
                },
            ]
        }
        let all = others + declared(ByteBuffer(), "")
        return declared(OpenAPIDocument(endpoints: all).render(), ReferencePage(endpoints: all).render())
    }
}
