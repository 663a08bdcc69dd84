//! The command line, after kubectl's conventions: `-n/--namespace`, `--context`,
//! `--kubeconfig`, `-o json|yaml`, one subcommand per thing a user does.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-tradeplane",
    bin_name = "kubectl tradeplane",
    version,
    about = "Inspect and operate Tradeplane TradingStrategies with your own kubeconfig",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where to look: the usual kubeconfig resolution, narrowed by these flags.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// The namespace of the strategy. Default: the context's namespace, else `default`.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig context to use. Default: the current context.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The kubeconfig file. Default: `KUBECONFIG`, else ~/.kube/config.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One screen: phase, replicas, equity, positions, recent decisions, orders, spend,
    /// backups, and what is not fine.
    Status(StatusArgs),
    /// The journal's decisions, orders, fills and LLM spend, newest last.
    Journal(JournalArgs),
    /// One cycle in full: data, reports, debate, decision, risk check, orders.
    Explain(ExplainArgs),
    /// Halt trading (spec.suspend=true); waits until the operator reports it Halted.
    Suspend(ActionArgs),
    /// Undo suspend; waits until the operator has taken it in.
    Resume(ActionArgs),
    /// Restart the runtime pods (spec.restartAt); waits for status.lastRestartAt.
    Restart(ActionArgs),
    /// Hand the leadership to a standby (spec.switchoverAt); waits for
    /// status.lastSwitchoverAt.
    Switchover(ActionArgs),
    /// Take a backup now (spec.backup.backupNowAt); waits for it and prints its name, size,
    /// rows and checksum.
    Backup(ActionArgs),
    /// Print (or with --apply create) a new strategy restoring a backup of another.
    Restore(RestoreArgs),
    /// The leader's logs (or every replica's), JSON lines made readable.
    Logs(LogsArgs),
    /// A support bundle (zip): the strategy, its account and pool, children, Events, logs
    /// and journal summary, every Secret value redacted.
    Report(ReportArgs),
    /// The plugin's version, and the operator's and runtimes' in the cluster.
    Version(VersionArgs),
    /// A shell completion script, e.g. `kubectl tradeplane completion bash`.
    Completion(CompletionArgs),
    /// A Shadow strategy's analysis (status.rollout) and the live and shadow decisions side
    /// by side where they differ.
    Rollout(crate::rollout::RolloutArgs),
    /// Promote a shadow that passed (annotation tradeplane.io/promote-shadow); waits until the
    /// live pods run its revision.
    Promote(crate::rollout::ShadowActionArgs),
    /// Abort a shadow (annotation tradeplane.io/abort-shadow): it is removed, the live pods
    /// keep their revision; waits for the operator to report it.
    Abort(crate::rollout::ShadowActionArgs),
    /// A Backtest's result table: its best runs (or every run with --all).
    Backtest(crate::backtest::BacktestArgs),
    /// A web console on this machine (http://127.0.0.1:9898/): every strategy live, charts,
    /// the decision timeline and the actions, all as you.
    Dashboard(crate::dashboard::DashboardArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The TradingStrategy.
    pub name: String,
    /// Print the gathered data instead of the screen.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Redraw every `--interval` until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Time between redraws with --watch, e.g. `2s`.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JournalKind {
    Decisions,
    Orders,
    Fills,
    Llm,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The TradingStrategy.
    pub name: String,
    /// Only entries younger than this, e.g. `30m`, `1h`, `2d`.
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only this symbol.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only this kind. Default: decisions, orders and fills together.
    #[arg(long, value_enum)]
    pub kind: Option<JournalKind>,
    /// Keep printing new entries until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Most entries of each kind to read, 1-1000.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print the journal API's items instead of lines.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The TradingStrategy.
    pub name: String,
    /// The cycle's id, as `journal` and `status` show it (e.g. `20240520T000000Z`).
    pub cycle: String,
    /// Print the journal API's cycle detail instead of the text.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// The TradingStrategy.
    pub name: String,
    /// How long to wait for the operator to confirm, e.g. `2m`.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The new TradingStrategy.
    pub name: String,
    /// The strategy whose backup to restore (its spec is copied).
    #[arg(long)]
    pub from: String,
    /// The backup's name, as `backup` or the old strategy's status.lastBackup shows it.
    /// Default: the newest.
    #[arg(long)]
    pub backup: Option<String>,
    /// Create the strategy and wait until the operator reports the restore, instead of
    /// printing its manifest.
    #[arg(long)]
    pub apply: bool,
    /// How long --apply waits, e.g. `10m`.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The manifest's format. Default: yaml.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The TradingStrategy.
    pub name: String,
    /// Every replica's logs, each line prefixed with its pod. Default: the leader's only.
    #[arg(long)]
    pub all: bool,
    /// Keep printing new lines until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines younger than this, e.g. `10m`.
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only the last N lines of each pod.
    #[arg(long)]
    pub tail: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The TradingStrategy.
    pub name: String,
    /// The zip file to write. Default: `report-NAME.zip`.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the plugin's version; ask the cluster nothing.
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

/// A duration as kubectl writes them: `45s`, `30m`, `1h`, `2d`, or several, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("'{text}' is not a duration; write e.g. 45s, 30m, 1h, 2d or 1h30m");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-tradeplane").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_are_read_as_kubectl_writes_them() {
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "1", "h", "1x", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn status_takes_the_kubectl_flags_before_or_after_the_subcommand() {
        let cli = parse(&["-n", "desk", "status", "momo", "-o", "yaml", "--watch"]);
        let Ok(Cli {
            global,
            command: Command::Status(args),
        }) = cli
        else {
            panic!("not parsed as status: {cli:?}");
        };
        assert_eq!(global.namespace.as_deref(), Some("desk"));
        assert_eq!(args.name, "momo");
        assert_eq!(args.output, Some(OutputFormat::Yaml));
        assert!(args.watch);

        let cli = parse(&["status", "momo", "--context", "prod", "-n", "desk"]);
        assert!(
            matches!(&cli, Ok(Cli { global, .. }) if global.namespace.as_deref() == Some("desk") && global.context.as_deref() == Some("prod")),
            "{cli:?}"
        );
    }

    #[test]
    fn journal_reads_since_symbol_kind_and_follow() {
        let cli = parse(&[
            "journal", "momo", "--since", "1h", "--symbol", "AAPL", "--kind", "fills", "-f",
        ]);
        let Ok(Cli {
            command: Command::Journal(args),
            ..
        }) = cli
        else {
            panic!("not parsed as journal: {cli:?}");
        };
        assert_eq!(args.since, Some(Duration::from_secs(3600)));
        assert_eq!(args.symbol.as_deref(), Some("AAPL"));
        assert_eq!(args.kind, Some(JournalKind::Fills));
        assert!(args.follow);
        assert_eq!(args.limit, 20);
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        assert!(parse(&["journal", "momo", "--kind", "trades"]).is_err());
        assert!(parse(&["journal", "momo", "--limit", "5000"]).is_err());
        assert!(parse(&["status", "momo", "-o", "wide"]).is_err());
        assert!(parse(&["explain", "momo"]).is_err());
        let error = parse(&["restart", "momo", "--timeout", "soon"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("not a duration"), "{error}");
    }

    #[test]
    fn actions_default_to_a_two_minute_timeout() {
        let cli = parse(&["switchover", "momo"]);
        assert!(
            matches!(&cli, Ok(Cli { command: Command::Switchover(a), .. }) if a.timeout == Duration::from_secs(120)),
            "{cli:?}"
        );
    }
}
