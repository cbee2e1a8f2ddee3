internal import GembaCore
internal import GembaIngest
internal import Hummingbird

/// Writes to machines: `POST /api/v1/commands` with `{"machine": "…", "tag": "…", "value": …}` sends
/// the value to the Sparkplug edge node or device that reported the tag, as an NCMD or DCMD in the
/// metric's datatype. Needs the operate permission (and, for a device credential, the machine in
/// its subtree); the audit log records every call.
struct CommandRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        [
            Endpoint(.post, "/api/v1/commands", .requires(.operate), group: "Commands",
                     summary: "Write a value to a machine's tag through its Sparkplug edge node (NCMD/DCMD in the metric's datatype)",
                     body: .json(.object(["machine": TelemetrySchemas.machinePath, "tag": TelemetrySchemas.tagName,
                                          "value": TelemetrySchemas.value]).named("Command")),
                     responses: [.json(202, "Published to the edge node",
                                       .object(["machine": .string, "tag": .string, "status": .oneOf(["sent"])]).named("CommandSent")),
                                 .problem(404, "No online edge node has this metric on this machine"),
                                 .problem(422, "The value does not fit the metric's datatype"),
                                 .problem(503, "No Sparkplug host is running, or the broker is unreachable")]) { request, context in
                try await command(request, context)
            },
        ]
    }

    private func command(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let body = try await RequestBody.read(request)
        let machine = try QueryRoutes.machinePath(try body.string("machine"))
        let tag = try body.string("tag")
        let value: SampleValue = switch body.json["value"] {
        case .integer(let number)?: .int(number)
        case .number(let number)?: .double(number)
        case .bool(let flag)?: .bool(flag)
        case .string(let text)?: .string(text)
        default: throw Problem.badRequest("\"value\" is required: a number, a boolean or a string")
        }
        guard context.caller?.mayWrite(machine) != false else {
            throw Problem.notFound("no online Sparkplug edge node or device has a metric stored as \(tag) on \(machine)")
        }
        guard let sparkplug = server.sparkplug else { throw Problem(.serviceUnavailable, "no Sparkplug host is running") }
        do {
            try await sparkplug.write(tenant: context.tenant, machine: machine, tag: tag, value: value)
        } catch {
            switch error.code {
            case .notFound: throw Problem.notFound(error.message)
            case .typeMismatch: throw Problem(.unprocessableContent, error.message)
            default: throw Problem(.serviceUnavailable, error.message)
            }
        }
        var json = JSONWriter(capacity: 128)
        json.object { json in
            json.field("machine") { $0.string(machine.description) }
            json.field("tag") { $0.string(tag) }
            json.field("status") { $0.string("sent") }
        }
        return .json(json, status: .accepted)
    }
}
