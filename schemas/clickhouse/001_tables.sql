-- callpulse store, version 1: raw tables.
-- Placeholders: {database}, {turns_ttl_days}, {windows_ttl_days}, {dead_letters_ttl_days}.
-- At-least-once delivery means any row may arrive twice (Kafka redelivery) and any batch may be
-- sent twice (sink retry after an ambiguous failure). Hence:
--   * every table's sorting key is the event's natural key, and the engine collapses rows with the
--     same key (ReplacingMergeTree / AggregatingMergeTree): read them with FINAL (or GROUP BY key);
--   * non_replicated_deduplication_window drops a retried insert of an identical batch at once.

-- One row per call, merged from partial rows: the call-started event, the call-ended event and the
-- call summary each fill some columns and leave the others NULL; SimpleAggregateFunction columns
-- skip NULLs when parts merge, so order and duplicates do not matter.
CREATE TABLE IF NOT EXISTS {database}.calls
(
    call_id              String,
    started_at           SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ended_at             SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    agent_id             SimpleAggregateFunction(anyLast, Nullable(String)),
    queue                SimpleAggregateFunction(anyLast, Nullable(String)),
    stereo               SimpleAggregateFunction(anyLast, Nullable(UInt8)),
    language             SimpleAggregateFunction(anyLast, Nullable(String)),
    duration_s           SimpleAggregateFunction(anyLast, Nullable(Float64)),
    customer_turns       SimpleAggregateFunction(anyLast, Nullable(UInt32)),
    agent_turns          SimpleAggregateFunction(anyLast, Nullable(UInt32)),
    customer_speech_s    SimpleAggregateFunction(anyLast, Nullable(Float64)),
    agent_speech_s       SimpleAggregateFunction(anyLast, Nullable(Float64)),
    mean_negativity      SimpleAggregateFunction(anyLast, Nullable(Float64)),
    max_negativity       SimpleAggregateFunction(anyLast, Nullable(Float64)),
    upset_share          SimpleAggregateFunction(anyLast, Nullable(Float64)),
    alerts               SimpleAggregateFunction(anyLast, Nullable(UInt32)),
    late_events_dropped  SimpleAggregateFunction(anyLast, Nullable(UInt32)),
    end_reason           SimpleAggregateFunction(anyLast, Nullable(String)),
    updated_at           SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY call_id
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per (call, turn); a higher revision of a turn replaces a lower one.
-- agent_id and queue are copied from the call (the streaming layer knows them) so the roll-ups
-- need no join. event_time = call start + start_s; raw turns expire after {turns_ttl_days} days
-- (the daily roll-ups keep their history).
CREATE TABLE IF NOT EXISTS {database}.turns
(
    call_id        String,
    turn_id        String,
    revision       UInt32,
    speaker        LowCardinality(String),
    start_s        Float64,
    end_s          Float64,
    duration_s     Float64 ALIAS end_s - start_s,
    negativity     Float64,
    confidence     Float64,
    voice_upset    Nullable(Float64),
    polarity       Nullable(Float64),
    emotion_label  LowCardinality(String),
    emotion_probs  Map(LowCardinality(String), Float32),
    text           String,
    agent_id       LowCardinality(String),
    queue          LowCardinality(String),
    event_time     DateTime64(3, 'UTC'),
    day            Date MATERIALIZED toDate(event_time),
    ingested_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY (call_id, turn_id)
TTL toDateTime(event_time) + INTERVAL {turns_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per (call, window start); a later emission of a window replaces an earlier one.
CREATE TABLE IF NOT EXISTS {database}.windows
(
    call_id            String,
    window_start_s     Float64,
    window_end_s       Float64,
    customer_turns     UInt32,
    customer_speech_s  Float64,
    mean_negativity    Float64,
    max_negativity     Float64,
    upset_share        Float64,
    agent_speech_s     Float64,
    talk_ratio         Float64,
    interruptions      UInt32,
    longest_silence_s  Float64,
    upset              Bool,
    agent_id           LowCardinality(String),
    queue              LowCardinality(String),
    event_time         DateTime64(3, 'UTC'),
    ingested_at        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (call_id, window_start_s)
TTL toDateTime(event_time) + INTERVAL {windows_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per escalation episode (alert_id is deterministic: "<call_id>:episode:<n>").
CREATE TABLE IF NOT EXISTS {database}.alerts
(
    call_id      String,
    alert_id     String,
    episode      UInt32,
    at_s         Float64,
    severity     LowCardinality(String),
    score        Float64,
    windows      UInt32,
    evidence     Array(Tuple(turn_id String, start_s Float64, end_s Float64, negativity Float64, text String)),
    agent_id     LowCardinality(String),
    queue        LowCardinality(String),
    event_time   DateTime64(3, 'UTC'),
    ingested_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (call_id, alert_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Events no stage could process (they also go to the dead-letter topic), for analysts.
CREATE TABLE IF NOT EXISTS {database}.dead_letters
(
    topic        LowCardinality(String),
    partition    Nullable(Int32),
    offset       Nullable(Int64),
    key          Nullable(String),
    value        String,
    reason       String,
    ts           DateTime64(3, 'UTC'),
    ingested_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (topic, cityHash64(value), reason)
TTL toDateTime(ts) + INTERVAL {dead_letters_ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;
