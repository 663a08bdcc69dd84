//! The runtime's command line: `agent-runtime trader|cycle|worker|replay|check-config`.
//!
//! The runtime's `main` parses exactly this [`Command`], and the operator renders its
//! containers' arguments from a [`PodMode`], so a mode or a flag one side does not know fails a
//! unit test (which parses every rendered container's arguments with [`Command`]) rather than a
//! pod with "unrecognized subcommand".

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::ConfigPurpose;
use crate::layout::CONFIG_PATH;

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
            Mode::CheckConfig { file, config, .. } => file.as_deref().unwrap_or(&config.config),
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
            Mode::Replay { .. } | Mode::CheckConfig { .. } => None,
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
}

impl PodMode {
    /// The subcommand.
    pub fn as_str(self) -> &'static str {
        match self {
            PodMode::Trader => "trader",
            PodMode::Cycle => "cycle",
            PodMode::Worker => "worker",
        }
    }

    /// The container arguments: the subcommand and the mounted config file.
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
            PodMode::Trader | PodMode::Cycle => ConfigPurpose::Strategy,
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

    #[test]
    fn an_unknown_mode_is_refused() {
        assert!(Command::try_parse_from(["agent-runtime", "sideways", "--config", "x"]).is_err());
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
