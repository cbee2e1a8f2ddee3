internal import GembaCore
internal import GembaIngest
internal import GembaStorage
internal import Hummingbird

/// The asset model people manage: details of sites, areas, lines and machines (display name,
/// description, metadata), machines configured before they send, moved (their history, settings,
/// stops and OEE summaries follow), retired (refusing new data, keeping history) or deleted with
/// their data; and tag details (display name, unit, range, decimals). Every change is audited.
struct AssetRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Assets"
        return [
            Endpoint(.get, "/api/v1/asset-details", .requires(.readData), group: group,
                     summary: "Every site, area, line and machine with its details, registered or configured",
                     responses: [.json(200, "Assets in path order", AdminRoutes.items(Self.details)), Self.unavailable]) { _, context in
                let assets = try await manager().details(tenant: context.tenant)
                return .json(Self.list(assets, registered: try await server.store.machines(tenant: context.tenant)))
            },
            Endpoint(.put, "/api/v1/asset-details", .requires(.configure), group: group,
                     summary: "Set an asset's display name, description and metadata; a machine not seen yet is created ahead of its data",
                     body: .json(Self.detailsInput),
                     responses: [.json(200, "The asset now", Self.details), .problem(422, "A field is not valid (the detail names it)"),
                                 Self.unavailable]) { request, context in
                let body = try await RequestBody.read(request)
                let details = try await refusingModelErrors {
                    try await manager().save(try Self.details(from: body), tenant: context.tenant, by: try context.requireCaller().name)
                }
                await server.audit(context, "asset.update", target: details.path, detail: "level=\(details.level.rawValue)")
                return .json(Self.one(details, registeredAt: try await registration(of: details, context)))
            },
            Endpoint(.post, "/api/v1/machines/retire", .requires(.configure), group: group,
                     summary: "Retire a machine (it keeps its history and refuses new data with the reason) or put it back in service",
                     body: .json(.object(["machine": TelemetrySchemas.machinePath, "retired": .boolean])),
                     responses: [.json(200, "The machine now", Self.details), .problem(404, "No such machine"), Self.unavailable]) { request, context in
                let body = try await RequestBody.read(request)
                let machine = try QueryRoutes.machinePath(try body.string("machine"))
                guard case .bool(let retired)? = body.json["retired"] else { throw Problem.badRequest("\"retired\" is required: true or false") }
                let details = try await refusingModelErrors {
                    try await manager().retire(machine, retired, tenant: context.tenant, by: try context.requireCaller().name)
                }
                await server.audit(context, retired ? "machine.retire" : "machine.reactivate", target: machine.description, detail: "")
                return .json(Self.one(details, registeredAt: try await registration(of: details, context)))
            },
            Endpoint(.post, "/api/v1/machines/move", .requires(.configure), group: group,
                     summary: "Rename or move a machine: its history, settings, stops, orders and OEE summaries follow the new path",
                     description: "Data sent to the old path afterwards registers a new machine there (old topics stop feeding this one).",
                     body: .json(.object(["machine": TelemetrySchemas.machinePath, "to": TelemetrySchemas.machinePath])),
                     responses: [.json(200, "The machine at its new path", Self.details), .problem(404, "No such machine"),
                                 .problem(409, "A machine has the new path already"), Self.unavailable]) { request, context in
                let body = try await RequestBody.read(request)
                let machine = try QueryRoutes.machinePath(try body.string("machine"))
                let target = try QueryRoutes.machinePath(try body.string("to"))
                let details = try await refusingModelErrors {
                    try await manager().move(machine, to: target, tenant: context.tenant, by: try context.requireCaller().name)
                }
                await server.audit(context, "machine.move", target: machine.description, detail: "to=\(target)")
                return .json(Self.one(details, registeredAt: try await registration(of: details, context)))
            },
            Endpoint(.delete, "/api/v1/machines", .requires(.manageTenant), group: group,
                     summary: "Delete a machine with all its data (samples, rollups, tags, settings, orders, stops, summaries)",
                     description: "Cannot be undone: `confirm` must repeat the machine's path.",
                     parameters: [.oneMachine, Parameter("confirm", TelemetrySchemas.machinePath, required: true, "The machine's path again")],
                     responses: [.json(200, "Deleted", .object(["machine": TelemetrySchemas.machinePath, "samples_deleted": .integer(minimum: 0)])
                                     .named("MachineDeleted")),
                                 .problem(404, "No such machine"), Self.unavailable]) { request, context in
                let machine = try QueryRoutes.machinePath(request.uri.queryParameters.get("machine") ?? "")
                guard request.uri.queryParameters.get("confirm") == machine.description else {
                    throw Problem.badRequest("confirm must repeat the machine's path: deleting \(machine) cannot be undone")
                }
                let samples = try await refusingModelErrors { try await manager().delete(machine, tenant: context.tenant) }
                await server.audit(context, "machine.delete", target: machine.description, detail: "samples=\(samples)")
                var json = JSONWriter()
                json.object { json in
                    json.field("machine") { $0.string(machine.description) }
                    json.field("samples_deleted") { $0.int(Int64(samples)) }
                }
                return .json(json)
            },
            Endpoint(.put, "/api/v1/tags/details", .requires(.configure), group: group,
                     summary: "Set a tag's display name, description, unit, engineering range and decimals",
                     description: "A tag's value type is fixed by its first value: naming another one is refused with the reason.",
                     body: .json(Self.tagInput),
                     responses: [.json(200, "The tag now", QueryRoutes.tag), .problem(404, "No such machine or tag"),
                                 .problem(409, "The value type differs from the stored one"),
                                 .problem(422, "A field is not valid (the detail names it)"), Self.unavailable]) { request, context in
                let body = try await RequestBody.read(request)
                let machine = try QueryRoutes.machinePath(try body.string("machine"))
                let tag = try body.string("tag")
                let series = try await refusingModelErrors {
                    try await manager().updateTag(try Self.tagDetails(from: body), valueType: body.optionalString("value_type"),
                                                  tenant: context.tenant, machine: machine, tag: tag)
                }
                await server.audit(context, "tag.update", target: "\(machine)/\(tag)", detail: "")
                var json = JSONWriter()
                QueryRoutes.write(series, into: &json)
                return .json(json)
            },
        ]
    }

    /// When a machine was registered; nil for other levels.
    private func registration(of details: AssetDetails, _ context: GembaRequestContext) async throws -> Timestamp? {
        guard details.level == .machine else { return nil }
        return try await server.store.machines(tenant: context.tenant).first { $0.path.description == details.path }?.registeredAt
    }

    private func manager() throws -> AssetManager {
        guard let manager = AssetManager(server) else { throw Problem(.serviceUnavailable, "this store keeps no asset model") }
        return manager
    }
}
