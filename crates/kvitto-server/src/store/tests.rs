//! The store suite: every backend must pass it (run here against SQLite).
