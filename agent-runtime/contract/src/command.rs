//! The runtime's command line: `agent-runtime trader|cycle|worker|replay|check-config|backup|
//! restore|backups list`.
//!
//! The runtime's `main` parses exactly this [`Command`], and the operator renders its
//! containers' arguments from a [`PodMode`], so a mode or a flag one side does not know fails a
//! unit test (which parses every rendered container's arguments with [`Command`]) rather than a
//! pod with "unrecognized subcommand".

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::backup::{
    BackupJob, Destination, KeepWithin, RestoreJob, Retention, S3Location, normalize_prefix,
};
use crate::config::ConfigPurpose;
use crate::layout::{BACKUP_CREDENTIALS_DIR, CONFIG_PATH};

#[derive(Parser, Debug)]
#[command(name = "agent-runtime", version, about = "Tradeplane agent runtime")]
pub struct Command {
    /// Log format: `json` for clusters, `text` for a terminal.
    #[arg(
        long,
        global = true,
        env = "TRADEPLANE_LOG_FORMAT",
        default_value = "json"
    )]
    pub log_format: LogFormat,
    /// A kubeconfig for the Lease and status writes when the process does not run in a pod
    /// (in a pod the service account's token is used).
    #[arg(long, global = true, env = "TRADEPLANE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The address to serve on instead of the config's `server.listen` — for a pod on the
    /// host's network, where every pod needs a port of its own (the local cluster's real node
    /// sets it per pod; the operator never does).
    #[arg(long, global = true, env = "TRADEPLANE_LISTEN")]
    pub listen: Option<String>,
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Subcommand, Debug)]
pub enum Mode {
    /// Trade continuously on the schedule (a strategy's Deployment).
    Trader(ConfigFile),
    /// Run one cycle and exit (a CronJob).
    Cycle(ConfigFile),
    /// Serve analyses for an AgentPool.
    Worker(ConfigFile),
    /// Replay the configured history as fast as possible with instant in-memory fills and
    /// print a summary: a backtest, and the demo.
    Replay {
        #[command(flatten)]
        config: ConfigFile,
        /// Stop after this many cycles.
        #[arg(long)]
        max_cycles: Option<usize>,
        /// Also write the journal as JSON lines to this file.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Replay through the journal-backed paper broker into this SQLite journal (slower;
        /// shows exactly what a paper-trading strategy would have journalled).
        #[arg(long)]
        journal_db: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Backtest the configured strategy over recorded bars: the trader's own pipeline
    /// (analysts, debate, decision, risk, orders) against a simulated broker; prints a JSON
    /// summary of the run's statistics. Refuses any broker but the simulated (paper) one.
    Backtest(Box<BacktestArgs>),
    /// Validate a config and print every problem, naming the field; starts nothing.
    CheckConfig {
        /// The file to check (the same as `--config`).
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigFile,
        /// Check it as an AgentPool (worker) config rather than a strategy's.
        #[arg(long)]
        worker: bool,
    },
    /// Back the strategy's journal up to a destination, verify it, then prune by the
    /// retention policy (a backup Job).
    Backup(BackupArgs),
    /// Load a backup into the strategy's journal, which must be empty (a restore step).
    Restore(RestoreArgs),
    /// Look at the backups a destination holds.
    Backups {
        #[command(subcommand)]
        command: BackupsCommand,
    },
}

/// How the simulated broker fills an order decided at a bar's close.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum FillModel {
    /// At the next bar's open (the decision could not have traded earlier).
    #[default]
    NextOpen,
    /// At the deciding bar's close.
    Close,
}

/// What a backtest's LLM seats do with the providers and the journal's answer store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LlmMode {
    /// Call the providers as a trader does; store nothing.
    #[default]
    Off,
    /// Call the providers (within `--max-cost-usd`) and store every answer in the journal.
    Record,
    /// Answer only from the journal's store: no provider is called, nothing is spent.
    Replay,
}

