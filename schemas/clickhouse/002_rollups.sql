-- callpulse store, version 2: per-agent and per-queue daily roll-ups.
-- Placeholders: {database}, {upset_threshold}, {rollup_refresh}, {rollup_lookback_days}.
--
-- Why not insert-triggered materialized views: they fire on every insert, before
-- ReplacingMergeTree has collapsed anything, so a redelivered turn (or a new revision of a turn)
-- would be added to a SummingMergeTree/AggregatingMergeTree roll-up a second time. Instead:
--   * agent_daily_live / queue_daily_live are plain views over FINAL: always exact, computed at
--     query time (cost grows with the raw tables);
--   * agent_daily / queue_daily are ReplacingMergeTree(computed_at) tables that a refreshable
--     materialized view re-fills every {rollup_refresh} with the live view's rows of the last
--     {rollup_lookback_days} days (APPEND: older days keep their last values even after the raw
--     turns expired by TTL). Read them with FINAL. Re-computing from FINAL makes them immune to
--     duplicates and revisions. Backfill after late data:
--       INSERT INTO callpulse.agent_daily SELECT *, now64(3) FROM callpulse.agent_daily_live
--
-- Columns: calls (started that day), customer_turns, mean_negativity (mean over customer turns),
-- upset_share (share of customer speech time in turns with negativity >= {upset_threshold}),
-- alerts (escalation episodes that fired that day).

CREATE VIEW IF NOT EXISTS {database}.agent_daily_live AS
SELECT
    day,
    agent_id,
    toUInt64(sum(n_calls)) AS calls,
    toUInt64(sum(n_turns)) AS customer_turns,
    sum(neg_sum) / nullIf(sum(n_turns), 0) AS mean_negativity,
    sum(upset_s) / nullIf(sum(speech_s), 0) AS upset_share,
    toUInt64(sum(n_alerts)) AS alerts
FROM
(
    SELECT toDate(started_at) AS day, ifNull(agent_id, '') AS agent_id,
           1 AS n_calls, 0 AS n_turns, 0. AS neg_sum, 0. AS upset_s, 0. AS speech_s, 0 AS n_alerts
    FROM {database}.calls FINAL WHERE started_at IS NOT NULL
    UNION ALL
    SELECT day, toString(agent_id), 0, 1, negativity,
           if(negativity >= {upset_threshold}, end_s - start_s, 0.), end_s - start_s, 0
    FROM {database}.turns FINAL WHERE speaker = 'customer'
    UNION ALL
    SELECT toDate(event_time), toString(agent_id), 0, 0, 0., 0., 0., 1
    FROM {database}.alerts FINAL
)
GROUP BY day, agent_id;

CREATE VIEW IF NOT EXISTS {database}.queue_daily_live AS
SELECT
    day,
    queue,
    toUInt64(sum(n_calls)) AS calls,
    toUInt64(sum(n_turns)) AS customer_turns,
    sum(neg_sum) / nullIf(sum(n_turns), 0) AS mean_negativity,
    sum(upset_s) / nullIf(sum(speech_s), 0) AS upset_share,
    toUInt64(sum(n_alerts)) AS alerts
FROM
(
    SELECT toDate(started_at) AS day, ifNull(queue, '') AS queue,
           1 AS n_calls, 0 AS n_turns, 0. AS neg_sum, 0. AS upset_s, 0. AS speech_s, 0 AS n_alerts
    FROM {database}.calls FINAL WHERE started_at IS NOT NULL
    UNION ALL
    SELECT day, toString(queue), 0, 1, negativity,
           if(negativity >= {upset_threshold}, end_s - start_s, 0.), end_s - start_s, 0
    FROM {database}.turns FINAL WHERE speaker = 'customer'
    UNION ALL
    SELECT toDate(event_time), toString(queue), 0, 0, 0., 0., 0., 1
    FROM {database}.alerts FINAL
)
GROUP BY day, queue;

CREATE TABLE IF NOT EXISTS {database}.agent_daily
(
    day              Date,
    agent_id         String,
    calls            UInt64,
    customer_turns   UInt64,
    mean_negativity  Nullable(Float64),
    upset_share      Nullable(Float64),
    alerts           UInt64,
    computed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (day, agent_id);

CREATE TABLE IF NOT EXISTS {database}.queue_daily
(
    day              Date,
    queue            String,
    calls            UInt64,
    customer_turns   UInt64,
    mean_negativity  Nullable(Float64),
    upset_share      Nullable(Float64),
    alerts           UInt64,
    computed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (day, queue);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.agent_daily_refresh
REFRESH EVERY {rollup_refresh} APPEND TO {database}.agent_daily
AS SELECT day, agent_id, calls, customer_turns, mean_negativity, upset_share, alerts, now64(3) AS computed_at
FROM {database}.agent_daily_live
WHERE day >= today() - {rollup_lookback_days};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.queue_daily_refresh
REFRESH EVERY {rollup_refresh} APPEND TO {database}.queue_daily
AS SELECT day, queue, calls, customer_turns, mean_negativity, upset_share, alerts, now64(3) AS computed_at
FROM {database}.queue_daily_live
WHERE day >= today() - {rollup_lookback_days};
