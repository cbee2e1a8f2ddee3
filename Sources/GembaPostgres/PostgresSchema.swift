internal import PostgresNIO
internal import Logging

/// The PostgreSQL schema, as versioned migrations applied at start-up.
///
/// Samples live in `sample`, range-partitioned by time into one table per UTC day, each keyed
/// (series, t): a range read of one series is one index walk per day it spans, and retention
/// drops whole days. The value sits in one of three nullable columns (`f` for doubles, `i` for
/// integers and booleans, `s` for strings), so a row carries only what its type needs.
///
/// Rollups (`rollup_minute`, `rollup_hour`) hold exactly the samples older than the watermark
/// (`rollup_watermark.w`): a job folds the samples between the old and a new watermark into them
/// every few seconds (one pass over recent rows, found through a BRIN index on t), while a commit
/// folds in only its own samples older than the watermark (late data). The job holds an
/// exclusive advisory lock that commits take shared, so no sample falls between the two. A read
/// takes the rollups and the raw samples from the watermark on, in one snapshot. Rollups are keyed
/// (series, bucket) for history reads, with a fill factor that leaves room for in-place (HOT)
/// updates.
enum PostgresSchema {
    /// A migration: its id, recorded in `gemba_migration` once applied, and its statements.
    struct Migration {
        let id: String
        let statements: [String]
    }

    /// Lock key (`pg_advisory_xact_lock`) serialising migrations of nodes that start together.
    static let migrationLock: Int64 = 0x6765_6D62_615F_6D67  // "gemba_mg"