/// `agent-runtime backtest`: the execution settings default to the config's paper broker.
#[derive(Args, Debug)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    /// A CSV file or directory of CSV files; defaults to `marketData.path`.
    #[arg(long, conflicts_with_all = ["data_s3_bucket", "data_api_url"])]
    pub data: Option<PathBuf>,
    /// Fetch the bars of the config's symbols from this Alpaca-compatible market data API
    /// (e.g. `https://data.alpaca.markets`) instead of `--data`.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "data_s3_bucket",
        requires_all = ["data_api_start", "data_api_end", "data_api_credentials_dir"]
    )]
    pub data_api_url: Option<String>,
    /// The first bar time to fetch (RFC 3339, e.g. `2020-01-01T00:00:00Z`).
    #[arg(long, value_name = "TIME", requires = "data_api_url")]
    pub data_api_start: Option<String>,
    /// The end of the bars to fetch (RFC 3339); must be after `--data-api-start`.
    #[arg(long, value_name = "TIME", requires = "data_api_url")]
    pub data_api_end: Option<String>,
    /// The bar timeframe, e.g. `1Day`, `1Hour`, `15Min`.
    #[arg(long, value_name = "TIMEFRAME", default_value = "1Day")]
    pub data_api_timeframe: String,
    /// A directory holding the API key files `broker-key-id` and `broker-secret-key` (a
    /// mounted Secret, as a trader has them): keys never travel as flags.
    #[arg(long, value_name = "DIR", requires = "data_api_url")]
    pub data_api_credentials_dir: Option<PathBuf>,
    /// Read the bars from an object of this S3-compatible bucket instead of `--data`.
    #[arg(long, value_name = "BUCKET", requires_all = ["data_s3_key", "data_s3_credentials_dir"])]
    pub data_s3_bucket: Option<String>,
    /// The object's key, e.g. `bars/SPY.csv`; its last segment is the file name the CSV
    /// reader sees (`SYMBOL.csv`, or a long file with a `symbol` column).
    #[arg(long, value_name = "KEY", requires = "data_s3_bucket")]
    pub data_s3_key: Option<String>,
    /// Endpoint of the S3-compatible service. Default: AWS S3.
    #[arg(long, value_name = "URL", requires = "data_s3_bucket")]
    pub data_s3_endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    #[arg(long, value_name = "REGION", requires = "data_s3_bucket")]
    pub data_s3_region: Option<String>,
    /// A directory holding the files `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (a
    /// mounted Secret): keys never travel as flags.
    #[arg(long, value_name = "DIR", requires = "data_s3_bucket")]
    pub data_s3_credentials_dir: Option<PathBuf>,
    /// When an order fills: `next-open` or `close`.
    #[arg(long, value_enum, default_value_t = FillModel::NextOpen)]
    pub fill: FillModel,
    /// Starting cash; defaults to the paper broker's `startingCash`.
    #[arg(long)]
    pub cash: Option<f64>,
    /// Commission in basis points of notional; defaults to the paper broker's.
    #[arg(long)]
    pub commission_bps: Option<f64>,
    /// Slippage in basis points against the trader; defaults to the paper broker's.
    #[arg(long)]
    pub slippage_bps: Option<f64>,
    /// Accept daily bars with missing days (otherwise a gap is an error naming its line).
    #[arg(long)]
    pub allow_gaps: bool,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// LLM answers: `off` (call the providers), `record` (call and store them in the
    /// journal), `replay` (answer only from the journal's store).
    #[arg(long, value_enum, default_value_t = LlmMode::Off)]
    pub llm: LlmMode,
    /// The most the run may spend on LLM calls, in US dollars; required by `--llm record`.
    /// Once a call could pass it, no further call is made and the seat falls back.
    #[arg(long, value_name = "USD")]
    pub max_cost_usd: Option<f64>,
    /// Write the results artifact (the sampled equity curve beside buy-and-hold, and the
    /// fills; `docs/backtest.md`) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Write the results artifact into this ConfigMap of the config's namespace (key
    /// `results.json`), with the pod's token: how a Backtest's run keeps it by default.
    #[arg(long, value_name = "NAME", conflicts_with = "results_s3_bucket")]
    pub results_config_map: Option<String>,
    /// Upload the results artifact to this S3-compatible bucket.
    #[arg(long, value_name = "BUCKET", requires_all = ["results_s3_key", "results_s3_credentials_dir"])]
    pub results_s3_bucket: Option<String>,
    /// The artifact's object key, e.g. `backtests/sma/<uid>/run-3.json`.
    #[arg(long, value_name = "KEY", requires = "results_s3_bucket")]
    pub results_s3_key: Option<String>,
    /// Endpoint of the S3-compatible service. Default: AWS S3.
    #[arg(long, value_name = "URL", requires = "results_s3_bucket")]
    pub results_s3_endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    #[arg(long, value_name = "REGION", requires = "results_s3_bucket")]
    pub results_s3_region: Option<String>,
    /// A directory holding the files `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (a
    /// mounted Secret): keys never travel as flags.
    #[arg(long, value_name = "DIR", requires = "results_s3_bucket")]
    pub results_s3_credentials_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum BackupsCommand {
    /// Print the backups at a destination, newest first.
    List {
        #[command(flatten)]
        destination: DestinationArgs,
        /// Print them as JSON (the manifests).
        #[arg(long)]
        json: bool,
    },
}

