import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The API contract: `/openapi.json` comes from the endpoint declarations and is complete
/// (every body has a schema, every `$ref` resolves), and `/api/docs` describes the same endpoints.
@Suite struct ContractTests {
    @Test func everyBodyHasASchemaAndEveryReferenceResolves() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                let document = response.json
                guard case .object(let schemas)? = document["components"]?["schemas"], case .object(let paths)? = document["paths"] else {
                    Issue.record("no components or paths"); return
                }
                var references: [String] = []
                Self.collectReferences(document, into: &references)
                #expect(!references.isEmpty)
                for reference in references {
                    let name = reference.replacingOccurrences(of: "#/components/schemas/", with: "")
                    #expect(schemas.contains { $0.0 == name }, "\(reference) does not resolve")
                }
                var operations = 0
                for (path, item) in paths {
                    guard case .object(let methods) = item else { continue }
                    for (method, operation) in methods {
                        operations += 1
                        #expect(operation["operationId"] != nil, "\(method) \(path) has no operationId")
                        guard case .object(let replies)? = operation["responses"] else { Issue.record("\(method) \(path): no responses"); continue }
                        #expect(!replies.isEmpty)
                        for (status, reply) in replies {
                            guard case .object(let contents)? = reply["content"] else { continue }
                            for (mediaType, content) in contents {
                                #expect(content["schema"] != nil, "\(method) \(path) \(status) \(mediaType) has no schema")
                            }
                        }
                        if case .object(let contents)? = operation["requestBody"]?["content"] {
                            for (mediaType, content) in contents { #expect(content["schema"] != nil, "\(method) \(path) body \(mediaType)") }
                        }
                    }
                }
                #expect(operations == HTTPServer.endpoints(harness.server).count)
            }
        }
    }

    @Test func theReferenceForPeopleIsOpenAndNamesEveryEndpoint() async throws {
        let harness = try await ServerHarness()
        try await harness.test(anonymous: true) { client in
            try await client.execute(uri: "/api/docs", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                for endpoint in HTTPServer.endpoints(harness.server) {
                    #expect(response.text.contains("<code>\(endpoint.path)</code>"), "\(endpoint.key) is not in the reference")
                }
                #expect(response.text.contains("id=\"schema-OEEReport\""))
                #expect(!response.text.contains("<script"))
            }
            try await client.execute(uri: "/assets/reference.css", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func aPlainRequestToAWebSocketRouteIsRefused() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            for uri in ["/api/v1/live", "/api/v1/live/oee"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .upgradeRequired, "\(uri): \(response.status)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
        }
    }

    static func collectReferences(_ value: JSONValue, into references: inout [String]) {
        switch value {
        case .object(let members):
            for (key, member) in members {
                if key == "$ref", case .string(let reference) = member { references.append(reference) } else { collectReferences(member, into: &references) }
            }
        case .array(let items): for item in items { collectReferences(item, into: &references) }
        default: break
        }
    }
}
