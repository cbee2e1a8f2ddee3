#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaAnalytics
internal import GembaCore
internal import Hummingbird
internal import NIOCore

/// Scrap and rework operators record with a defect code: listed, entered and withdrawn (audited);
/// the OEE answers' quality, first-pass yield and quality Pareto follow at once.
struct QualityRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/quality-entries", .requires(.readData), group: "OEE", summary: "Scrap and rework entered by operators in a range",
                     parameters: [Parameter("machine", TelemetrySchemas.machinePath, "Machine path; every machine when absent"), .from, .to],
                     responses: [.json(200, "Entries by time", .object(["entries": .array(Self.entry)])), OEERoutes.unavailable]) { request, context in
                let machine = try request.uri.queryParameters.get("machine").map { text throws(Problem) in try QueryRoutes.machinePath(text) }
                let (from, to) = try QueryRoutes.range(request)
                let entries = try await engine().store.qualityEntries(tenant: context.tenant, machine: machine,
                                                                      in: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch)
                return try OEERoutes.encoded(["entries": entries])
            },
            Endpoint(.post, "/api/v1/quality-entries", .requires(.operate), group: "OEE",
                     summary: "Record scrap (taken from the good units) or rework found on a machine, with a defect code (audited)",
                     body: .json(Self.input),
                     responses: [.json(201, "Recorded", Self.entry), .problem(404, "No such machine"),
                                 .problem(422, "The quantity or defect code is not valid"), OEERoutes.unavailable]) { request, context in
                try await record(request, context)
            },
            Endpoint(.delete, "/api/v1/quality-entries/{id}", .requires(.operate), group: "OEE", summary: "Withdraw an entry made in error (audited)",
                     parameters: [.path("id", "The entry's id")],
                     responses: [.empty(204, "Withdrawn"), .problem(404, "No such entry"), OEERoutes.unavailable]) { _, context in
                let id = try context.parameters.require("id")
                guard let entry = try await engine().deleteQualityEntry(id: id, tenant: context.tenant) else { throw Problem.notFound("no quality entry \(id)") }
                await server.audit(context, "quality.delete", target: entry.machine.description,
                                   detail: "id=\(id) kind=\(entry.kind.rawValue) quantity=\(entry.quantity) reason=\(entry.reason)")
                return Response(status: .noContent)
            },
        ]
    }

    static let entry = Schema.object([
        "id": .string, "machine": TelemetrySchemas.machinePath, "time": .epochMilliseconds, "kind": .oneOf(QualityEntry.Kind.allCases.map(\.rawValue)),
        "quantity": .integer, "reason": Schema.string.described("Defect code"), "note": .string, "enteredBy": .string,
        "enteredAt": .epochMilliseconds,
    ], optional: ["note"]).named("QualityEntry")
    static let input = Schema.object([
        "machine": TelemetrySchemas.machinePath,
        "time": Schema.epochMilliseconds.described("When the units were made or found; now when absent"),
        "kind": .oneOf(QualityEntry.Kind.allCases.map(\.rawValue)), "quantity": .integer(minimum: 1, maximum: 1_000_000),
        "reason": Schema.string(minLength: 1, maxLength: 64).described("Defect code: letters, digits, _ - ."),
        "note": .string(maxLength: 500),
    ], optional: ["time", "note"]).named("QualityEntryInput")

    private func engine() throws -> OEEEngine { try server.requireOEE() }

    private func record(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let body = try await RequestBody.read(request)
        let machine = try QueryRoutes.machinePath(try body.string("machine"))
        guard let kind = QualityEntry.Kind(rawValue: try body.string("kind")) else { throw Problem.badRequest("\"kind\" is scrap or rework") }
        guard let quantity = try body.optionalInt("quantity") else { throw Problem.badRequest("\"quantity\" (units) is required") }
        let note = body.optionalString("note")
        if let note, note.count > 500 { throw Problem.badRequest("\"note\" has at most 500 characters") }
        guard try await server.store.machines(tenant: context.tenant).contains(where: { $0.path == machine }) else {
            throw Problem.notFound("no machine \(machine)")
        }
        let now = Timestamp.now().millisecondsSinceEpoch
        let entry = QualityEntry(id: Self.newID(), machine: machine, time: try body.optionalInt("time") ?? now, kind: kind, quantity: quantity,
                                 reason: try body.string("reason"), note: note, enteredBy: try context.requireCaller().name, enteredAt: now)
        try await refusingModelErrors { try await engine().record(entry, tenant: context.tenant) }
        await server.audit(context, "quality.\(kind.rawValue)", target: machine.description,
                           detail: "id=\(entry.id) quantity=\(quantity) reason=\(entry.reason)")
        var response = try OEERoutes.encoded(entry)
        response.status = .created
        return response
    }

    /// `q_` and 16 hex digits.
    static func newID() -> String {
        "q_" + (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