/// Where backups are: exactly one of `--dir` and `--s3-bucket`.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct DestinationArgs {
    /// A directory (the backup volume's mount).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "s3_bucket",
        conflicts_with = "s3_bucket"
    )]
    pub dir: Option<PathBuf>,
    /// An S3-compatible bucket.
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix in the bucket. Default: the bucket's root.
    #[arg(
        long,
        value_name = "PREFIX",
        requires = "s3_bucket",
        conflicts_with = "dir"
    )]
    pub s3_prefix: Option<String>,
    /// The S3 service's URL. Default: AWS S3.
    #[arg(
        long,
        value_name = "URL",
        requires = "s3_bucket",
        conflicts_with = "dir"
    )]
    pub s3_endpoint: Option<String>,
    /// Default `us-east-1`.
    #[arg(
        long,
        value_name = "REGION",
        requires = "s3_bucket",
        conflicts_with = "dir"
    )]
    pub s3_region: Option<String>,
    /// Directory with the files `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (the
    /// credentials Secret, mounted). Default `/etc/tradeplane/backup-credentials`.
    #[arg(
        long,
        value_name = "DIR",
        requires = "s3_bucket",
        conflicts_with = "dir"
    )]
    pub s3_credentials_dir: Option<PathBuf>,
}

impl DestinationArgs {
    /// The destination these flags name; None only if neither `--dir` nor `--s3-bucket` was
    /// given, which the parser refuses.
    pub fn destination(&self) -> Option<Destination> {
        if let Some(path) = &self.dir {
            return Some(Destination::Directory { path: path.clone() });
        }
        let bucket = self.s3_bucket.clone()?;
        Some(Destination::S3(S3Location {
            bucket,
            prefix: self
                .s3_prefix
                .as_deref()
                .map(normalize_prefix)
                .unwrap_or_default(),
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            credentials_dir: self
                .s3_credentials_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(BACKUP_CREDENTIALS_DIR)),
        }))
    }
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    #[command(flatten)]
    pub destination: DestinationArgs,
    /// Keep at least the newest N backups.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
    /// Keep every backup younger than this (`36h`, `7d`, `2w`).
    #[arg(long, value_name = "AGE")]
    pub keep_within: Option<KeepWithin>,
    /// Write the result to the strategy's `status.backupReport`.
    #[arg(long)]
    pub report_status: bool,
}

impl BackupArgs {
    /// The job these flags describe (None: no destination, which the parser refuses).
    pub fn job(&self) -> Option<BackupJob> {
        Some(BackupJob {
            destination: self.destination.destination()?,
            retention: Retention {
                keep_last: self.keep_last,
                keep_within: self.keep_within,
            },
            report_status: self.report_status,
        })
    }
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    #[command(flatten)]
    pub destination: DestinationArgs,
    /// The backup to load. Default: the newest good one.
    #[arg(long, value_name = "NAME")]
    pub backup: Option<String>,
    /// Only backups of this strategy.
    #[arg(long, value_name = "STRATEGY")]
    pub from_strategy: Option<String>,
    /// Replace the journal's contents even when it is not empty.
    #[arg(long)]
    pub force: bool,
    /// Do nothing (and succeed) when the journal already holds a restore.
    #[arg(long)]
    pub once: bool,
    /// Write the result to the strategy's `status.restoreReport`.
    #[arg(long)]
    pub report_status: bool,
}

impl RestoreArgs {
    /// The job these flags describe (None: no destination, which the parser refuses).
    pub fn job(&self) -> Option<RestoreJob> {
        Some(RestoreJob {
            destination: self.destination.destination()?,
            backup: self.backup.clone(),
            from_strategy: self.from_strategy.clone(),
            force: self.force,
            once: self.once,
            report_status: self.report_status,
        })
    }
}

#[derive(Args, Debug)]
pub struct ConfigFile {
    /// The runtime config (YAML or JSON) the operator rendered.
    #[arg(long, short, env = "TRADEPLANE_CONFIG", default_value = CONFIG_PATH)]
    pub config: PathBuf,
}

