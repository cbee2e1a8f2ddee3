internal import GRDB

/// The SQLite schema, as GRDB migrations run at start-up.
///
/// Samples live in one narrow `WITHOUT ROWID` table keyed by (series, t): a series' samples are
/// contiguous on disk, so a range read is one B-tree walk. `v` has no type affinity and holds the
/// value as INTEGER (int, bool), REAL (double) or TEXT (string).
///
/// Rollups are keyed the other way round, (bucket, series): the rows every commit updates (the
/// current minute and hour of every active series) are then contiguous, a few hundred pages
/// instead of one page per series; a history read seeks each bucket of its range.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-telemetry") { db in
            try db.execute(sql: """
                CREATE TABLE tenant (
                    id TEXT PRIMARY KEY,
                    max_machines INTEGER NOT NULL,
                    max_tags_per_machine INTEGER NOT NULL,
                    raw_retention_ms INTEGER NOT NULL,
                    minute_retention_ms INTEGER NOT NULL,
                    hour_retention_ms INTEGER NOT NULL
                );
                CREATE TABLE machine (
                    tenant TEXT NOT NULL,
                    path TEXT NOT NULL,
                    registered_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant, path)
                ) WITHOUT ROWID;
                CREATE TABLE series (
                    id INTEGER PRIMARY KEY,
                    tenant TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    tag TEXT NOT NULL,
                    unit TEXT,
                    value_type TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    description TEXT,
                    UNIQUE (tenant, machine, tag)
                );
                CREATE TABLE sample (
                    series INTEGER NOT NULL,
                    t INTEGER NOT NULL,
                    v,
                    q INTEGER NOT NULL,
                    PRIMARY KEY (series, t)
                ) WITHOUT ROWID;
                CREATE TABLE inbox (
                    id INTEGER PRIMARY KEY,
                    samples BLOB NOT NULL
                );
                """)
            for table in ["rollup_minute", "rollup_hour"] {
                try db.execute(sql: """
                    CREATE TABLE \(table) (
                        series INTEGER NOT NULL,
                        bucket INTEGER NOT NULL,
                        n INTEGER NOT NULL,
                        sum REAL NOT NULL,
                        min REAL NOT NULL,
                        max REAL NOT NULL,
                        first_t INTEGER NOT NULL,
                        first REAL NOT NULL,
                        last_t INTEGER NOT NULL,
                        last REAL NOT NULL,
                        PRIMARY KEY (bucket, series)
                    ) WITHOUT ROWID;
                    """)
            }
        }
        migrator.registerMigration("v2-analytics") { db in
            try db.execute(sql: """
                CREATE TABLE analytics_setting (
                    tenant TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    key TEXT NOT NULL,
                    json TEXT NOT NULL,
                    PRIMARY KEY (tenant, kind, key)
                ) WITHOUT ROWID;
                CREATE TABLE production_order (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    product TEXT NOT NULL,
                    target INTEGER NOT NULL,
                    start INTEGER NOT NULL,
                    "end" INTEGER,
                    ideal_cycle_ms INTEGER,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE INDEX production_order_by_machine ON production_order (tenant, machine, start);
                CREATE TABLE stop_assignment (
                    tenant TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    "end" INTEGER,
                    reason TEXT NOT NULL,
                    fault_code TEXT,
                    assigned_by TEXT NOT NULL,
                    assigned_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant, machine, start)
                ) WITHOUT ROWID;
                CREATE TABLE kpi_summary (
                    tenant TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    level INTEGER NOT NULL,
                    start INTEGER NOT NULL,
                    "end" INTEGER NOT NULL,
                    day TEXT NOT NULL,
                    shift TEXT NOT NULL,
                    \(SQLiteAnalytics.componentColumnsOfV2.map { "\($0) INTEGER NOT NULL" }.joined(separator: ",\n")),
                    reasons BLOB NOT NULL,
                    PRIMARY KEY (tenant, machine, level, start)
                ) WITHOUT ROWID;
                CREATE TABLE kpi_reason (
                    tenant TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    id INTEGER NOT NULL,
                    PRIMARY KEY (tenant, reason)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-assets") { db in
            try db.execute(sql: """
                CREATE TABLE asset (
                    tenant TEXT NOT NULL,
                    level TEXT NOT NULL,
                    path TEXT NOT NULL,
                    display_name TEXT,
                    description TEXT,
                    metadata TEXT NOT NULL,
                    created_by TEXT,
                    created_ms INTEGER,
                    updated_by TEXT,
                    updated_ms INTEGER,
                    retired_ms INTEGER,
                    PRIMARY KEY (tenant, level, path)
                ) WITHOUT ROWID;
                ALTER TABLE series ADD COLUMN display_name TEXT;
                ALTER TABLE series ADD COLUMN minimum REAL;
                ALTER TABLE series ADD COLUMN maximum REAL;
                ALTER TABLE series ADD COLUMN decimals INTEGER;
                """)
        }
        migrator.registerMigration("v4-alarms") { db in
            try db.execute(sql: """
                CREATE TABLE alarm_rule (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    definition TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    updated_by TEXT NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE TABLE alarm_instance (
                    tenant TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    state TEXT NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant, rule, machine)
                ) WITHOUT ROWID;
                CREATE TABLE alarm_journal (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant TEXT NOT NULL,
                    time_ms INTEGER NOT NULL,
                    rule TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    from_state TEXT NOT NULL,
                    to_state TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    value REAL,
                    actor TEXT,
                    comment TEXT
                );
                CREATE INDEX alarm_journal_time ON alarm_journal (tenant, time_ms);
                CREATE TABLE notification_channel (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    definition TEXT NOT NULL,
                    sealed_secrets TEXT,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE TABLE notification_policy (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    definition TEXT NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE TABLE notification_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT,
                    delivered_ms INTEGER
                );
                CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_ms);
                CREATE INDEX notification_outbox_tenant ON notification_outbox (tenant, id);
                CREATE TABLE notification_attempt (
                    outbox INTEGER NOT NULL,
                    time_ms INTEGER NOT NULL,
                    status_code INTEGER,
                    error TEXT,
                    duration_ms INTEGER NOT NULL
                );
                CREATE INDEX notification_attempt_outbox ON notification_attempt (outbox, time_ms);
                """)
        }
        migrator.registerMigration("v5-notification-people") { db in
            try db.execute(sql: """
                ALTER TABLE notification_outbox ADD COLUMN recipient TEXT;
                ALTER TABLE notification_outbox ADD COLUMN group_key TEXT;
                CREATE TABLE notification_roster (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    definition TEXT NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE TABLE notification_person (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    definition TEXT NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v6-monitoring-quality") { db in
            // Where each series' data begins: from its raw samples and, past raw retention, its hour rollups.
            try db.execute(sql: """
                ALTER TABLE series ADD COLUMN first_ms INTEGER;
                ALTER TABLE kpi_summary ADD COLUMN not_monitored INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE kpi_summary ADD COLUMN rework INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE kpi_summary ADD COLUMN scrap_reasons BLOB NOT NULL DEFAULT x'';
                ALTER TABLE kpi_summary ADD COLUMN products BLOB NOT NULL DEFAULT x'';
                ALTER TABLE kpi_summary ADD COLUMN orders BLOB NOT NULL DEFAULT x'';
                CREATE TABLE quality_entry (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    time_ms INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    note TEXT,
                    entered_by TEXT NOT NULL,
                    entered_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE INDEX quality_entry_by_machine ON quality_entry (tenant, machine, time_ms);
                CREATE TEMP TABLE first_hour AS SELECT series, min(first_t) AS t FROM rollup_hour GROUP BY series;
                UPDATE series SET first_ms = (SELECT min(t) FROM (
                    SELECT min(t) AS t FROM sample WHERE sample.series = series.id
                    UNION ALL SELECT t FROM first_hour WHERE first_hour.series = series.id));
                DROP TABLE first_hour;
                """)
            // Summaries reaching back before a machine's first sample counted that time as downtime;
            // they hold no data, so they are rebuilt under the new rule when next asked for.
            try db.execute(sql: """
                DELETE FROM kpi_summary WHERE start < coalesce(
                    (SELECT min(first_ms) FROM series WHERE series.tenant = kpi_summary.tenant AND series.machine = kpi_summary.machine),
                    9223372036854775807)
                """)
        }
        migrator.registerMigration("v7-maintenance") { db in
            try db.execute(sql: """
                CREATE TABLE work_order (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    machine TEXT NOT NULL,
                    status TEXT NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    revision INTEGER NOT NULL,
                    document TEXT NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX work_order_by_number ON work_order (tenant, number);
                CREATE INDEX work_order_by_machine ON work_order (tenant, machine, updated_ms);
                CREATE INDEX work_order_by_status ON work_order (tenant, status, updated_ms);
                CREATE TABLE work_order_decision (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant TEXT NOT NULL,
                    work_order TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    time_ms INTEGER NOT NULL,
                    action TEXT NOT NULL,
                    from_status TEXT NOT NULL,
                    to_status TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    rationale TEXT,
                    detail TEXT
                );
                CREATE INDEX work_order_decision_by_time ON work_order_decision (tenant, time_ms);
                CREATE INDEX work_order_decision_by_order ON work_order_decision (tenant, work_order, time_ms);
                CREATE TABLE maintenance_window (
                    tenant TEXT NOT NULL,
                    work_order TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    "end" INTEGER,
                    set_ms INTEGER NOT NULL,
                    PRIMARY KEY (tenant, work_order)
                ) WITHOUT ROWID;
                CREATE INDEX maintenance_window_by_machine ON maintenance_window (tenant, machine, start);
                CREATE TABLE maintenance_plan (
                    tenant TEXT NOT NULL,
                    id TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    document TEXT NOT NULL,
                    PRIMARY KEY (tenant, id)
                ) WITHOUT ROWID;
                CREATE TABLE detector_event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant TEXT NOT NULL,
                    detector TEXT NOT NULL,
                    machine TEXT NOT NULL,
                    tag TEXT NOT NULL,
                    start_ms INTEGER NOT NULL,
                    last_ms INTEGER NOT NULL,
                    peak REAL NOT NULL,
                    peak_ms INTEGER NOT NULL,
                    closed INTEGER NOT NULL DEFAULT 0,
                    label TEXT,
                    labelled_by TEXT,
                    labelled_ms INTEGER,
                    note TEXT,
                    work_order TEXT
                );
                CREATE UNIQUE INDEX detector_event_by_start ON detector_event (tenant, detector, machine, start_ms);
                CREATE INDEX detector_event_by_time ON detector_event (tenant, start_ms);
                """)
        }
        migrator.registerMigration("v8-detector-registry") { db in
            try db.execute(sql: """
                CREATE TABLE detector_version (
                    tenant TEXT NOT NULL,
                    detector TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    document TEXT NOT NULL,
                    model BLOB,
                    PRIMARY KEY (tenant, detector, version)
                ) WITHOUT ROWID;
                ALTER TABLE detector_event ADD COLUMN contributions TEXT;
                """)
        }
        return migrator
    }

    static func rollupTable(_ resolution: Resolution) -> String {
        switch resolution {
        case .raw: "sample"
        case .minute: "rollup_minute"
        case .hour: "rollup_hour"
        }
    }

    /// Merges a bucket into a rollup row, keeping first/last by time.
    static func upsertRollup(_ table: String) -> String {
        """
        INSERT INTO \(table) (series, bucket, n, sum, min, max, first_t, first, last_t, last)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (bucket, series) DO UPDATE SET
            n = n + excluded.n,
            sum = sum + excluded.sum,
            min = min(min, excluded.min),
            max = max(max, excluded.max),
            first = CASE WHEN excluded.first_t < first_t THEN excluded.first ELSE first END,
            first_t = min(first_t, excluded.first_t),
            last = CASE WHEN excluded.last_t >= last_t THEN excluded.last ELSE last END,
            last_t = max(last_t, excluded.last_t)
        """
    }
}