    static let migrations: [Migration] = [
        Migration(id: "v1-telemetry", statements: [
            """
            CREATE TABLE tenant (
                id text PRIMARY KEY,
                max_machines bigint NOT NULL,
                max_tags_per_machine bigint NOT NULL,
                raw_retention_ms bigint NOT NULL,
                minute_retention_ms bigint NOT NULL,
                hour_retention_ms bigint NOT NULL
            )
            """,
            """
            CREATE TABLE machine (
                tenant text NOT NULL,
                path text NOT NULL,
                registered_ms bigint NOT NULL,
                PRIMARY KEY (tenant, path)
            )
            """,
            """
            CREATE TABLE series (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant text NOT NULL,
                machine text NOT NULL,
                tag text NOT NULL,
                unit text,
                value_type text NOT NULL,
                kind text NOT NULL,
                description text,
                display_name text,
                minimum double precision,
                maximum double precision,
                decimals bigint,
                first_ms bigint,
                UNIQUE (tenant, machine, tag)
            )
            """,
            """
            CREATE TABLE sample (
                series bigint NOT NULL,
                t bigint NOT NULL,
                f double precision,
                i bigint,
                s text,
                q smallint NOT NULL,
                PRIMARY KEY (series, t)
            ) PARTITION BY RANGE (t)
            """,
            // Finds the recent rows the rollup job folds in, at a tiny cost per insert (rows arrive in time order).
            "CREATE INDEX sample_t ON sample USING brin (t) WITH (pages_per_range = 16)",
            "CREATE TABLE rollup_watermark (id int PRIMARY KEY CHECK (id = 1), w bigint NOT NULL)",
            "INSERT INTO rollup_watermark VALUES (1, 0)",
            // Every day partition, so that retention and start-up need not parse catalog names.
            "CREATE TABLE sample_partition (day_ms bigint PRIMARY KEY, name text NOT NULL)",
            """
            CREATE FUNCTION gemba_sample_partition(day_ms bigint) RETURNS void LANGUAGE plpgsql AS $$
            DECLARE
                name text := 'sample_' || to_char(to_timestamp(day_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYYMMDD');
            BEGIN
                PERFORM pg_advisory_xact_lock(\(partitionLock));
                IF NOT EXISTS (SELECT 1 FROM sample_partition p WHERE p.day_ms = gemba_sample_partition.day_ms) THEN
                    EXECUTE format('CREATE TABLE %I PARTITION OF sample FOR VALUES FROM (%s) TO (%s)',
                                   name, day_ms, day_ms + 86400000);
                    INSERT INTO sample_partition VALUES (day_ms, name);
                END IF;
            END $$
            """,
        ] + ["rollup_minute", "rollup_hour"].map { table in
            """
            CREATE TABLE \(table) (
                series bigint NOT NULL,
                bucket bigint NOT NULL,
                n bigint NOT NULL,
                sum double precision NOT NULL,
                min double precision NOT NULL,
                max double precision NOT NULL,
                first_t bigint NOT NULL,
                first double precision NOT NULL,
                last_t bigint NOT NULL,
                last double precision NOT NULL,
                PRIMARY KEY (series, bucket)
            ) WITH (fillfactor = 70)
            """
        } + [
            """
            CREATE TABLE asset (
                tenant text NOT NULL,
                level text NOT NULL,
                path text NOT NULL,
                display_name text,
                description text,
                metadata text NOT NULL,
                created_by text,
                created_ms bigint,
                updated_by text,
                updated_ms bigint,
                retired_ms bigint,
                PRIMARY KEY (tenant, level, path)
            )
            """,
        ]),
        Migration(id: "v2-analytics", statements: [
            """
            CREATE TABLE analytics_setting (
                tenant text NOT NULL,
                kind text NOT NULL,
                key text NOT NULL,
                json text NOT NULL,
                PRIMARY KEY (tenant, kind, key)
            )
            """,
            """
            CREATE TABLE production_order (
                tenant text NOT NULL,
                id text NOT NULL,
                machine text NOT NULL,
                product text NOT NULL,
                target bigint NOT NULL,
                start bigint NOT NULL,
                "end" bigint,
                ideal_cycle_ms bigint,
                PRIMARY KEY (tenant, id)
            )
            """,
            "CREATE INDEX production_order_by_machine ON production_order (tenant, machine, start)",
            """
            CREATE TABLE stop_assignment (
                tenant text NOT NULL,
                machine text NOT NULL,
                start bigint NOT NULL,
                "end" bigint,
                reason text NOT NULL,
                fault_code text,
                assigned_by text NOT NULL,
                assigned_at bigint NOT NULL,
                PRIMARY KEY (tenant, machine, start)
            )
            """,
            """
            CREATE TABLE kpi_summary (
                tenant text NOT NULL,
                machine text NOT NULL,
                level smallint NOT NULL,
                start bigint NOT NULL,
                "end" bigint NOT NULL,
                day text NOT NULL,
                shift text NOT NULL,
                calendar bigint NOT NULL,
                scheduled bigint NOT NULL,
                excluded bigint NOT NULL,
                downtime bigint NOT NULL,
                unknown bigint NOT NULL,
                performance_loss bigint NOT NULL,
                setup bigint NOT NULL,
                repair bigint NOT NULL,
                failures bigint NOT NULL,
                total bigint NOT NULL,
                good bigint NOT NULL,
                unrated bigint NOT NULL,
                ideal bigint NOT NULL,
                not_monitored bigint NOT NULL,
                rework bigint NOT NULL,
                reasons bytea NOT NULL,
                scrap_reasons bytea NOT NULL,
                products bytea NOT NULL,
                orders bytea NOT NULL,
                PRIMARY KEY (tenant, machine, level, start)
            )
            """,
            """
            CREATE TABLE kpi_reason (
                tenant text NOT NULL,
                reason text NOT NULL,
                id integer NOT NULL,
                PRIMARY KEY (tenant, reason),
                UNIQUE (tenant, id)
            )
            """,
            """
            CREATE TABLE quality_entry (
                tenant text NOT NULL,
                id text NOT NULL,
                machine text NOT NULL,
                time_ms bigint NOT NULL,
                kind text NOT NULL,
                quantity bigint NOT NULL,
                reason text NOT NULL,
                note text,
                entered_by text NOT NULL,
                entered_at bigint NOT NULL,
                PRIMARY KEY (tenant, id)
            )
            """,
            "CREATE INDEX quality_entry_by_machine ON quality_entry (tenant, machine, time_ms)",
            """
            CREATE TABLE maintenance_window (
                tenant text NOT NULL,
                work_order text NOT NULL,
                machine text NOT NULL,
                start bigint NOT NULL,
                "end" bigint,
                set_ms bigint NOT NULL,
                PRIMARY KEY (tenant, work_order)
            )
            """,
            "CREATE INDEX maintenance_window_by_machine ON maintenance_window (tenant, machine, start)",
        ]),
        Migration(id: "v3-alarms-notifications", statements: [
            """
            CREATE TABLE alarm_rule (
                tenant text NOT NULL,
                id text NOT NULL,
                definition text NOT NULL,
                version bigint NOT NULL,
                updated_by text NOT NULL,
                updated_ms bigint NOT NULL,
                PRIMARY KEY (tenant, id)
            )
            """,
            """
            CREATE TABLE alarm_instance (
                tenant text NOT NULL,
                rule text NOT NULL,
                machine text NOT NULL,
                state text NOT NULL,
                updated_ms bigint NOT NULL,
                PRIMARY KEY (tenant, rule, machine)
            )
            """,
            """
            CREATE TABLE alarm_journal (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant text NOT NULL,
                time_ms bigint NOT NULL,
                rule text NOT NULL,
                machine text NOT NULL,
                kind text NOT NULL,
                from_state text NOT NULL,
                to_state text NOT NULL,
                severity text NOT NULL,
                value double precision,
                actor text,
                comment text
            )
            """,
            "CREATE INDEX alarm_journal_time ON alarm_journal (tenant, time_ms)",
        ] + ["channel", "policy", "roster", "person"].map { kind in
            """
            CREATE TABLE notification_\(kind) (
                tenant text NOT NULL,
                id text NOT NULL,
                definition text NOT NULL,\(kind == "channel" ? "\n    sealed_secrets text," : "")
                PRIMARY KEY (tenant, id)
            )
            """
        } + [
            """
            CREATE TABLE notification_outbox (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant text NOT NULL,
                channel text NOT NULL,
                recipient text,
                group_key text,
                message_id text NOT NULL,
                event_type text NOT NULL,
                payload text NOT NULL,
                created_ms bigint NOT NULL,
                status text NOT NULL,
                attempts bigint NOT NULL,
                next_attempt_ms bigint NOT NULL,
                last_error text,
                delivered_ms bigint
            )
            """,
            "CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_ms)",
            "CREATE INDEX notification_outbox_tenant ON notification_outbox (tenant, id)",
            """
            CREATE TABLE notification_attempt (
                outbox bigint NOT NULL,
                time_ms bigint NOT NULL,
                status_code bigint,
                error text,
                duration_ms bigint NOT NULL
            )
            """,
            "CREATE INDEX notification_attempt_outbox ON notification_attempt (outbox, time_ms)",
        ]),
        Migration(id: "v4-maintenance-detectors", statements: [
            """
            CREATE TABLE work_order (
                tenant text NOT NULL,
                id text NOT NULL,
                number bigint NOT NULL,
                machine text NOT NULL,
                status text NOT NULL,
                updated_ms bigint NOT NULL,
                revision bigint NOT NULL,
                document text NOT NULL,
                PRIMARY KEY (tenant, id),
                UNIQUE (tenant, number)
            )
            """,
            "CREATE INDEX work_order_by_machine ON work_order (tenant, machine, updated_ms)",
            "CREATE INDEX work_order_by_status ON work_order (tenant, status, updated_ms)",
            """
            CREATE TABLE work_order_decision (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant text NOT NULL,
                work_order text NOT NULL,
                machine text NOT NULL,
                time_ms bigint NOT NULL,
                action text NOT NULL,
                from_status text NOT NULL,
                to_status text NOT NULL,
                actor text NOT NULL,
                rationale text,
                detail text
            )
            """,
            "CREATE INDEX work_order_decision_by_time ON work_order_decision (tenant, time_ms)",
            "CREATE INDEX work_order_decision_by_order ON work_order_decision (tenant, work_order, time_ms)",
            """
            CREATE TABLE maintenance_plan (
                tenant text NOT NULL,
                id text NOT NULL,
                machine text NOT NULL,
                document text NOT NULL,
                PRIMARY KEY (tenant, id)
            )
            """,
            """
            CREATE TABLE detector_event (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant text NOT NULL,
                detector text NOT NULL,
                machine text NOT NULL,
                tag text NOT NULL,
                start_ms bigint NOT NULL,
                last_ms bigint NOT NULL,
                peak double precision NOT NULL,
                peak_ms bigint NOT NULL,
                closed boolean NOT NULL DEFAULT false,
                label text,
                labelled_by text,
                labelled_ms bigint,
                note text,
                work_order text,
                contributions text,
                UNIQUE (tenant, detector, machine, start_ms)
            )
            """,
            "CREATE INDEX detector_event_by_time ON detector_event (tenant, start_ms)",
            """
            CREATE TABLE detector_version (
                tenant text NOT NULL,
                detector text NOT NULL,
                version bigint NOT NULL,
                status text NOT NULL,
                document text NOT NULL,
                model bytea,
                PRIMARY KEY (tenant, detector, version)
            )
            """,
        ]),
        // Identity and audit: the tables of SQLite's identity.sqlite, named apart from telemetry's
        // (`identity_tenant`; `app_user` as `user` is reserved).
        Migration(id: "v5-identity", statements: [
            "CREATE TABLE identity_tenant (id text PRIMARY KEY, name text NOT NULL, created_ms bigint NOT NULL)",
            """
            CREATE TABLE app_user (
                id text PRIMARY KEY, email text NOT NULL UNIQUE, display_name text NOT NULL,
                password_hash text, disabled boolean NOT NULL, created_ms bigint NOT NULL
            )
            """,
            """
            CREATE TABLE membership (
                tenant text NOT NULL, user_id text NOT NULL REFERENCES app_user(id), role text NOT NULL,
                PRIMARY KEY (tenant, user_id)
            )
            """,
            "CREATE INDEX membership_by_user ON membership (user_id)",
            """
            CREATE TABLE session (
                id text PRIMARY KEY, user_id text NOT NULL, tenant text NOT NULL, created_ms bigint NOT NULL, revoked_ms bigint
            )
            """,
            "CREATE INDEX session_by_user ON session (user_id)",
            """
            CREATE TABLE refresh_token (
                hash text PRIMARY KEY, session_id text NOT NULL REFERENCES session(id),
                issued_ms bigint NOT NULL, expires_ms bigint NOT NULL, used_ms bigint
            )
            """,
            """
            CREATE TABLE api_key (
                id text PRIMARY KEY, tenant text NOT NULL, name text NOT NULL, role text NOT NULL,
                secret_hash text NOT NULL, created_by text NOT NULL, created_ms bigint NOT NULL,
                expires_ms bigint, revoked_ms bigint, last_used_ms bigint
            )
            """,
            """
            CREATE TABLE device (
                id text PRIMARY KEY, tenant text NOT NULL, username text NOT NULL UNIQUE,
                secret_hash text NOT NULL, subtree text, created_by text NOT NULL, created_ms bigint NOT NULL,
                revoked_ms bigint, last_used_ms bigint
            )
            """,
            """
            CREATE TABLE invitation (
                id text PRIMARY KEY, tenant text NOT NULL, email text NOT NULL, role text NOT NULL,
                token_hash text NOT NULL UNIQUE, created_by text NOT NULL, created_ms bigint NOT NULL,
                expires_ms bigint NOT NULL, accepted_ms bigint
            )
            """,
            """
            CREATE TABLE audit (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant text NOT NULL, t bigint NOT NULL,
                actor_kind text NOT NULL, actor_id text NOT NULL, actor_name text NOT NULL,
                action text NOT NULL, target text NOT NULL, outcome text NOT NULL,
                source_ip text NOT NULL, request_id text NOT NULL, detail text NOT NULL
            )
            """,
            "CREATE INDEX audit_tenant_time ON audit (tenant, t)",
            // Append-only even to SQL: updates, deletes and truncation raise.
            """
            CREATE FUNCTION gemba_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit log is append-only';
            END $$
            """,
            """
            CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
                FOR EACH ROW EXECUTE FUNCTION gemba_audit_append_only()
            """,
            """
            CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
                FOR EACH STATEMENT EXECUTE FUNCTION gemba_audit_append_only()
            """,
        ]),
        Migration(id: "v6-commit-watermark", statements: [
            // A commit's first step, inside its insert statement: the rollup lock shared, then the
            // watermark. A volatile PL/pgSQL function reads it with a snapshot of its own, taken after
            // the lock (the calling statement's snapshot is older): no fold can have moved it unseen.
            """
            CREATE FUNCTION gemba_commit_watermark() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
            DECLARE
                mark bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock_shared(\(rollupLock));
                SELECT w INTO mark FROM rollup_watermark;
                RETURN mark;
            END $$
            """,
        ]),
        Migration(id: "v7-sample-feed", statements: [
            // What commits feed the node evaluating alarms: one row per commit that had samples of
            // tags rules read, in LiveBatch form, with the id of the transaction that wrote it.
            """
            CREATE TABLE sample_feed (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                samples bytea NOT NULL
            )
            """,
            "CREATE INDEX sample_feed_xid ON sample_feed (xid, id)",
        ]),
    ]

