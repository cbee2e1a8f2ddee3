/// The OpenAPI 3.1 description of every route, served at `/openapi.json`.
/// `OpenAPITests` checks that it names exactly the routes the router has.
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {"title": "Gemba API", "version": "1.0.0",
               "description": "Telemetry ingest, query and live APIs of Gemba. Times in responses are epoch milliseconds (t); errors are application/problem+json."},
      "paths": {
        "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "The process is up"}}}},
        "/ready": {"get": {"summary": "Readiness: storage writable and broker listening",
          "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready; checks lists what fails"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format",
          "content": {"text/plain": {}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/api/v1/ingest": {"post": {"summary": "Store a JSON batch of samples",
          "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255},
                          "description": "A retried request with the same key is answered from the first one and not stored twice"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}},
          "responses": {"200": {"description": "Committed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestResult"}}}},
                        "400": {"$ref": "#/components/responses/Rejected"}, "409": {"$ref": "#/components/responses/Problem"},
                        "413": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Busy"}}}},
        "/api/v2/write": {"post": {"summary": "InfluxDB v2 line protocol write (Telegraf outputs.influxdb_v2)",
          "parameters": [{"name": "bucket", "in": "query", "schema": {"type": "string"}, "description": "site/[area/]line completing machine tags"},
                         {"name": "org", "in": "query", "schema": {"type": "string"}},
                         {"name": "precision", "in": "query", "schema": {"type": "string", "enum": ["ns", "us", "ms", "s"]}},
                         {"name": "Content-Encoding", "in": "header", "schema": {"type": "string", "enum": ["gzip", "identity"]}}],
          "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
          "responses": {"204": {"description": "Committed"}, "400": {"$ref": "#/components/responses/Rejected"},
                        "413": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Busy"}}}},
        "/write": {"post": {"summary": "InfluxDB v1 line protocol write (Telegraf outputs.influxdb)",
          "parameters": [{"name": "db", "in": "query", "schema": {"type": "string"}, "description": "site/[area/]line completing machine tags"},
                         {"name": "precision", "in": "query", "schema": {"type": "string", "enum": ["n", "ns", "u", "us", "ms", "s", "m", "h"]}}],
          "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string"}}}},
          "responses": {"204": {"description": "Committed"}, "400": {"$ref": "#/components/responses/Rejected"},
                        "413": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Busy"}}}},
        "/api/v1/assets": {"get": {"summary": "The asset tree: sites, areas, lines, machines",
          "responses": {"200": {"description": "Tree", "content": {"application/json": {}}}}}},
        "/api/v1/machines": {"get": {"summary": "Registered machines",
          "responses": {"200": {"description": "Machines", "content": {"application/json": {}}}}}},
        "/api/v1/tags": {"get": {"summary": "Tags, of one machine or all",
          "parameters": [{"$ref": "#/components/parameters/Machine"}],
          "responses": {"200": {"description": "Tags", "content": {"application/json": {}}}, "404": {"$ref": "#/components/responses/Problem"}}}},
        "/api/v1/latest": {"get": {"summary": "Latest value of each selected tag (all when none selected)",
          "parameters": [{"$ref": "#/components/parameters/Series"}, {"$ref": "#/components/parameters/Machine"}, {"$ref": "#/components/parameters/Tag"}],
          "responses": {"200": {"description": "Values", "content": {"application/json": {}}}, "404": {"$ref": "#/components/responses/Problem"}}}},
        "/api/v1/history": {"get": {"summary": "History of one or many tags, downsampled to at most `points` (min/max kept)",
          "parameters": [{"$ref": "#/components/parameters/Series"}, {"$ref": "#/components/parameters/Machine"}, {"$ref": "#/components/parameters/Tag"},
                         {"$ref": "#/components/parameters/From"}, {"$ref": "#/components/parameters/To"},
                         {"name": "points", "in": "query", "schema": {"type": "integer", "minimum": 2, "maximum": 100000, "default": 1000}}],
          "responses": {"200": {"description": "Raw points or buckets per series", "content": {"application/json": {}}},
                        "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}}}},
        "/api/v1/export.csv": {"get": {"summary": "Raw samples as streamed CSV (time,machine,tag,value,quality)",
          "parameters": [{"$ref": "#/components/parameters/Series"}, {"$ref": "#/components/parameters/Machine"}, {"$ref": "#/components/parameters/Tag"},
                         {"$ref": "#/components/parameters/From"}, {"$ref": "#/components/parameters/To"}],
          "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}, "404": {"$ref": "#/components/responses/Problem"}}}},
        "/api/v1/live": {"get": {"summary": "WebSocket: new samples of subscribed machines/tags",
          "description": "Upgrade to WebSocket. Subscribe with machine/tag query parameters or by sending {\"subscribe\": {\"machines\": [...], \"tags\": [...]}}. Frames: {\"samples\": [{machine, tag, t, v, quality}], \"skipped\": n}.",
          "parameters": [{"$ref": "#/components/parameters/Machine"}, {"$ref": "#/components/parameters/Tag"}],
          "responses": {"101": {"description": "Switching to WebSocket"}}}}
      },
      "components": {
        "parameters": {
          "Machine": {"name": "machine", "in": "query", "schema": {"type": "string"}, "description": "Machine path site/[area/]line/machine; repeatable"},
          "Tag": {"name": "tag", "in": "query", "schema": {"type": "string"}, "description": "Tag name; repeatable"},
          "Series": {"name": "series", "in": "query", "schema": {"type": "string"}, "description": "<machine path>/<tag>; repeatable"},
          "From": {"name": "from", "in": "query", "schema": {"type": "string"}, "description": "Epoch ms or RFC 3339; default to - 1 h"},
          "To": {"name": "to", "in": "query", "schema": {"type": "string"}, "description": "Epoch ms or RFC 3339; default now"}
        },
        "schemas": {
          "Value": {"oneOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"},
                              {"type": "object", "required": ["value"], "properties": {"value": {}, "quality": {"enum": ["good", "uncertain", "bad"]},
                               "unit": {"type": "string"}, "ts": {}}}]},
          "Record": {"type": "object", "required": ["machine", "values"], "properties": {
            "machine": {"type": "string"}, "ts": {"oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}]},
            "quality": {"enum": ["good", "uncertain", "bad"]},
            "values": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Value"}}}},
          "Batch": {"oneOf": [{"type": "object", "required": ["records"], "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}},
                              {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}]},
          "IngestResult": {"type": "object", "properties": {"accepted": {"type": "integer"}, "stored": {"type": "integer"}, "duplicates": {"type": "integer"}}},
          "Problem": {"type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                      "detail": {"type": "string"}, "errors": {"type": "array", "items": {"type": "object",
                      "properties": {"location": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}}}}
        },
        "responses": {
          "Problem": {"description": "Error", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "Rejected": {"description": "Some items rejected (the valid ones were stored; see accepted and errors)",
                       "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "Busy": {"description": "Ingest queue full; retry after Retry-After seconds",
                   "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                   "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        }
      }
    }
    """#
}
