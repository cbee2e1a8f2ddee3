internal import GembaCore
internal import GembaIngest
internal import Hummingbird

/// Writes to machines: `POST /api/v1/commands` with `{"machine": "…", "tag": "…", "value": …}` sends
/// the value to the Sparkplug edge node or device that reported the tag, as an NCMD or DCMD in the
/// metric's datatype. Needs the operate permission (and, for a device credential, the machine in
/// its subtree); the audit log records every call.
struct CommandRoutes {
    let server: ServerContext

    func register(on router: Router<GembaRequestContext>) {
        router.post("/api/v1/commands") { request, context in try await command(request, context) }
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