impl Mode {
    /// The config file this mode reads.
    pub fn config_path(&self) -> &Path {
        match self {
            Mode::Trader(c) | Mode::Cycle(c) | Mode::Worker(c) => &c.config,
            Mode::Replay { config, .. } => &config.config,
            Mode::Backtest(args) => &args.config.config,
            Mode::CheckConfig { file, config, .. } => file.as_deref().unwrap_or(&config.config),
            Mode::Backup(args) => &args.config.config,
            Mode::Restore(args) => &args.config.config,
            // Reads no config; the default path keeps this total.
            Mode::Backups { .. } => Path::new(CONFIG_PATH),
        }
    }

    /// What the config is checked as: a worker serves a pool, everything else runs a strategy.
    pub fn purpose(&self) -> ConfigPurpose {
        match self {
            Mode::Worker(_) | Mode::CheckConfig { worker: true, .. } => ConfigPurpose::AgentPool,
            _ => ConfigPurpose::Strategy,
        }
    }

    /// The pod mode this is, for the modes the operator starts pods in.
    pub fn pod_mode(&self) -> Option<PodMode> {
        match self {
            Mode::Trader(_) => Some(PodMode::Trader),
            Mode::Cycle(_) => Some(PodMode::Cycle),
            Mode::Worker(_) => Some(PodMode::Worker),
            Mode::Backup(_) => Some(PodMode::Backup),
            Mode::Restore(_) => Some(PodMode::Restore),
            Mode::Replay { .. }
            | Mode::Backtest(_)
            | Mode::CheckConfig { .. }
            | Mode::Backups { .. } => None,
        }
    }
}

/// The modes the operator runs the runtime's containers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodMode {
    /// A strategy's Deployment: cycles on the schedule until SIGTERM.
    Trader,
    /// A strategy's CronJob: one cycle, then exit.
    Cycle,
    /// An AgentPool's Deployment: the analysis API.
    Worker,
    /// A backup Job (scheduled or `backupNowAt`): its arguments are [`BackupJob::args`].
    Backup,
    /// A restore step before the trader starts: its arguments are [`RestoreJob::args`].
    Restore,
}

