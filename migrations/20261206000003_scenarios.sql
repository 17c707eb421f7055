-- Scenarios (seed §4.5). The orchestrator owns every table here.
--
-- A scenario is kept as written (source) and parsed (spec). Each run keeps
-- the spec and the template data it started with, so a run finishes the
-- steps it began with even if its scenario is edited or deleted meanwhile.
-- A run is started (or recorded skipped or stopped) in the same transaction
-- that evaluated its guards, under the scenario row's lock, so orchestrators
-- side by side agree on cooldowns, attempts and concurrency. A run not
-- finished is driven by the orchestrator holding its lease (leased_by,
-- lease_until); when that one dies its lease lapses and any orchestrator
-- claims it (SKIP LOCKED) and resumes at the step it was on.

CREATE TABLE scenarios (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    -- the text as written (YAML or JSON) and the checked spec
    source MEDIUMTEXT NOT NULL,
    spec JSON NOT NULL,
    enabled BOOLEAN NOT NULL,
    -- what starts it, copied from the spec for the triggers' lookups
    trigger_kind ENUM('alert', 'cron', 'manual') NOT NULL,
    trigger_rule VARCHAR(50) NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_by VARCHAR(255) NOT NULL,
    UNIQUE KEY uq_tenant_name (tenant_id, name),
    INDEX idx_rule (tenant_id, trigger_rule),
    INDEX idx_trigger (trigger_kind, enabled)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The tenant's kill switch; no row: enabled.
CREATE TABLE scenario_settings (
    tenant_id VARCHAR(50) PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    updated_by VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE scenario_runs (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    scenario_id VARCHAR(50) NOT NULL,
    scenario_name VARCHAR(100) NOT NULL,
    host_id VARCHAR(50) NULL,
    `trigger` ENUM('alert', 'cron', 'manual') NOT NULL,
    alert_id VARCHAR(50) NULL,
    -- what started it, once: alert:<alert id> or cron:<due ms>:<host>; a
    -- redelivered alert event or a second orchestrator's tick starts nothing new
    trigger_key VARCHAR(120) NULL,
    status ENUM('running', 'success', 'failed', 'skipped', 'stopped', 'dry_run') NOT NULL,
    reason TEXT NULL,
    -- the spec and the template data the run started with
    spec JSON NOT NULL,
    context JSON NOT NULL,
    started_at DATETIME(3) NOT NULL,
    -- NULL while it has steps to run (a stopped run's notice too)
    finished_at DATETIME(3) NULL,
    leased_by VARCHAR(50) NULL,
    lease_until DATETIME(3) NULL,
    UNIQUE KEY uq_trigger (scenario_id, trigger_key),
    INDEX idx_tenant_started (tenant_id, started_at, id),
    INDEX idx_scenario_host (scenario_id, host_id, started_at),
    INDEX idx_unfinished (finished_at, lease_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Each step of a run as it goes: written before it starts (running, its
-- deadline) and after it ends, so a resumed run knows where it was. seq is
-- the order of execution: the scenario's steps first, then each on_fail
-- list when its step fails (the steps after a failed one are skipped).
CREATE TABLE scenario_steps (
    run_id VARCHAR(50) NOT NULL,
    seq INT UNSIGNED NOT NULL,
    -- where in the scenario: 2, 2.on_fail.0
    path VARCHAR(200) NOT NULL,
    step_id VARCHAR(50) NOT NULL,
    kind ENUM('action', 'notify', 'verify') NOT NULL,
    status ENUM('pending', 'running', 'success', 'failed', 'skipped') NOT NULL,
    params JSON NOT NULL,
    action_id VARCHAR(50) NULL,
    detail TEXT NULL,
    started_at DATETIME(3) NULL,
    deadline DATETIME(3) NULL,
    finished_at DATETIME(3) NULL,
    PRIMARY KEY (run_id, seq),
    UNIQUE KEY uq_path (run_id, path)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A cron schedule's due instant, claimed once across orchestrators (the
-- claim and its runs commit together).
CREATE TABLE scenario_cron_ticks (
    scenario_id VARCHAR(50) NOT NULL,
    due_at DATETIME(3) NOT NULL,
    claimed_by VARCHAR(50) NOT NULL,
    claimed_at DATETIME(3) NOT NULL,
    PRIMARY KEY (scenario_id, due_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
