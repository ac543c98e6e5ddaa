-- kvitto-server on PostgreSQL, schema version 1 (its own migration history,
-- separate from SQLite's). The same tables as the SQLite schema, with
-- these differences:
-- * ids and names are TEXT COLLATE "C": byte order, as in SQLite, and
--   cheaper comparisons;
-- * signing_keys holds the private half, sealed (XChaCha20-Poly1305 under
--   the key-encryption key, the kid as associated data), NULL once destroyed;
-- * receipts.kid has no foreign key: every check would take a KEY SHARE lock
--   on its workspace's one active key row, and concurrent lockers of one row
--   cost a MultiXact each; the kid always comes from that row in the same
--   transaction.
CREATE TABLE workspaces (
    workspace_id TEXT COLLATE "C" PRIMARY KEY,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE api_keys (
    key_hash TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (workspace_id),
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE signing_keys (
    kid TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (workspace_id),
    x TEXT NOT NULL,
    status TEXT NOT NULL,
    not_before_ms BIGINT NOT NULL,
    not_after_ms BIGINT,
    private_destroyed BOOLEAN NOT NULL,
    sealed_private TEXT
);
CREATE INDEX signing_keys_by_workspace ON signing_keys (workspace_id, not_before_ms);
CREATE TABLE authorizations (
    authorization_id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (workspace_id),
    grant_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    budget_spent_micros BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    revoked_by TEXT,
    next_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    head_issued_at_ms BIGINT NOT NULL
);
CREATE TABLE scope_states (
    authorization_id TEXT COLLATE "C" NOT NULL REFERENCES authorizations (authorization_id),
    scope TEXT COLLATE "C" NOT NULL,
    confirmed_until_ms BIGINT,
    confirm_denied BOOLEAN NOT NULL,
    escalation_grants BIGINT NOT NULL,
    escalation_denied BOOLEAN NOT NULL,
    day BIGINT NOT NULL,
    allowed_today BIGINT NOT NULL,
    PRIMARY KEY (authorization_id, scope)
);
CREATE TABLE receipts (
    receipt_id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    authorization_id TEXT COLLATE "C" NOT NULL REFERENCES authorizations (authorization_id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    kid TEXT COLLATE "C" NOT NULL,
    issued_at_ms BIGINT NOT NULL,
    payload TEXT NOT NULL,
    hash TEXT NOT NULL,
    sig TEXT,
    UNIQUE (authorization_id, seq)
);
CREATE INDEX receipts_unsigned ON receipts (kid, receipt_id) WHERE sig IS NULL;
CREATE INDEX receipts_by_time ON receipts (workspace_id, issued_at_ms);
CREATE TABLE confirmations (
    confirm_nonce TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    authorization_id TEXT COLLATE "C" NOT NULL REFERENCES authorizations (authorization_id),
    scope TEXT COLLATE "C" NOT NULL,
    target TEXT,
    status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    resolved_at_ms BIGINT
);
CREATE TABLE escalations (
    escalation_id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    authorization_id TEXT COLLATE "C" NOT NULL REFERENCES authorizations (authorization_id),
    scope TEXT COLLATE "C" NOT NULL,
    target TEXT,
    status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    resolved_at_ms BIGINT
);
CREATE TABLE idempotency (
    workspace_id TEXT COLLATE "C" NOT NULL,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    CONSTRAINT idempotency_pkey PRIMARY KEY (workspace_id, idempotency_key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at_ms);
CREATE TABLE bundles (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (workspace_id),
    bundle_id TEXT COLLATE "C" NOT NULL,
    bundle_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, bundle_id)
);