impl PodMode {
    /// The subcommand.
    pub fn as_str(self) -> &'static str {
        match self {
            PodMode::Trader => "trader",
            PodMode::Cycle => "cycle",
            PodMode::Worker => "worker",
            PodMode::Backup => "backup",
            PodMode::Restore => "restore",
        }
    }

    /// The container arguments: the subcommand and the mounted config file. Complete for
    /// trader, cycle and worker; `Backup` and `Restore` also need their destination, so render
    /// those with [`BackupJob::args`] and [`RestoreJob::args`] (the runtime refuses them
    /// without one).
    pub fn args(self) -> Vec<String> {
        vec![
            self.as_str().to_string(),
            "--config".to_string(),
            CONFIG_PATH.to_string(),
        ]
    }

    /// What the config of a pod in this mode must be valid as.
    pub fn purpose(self) -> ConfigPurpose {
        match self {
            PodMode::Trader | PodMode::Cycle | PodMode::Backup | PodMode::Restore => {
                ConfigPurpose::Strategy
            }
            PodMode::Worker => ConfigPurpose::AgentPool,
        }
    }

    /// Whether the process keeps running (and so has liveness and readiness probes), rather
    /// than exiting when its work is done.
    pub fn is_long_running(self) -> bool {
        matches!(self, PodMode::Trader | PodMode::Worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pod_mode_parses_back_to_itself_with_the_mounted_config() {
        for mode in [PodMode::Trader, PodMode::Cycle, PodMode::Worker] {
            let args = std::iter::once("agent-runtime".to_string()).chain(mode.args());
            let command = Command::try_parse_from(args).unwrap();
            assert_eq!(command.mode.pod_mode(), Some(mode));
            assert_eq!(command.mode.config_path(), Path::new(CONFIG_PATH));
            assert_eq!(command.mode.purpose(), mode.purpose());
        }
    }

    fn parse(args: Vec<String>) -> Mode {
        let args = std::iter::once("agent-runtime".to_string()).chain(args);
        Command::try_parse_from(args).unwrap().mode
    }

    fn s3() -> Destination {
        Destination::S3(S3Location {
            bucket: "backups".into(),
            prefix: "trading/momentum".into(),
            endpoint: Some("http://minio.storage:9000".into()),
            region: Some("eu-west-1".into()),
            credentials_dir: BACKUP_CREDENTIALS_DIR.into(),
        })
    }

    #[test]
    fn every_backup_job_parses_back_to_itself() {
        let directory = Destination::Directory {
            path: crate::layout::BACKUP_DIR.into(),
        };
        for destination in [directory, s3()] {
            for retention in [
                Retention::default(),
                Retention {
                    keep_last: Some(7),
                    keep_within: Some("36h".parse().unwrap()),
                },
            ] {
                let job = BackupJob {
                    destination: destination.clone(),
                    retention,
                    report_status: true,
                };
                let Mode::Backup(args) = parse(job.args()) else {
                    panic!("not a backup: {:?}", job.args());
                };
                assert_eq!(args.job(), Some(job));
                assert_eq!(args.config.config, Path::new(CONFIG_PATH));
                assert_eq!(
                    parse(BackupJob::args(&args.job().unwrap())).pod_mode(),
                    Some(PodMode::Backup)
                );
            }
        }
    }

    #[test]
    fn every_restore_job_parses_back_to_itself() {
        for (backup, from, force, once) in [
            (None, None, false, true),
            (
                Some("momentum-20260101T000000.000Z"),
                Some("momentum"),
                true,
                false,
            ),
        ] {
            let job = RestoreJob {
                destination: s3(),
                backup: backup.map(str::to_string),
                from_strategy: from.map(str::to_string),
                force,
                once,
                report_status: true,
            };
            let Mode::Restore(args) = parse(job.args()) else {
                panic!("not a restore: {:?}", job.args());
            };
            assert_eq!(args.job(), Some(job.clone()));
            assert_eq!(args.config.config, Path::new(CONFIG_PATH));
            assert_eq!(parse(job.args()).pod_mode(), Some(PodMode::Restore));
        }
    }

    /// The message clap refuses `args` with; a panic when they parse.
    fn refusal<'a>(args: impl IntoIterator<Item = &'a str> + Clone) -> String {
        let shown: Vec<&str> = args.clone().into_iter().collect();
        match Command::try_parse_from(args) {
            Ok(command) => panic!("{shown:?} parsed: {command:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_destination_is_exactly_one_of_a_directory_and_a_bucket() {
        let try_parse = |args: &[&str]| Command::try_parse_from(args).map(|c| c.mode);
        let missing = refusal(["agent-runtime", "backups", "list"]);
        // clap names the one it requires unless the other is there.
        assert!(missing.contains("--dir"), "{missing}");
        let both = refusal([
            "agent-runtime",
            "backups",
            "list",
            "--dir",
            "d",
            "--s3-bucket",
            "b",
        ]);
        assert!(
            both.contains("--dir") && both.contains("--s3-bucket"),
            "{both}"
        );
        // S3 flags without a bucket are refused rather than ignored.
        let prefix_alone = refusal([
            "agent-runtime",
            "backups",
            "list",
            "--dir",
            "d",
            "--s3-prefix",
            "p",
        ]);
        assert!(prefix_alone.contains("--s3-prefix"), "{prefix_alone}");
        let Ok(Mode::Backups {
            command: BackupsCommand::List { destination, .. },
        }) = try_parse(&[
            "agent-runtime",
            "backups",
            "list",
            "--s3-bucket",
            "b",
            "--s3-prefix",
            "/a/b/",
        ])
        else {
            panic!("backups list --s3-bucket did not parse");
        };
        let Some(Destination::S3(location)) = destination.destination() else {
            panic!("not S3");
        };
        assert_eq!(location.prefix, "a/b");
        assert_eq!(location.credentials_dir, Path::new(BACKUP_CREDENTIALS_DIR));
    }

    #[test]
    fn retention_flags_are_checked_by_the_parser() {
        for bad in [["--keep-last", "0"], ["--keep-within", "7m"]] {
            let args = ["agent-runtime", "backup", "--dir", "d"]
                .into_iter()
                .chain(bad);
            let message = refusal(args);
            assert!(message.contains(bad[0]), "{bad:?}: {message}");
        }
    }

    #[test]
    fn an_unknown_mode_is_refused() {
        let message = refusal(["agent-runtime", "sideways", "--config", "x"]);
        assert!(message.contains("sideways"), "{message}");
    }

    #[test]
    fn check_config_reads_the_named_file_as_a_worker_config_when_asked() {
        let command =
            Command::try_parse_from(["agent-runtime", "check-config", "a.yaml", "--worker"])
                .unwrap();
        assert_eq!(command.mode.config_path(), Path::new("a.yaml"));
        assert_eq!(command.mode.purpose(), ConfigPurpose::AgentPool);
        assert_eq!(command.mode.pod_mode(), None);
    }
}