    /// Lock key of the rollup watermark: commits take it shared, the rollup job exclusive.
    static let rollupLock: Int64 = 0x6765_6D62_615F_726C  // "gemba_rl"

    /// Lock key serialising the creation of day partitions.
    static let partitionLock: Int64 = 0x6765_6D62_615F_7074  // "gemba_pt"

    /// The ids of every migration this build knows, in order.
    static var identifiers: [String] { migrations.map(\.id) }

    /// Applies the migrations not yet applied, all in one transaction under an advisory lock: nodes
    /// starting together migrate once, the others wait and find nothing left to do. A database
    /// migrated by a newer Gemba (an id this build does not know) is refused.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS gemba_migration (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied: Set<String> = []
            for try await id in try await connection.query("SELECT id FROM gemba_migration", logger: logger).decode(String.self) {
                applied.insert(id)
            }
            let unknown = applied.subtracting(identifiers)
            guard unknown.isEmpty else {
                throw PostgresStoreError("the database was migrated by a newer Gemba (migrations \(unknown.sorted().joined(separator: ", "))); run that version")
            }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO gemba_migration (id) VALUES (\(migration.id))", logger: logger)
                logger.info("applied a PostgreSQL migration", metadata: ["storage.migration": "\(migration.id)"])
            }
        }
    }
}
