//! The journal's tables as a backup sees them: each column's portable kind, which the two
//! backends' DDL does not say alike (a timestamp is `TEXT` in SQLite, `TIMESTAMPTZ` in
//! PostgreSQL; an integer is `INTEGER` or `BIGINT`).
//!
//! A backup reads every column the database has and refuses a table or column missing here
//! (it would otherwise be left out silently); a unit test checks this list against the
//! migrations, so a new migration fails that test until its columns are described here.

/// How a column's values are carried in a dump, whichever backend they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Real,
    /// `INTEGER` in both backends (32-bit in PostgreSQL).
    Int4,
    /// `INTEGER` in SQLite, `BIGINT` in PostgreSQL.
    Int8,
    /// `TEXT` in SQLite, `TIMESTAMPTZ` in PostgreSQL; carried to the microsecond.
    Time,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// In the journal's column order; the first is the primary key, which orders the dump.
    pub columns: &'static [(&'static str, Kind)],
    /// PostgreSQL generates its `id` (`GENERATED ALWAYS AS IDENTITY`): loading explicit ids
    /// needs `OVERRIDING SYSTEM VALUE` and a sequence moved past them.
    pub identity: bool,
}

impl Table {
    pub fn kind(&self, column: &str) -> Option<Kind> {
        self.columns
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, kind)| *kind)
    }

    pub fn primary_key(&self) -> &'static str {
        self.columns.first().map_or("", |(name, _)| name)
    }
}

/// Columns added after backups were first taken, as (table, column, source): a dump made
/// before the column existed is loaded with the column set to the same row's `source` value.
/// A fill journalled before `fill_id` existed was its order's whole fill, keyed by the order.
pub const ADDED_LATER: &[(&str, &str, &str)] = &[("fills", "fill_id", "client_order_id")];

/// Tables that belong to the database rather than to the strategy's record: never dumped,
/// never cleared by a restore.
///
/// `provider_holds` is the LLM providers' rate-limit state (until when each asked not to be
/// called): it describes the providers' keys at one moment, not the strategy's trading, and
/// lasts seconds to minutes. A backup's holds would have ended by the time it is restored
/// (and ended holds are ignored), while a forced restore that cleared the table would drop a
/// hold still in force: so holds are neither dumped nor cleared.
pub const NOT_BACKED_UP: &[&str] = &["restores", "provider_holds"];

use Kind::{Int4, Int8, Real, Text, Time};

/// Every journal table a backup carries, in the order a restore loads them.
pub const TABLES: &[Table] = &[
    Table {
        name: "cycles",
        columns: &[
            ("cycle_id", Text),
            ("started_at", Time),
            ("finished_at", Time),
            ("status", Text),
            ("summary", Text),
        ],
        identity: false,
    },
    Table {
        name: "decisions",
        columns: &[
            ("id", Int8),
            ("cycle_id", Text),
            ("symbol", Text),
            ("action", Text),
            ("target_quantity", Real),
            ("confidence", Real),
            ("rationale", Text),
            ("reports", Text),
            ("decided_at", Time),
            ("data_window", Text),
        ],
        identity: true,
    },
    Table {
        name: "orders",
        columns: &[
            ("client_order_id", Text),
            ("cycle_id", Text),
            ("symbol", Text),
            ("side", Text),
            ("quantity", Real),
            ("reference_price", Real),
            ("status", Text),
            ("broker_order_id", Text),
            ("message", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("lease_epoch", Int4),
        ],
        identity: false,
    },
    Table {
        name: "fills",
        columns: &[
            ("id", Int8),
            ("client_order_id", Text),
            ("symbol", Text),
            ("side", Text),
            ("quantity", Real),
            ("price", Real),
            ("commission", Real),
            ("filled_at", Time),
            ("fill_id", Text),
        ],
        identity: true,
    },
    Table {
        name: "positions",
        columns: &[
            ("symbol", Text),
            ("quantity", Real),
            ("average_price", Real),
            ("updated_at", Time),
        ],
        identity: false,
    },
    Table {
        name: "equity_snapshots",
        columns: &[
            ("id", Int8),
            ("taken_at", Time),
            ("cash", Real),
            ("equity", Real),
        ],
        identity: true,
    },
    Table {
        name: "risk_rejections",
        columns: &[
            ("id", Int8),
            ("cycle_id", Text),
            ("symbol", Text),
            ("reason", Text),
            ("detail", Text),
            ("rejected_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "events",
        columns: &[
            ("id", Int8),
            ("cycle_id", Text),
            ("kind", Text),
            ("message", Text),
            ("details", Text),
            ("created_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "paper_account",
        columns: &[("id", Int4), ("cash", Real), ("updated_at", Time)],
        identity: false,
    },
    Table {
        name: "paper_orders",
        columns: &[
            ("client_order_id", Text),
            ("id", Text),
            ("symbol", Text),
            ("side", Text),
            ("quantity", Real),
            ("filled_quantity", Real),
            ("filled_average_price", Real),
            ("commission", Real),
            ("status", Text),
            ("submitted_at", Time),
            ("filled_at", Time),
        ],
        identity: false,
    },
    Table {
        name: "paper_positions",
        columns: &[
            ("symbol", Text),
            ("quantity", Real),
            ("average_price", Real),
            ("mark_price", Real),
        ],
        identity: false,
    },
    Table {
        name: "llm_calls",
        columns: &[
            ("id", Int8),
            ("day", Text),
            ("provider", Text),
            ("role", Text),
            ("prompt_tokens", Int8),
            ("completion_tokens", Int8),
            ("cost_usd", Real),
            ("called_at", Time),
        ],
        identity: true,
    },
    // Recorded LLM answers are part of the record: what a restored strategy replays.
    Table {
        name: "llm_answers",
        columns: &[
            ("key_hash", Text),
            ("key_text", Text),
            ("provider", Text),
            ("model", Text),
            ("temperature", Real),
            ("content", Text),
            ("prompt_tokens", Int8),
            ("completion_tokens", Int8),
            ("recorded_at", Time),
        ],
        identity: false,
    },
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}
