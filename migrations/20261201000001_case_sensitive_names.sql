-- Container and service names compare case-sensitively, as the runtimes and
-- init systems treat them: `Web` and `web` in one snapshot are two
-- containers. With the default case-insensitive collation the second one hit
-- the first one's primary key and was silently dropped. Owner: collector.

ALTER TABLE metrics_container
    MODIFY container_name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE metrics_service
    MODIFY service_name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
