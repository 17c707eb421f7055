-- Hourly aggregates (filled by the collector's downsampling, see
-- services/collector/src/downsample.rs) also keep the memory total, so a
-- reader can show memory as a percentage, and how many snapshots the hour
-- held. Owner: collector.

ALTER TABLE metrics_host_hourly
    ADD COLUMN memory_total BIGINT UNSIGNED NULL AFTER memory_max,
    ADD COLUMN samples INT UNSIGNED NOT NULL DEFAULT 0;
