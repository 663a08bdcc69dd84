//! Where a runtime pod finds what the operator mounts for it, and the port it serves on.
//!
//! The operator renders the volumes and the config's file paths from these names; the runtime
//! reads them. Keeping them here, beside the config, means a path cannot be renamed on one
//! side only.

/// Where the config Secret is mounted, and the file in it.
pub const CONFIG_DIR: &str = "/etc/tradeplane/config";
pub const CONFIG_FILE: &str = "config.yaml";
/// The config file a pod reads: [`CONFIG_DIR`]/[`CONFIG_FILE`].
pub const CONFIG_PATH: &str = "/etc/tradeplane/config/config.yaml";
/// Where the credentials Secret is mounted.
pub const CREDENTIALS_DIR: &str = "/etc/tradeplane/credentials";
/// Where the journal volume is mounted (SQLite).
pub const JOURNAL_DIR: &str = "/var/lib/tradeplane";
/// Where a backup volume (a directory destination, or a restore's source) is mounted.
pub const BACKUP_DIR: &str = "/var/lib/tradeplane-backups";
/// Where the S3 destination's credentials Secret is mounted (see `backup::S3_ACCESS_KEY_ID`).
pub const BACKUP_CREDENTIALS_DIR: &str = "/etc/tradeplane/backup-credentials";
/// The port of `/healthz`, `/readyz`, `/metrics` (and a worker's API).
pub const HTTP_PORT: i32 = 8080;

/// Keys of the credentials Secret, which are the file names under [`CREDENTIALS_DIR`].
pub const BROKER_KEY_ID: &str = "broker-key-id";
pub const BROKER_SECRET_KEY: &str = "broker-secret-key";
pub const JOURNAL_URL: &str = "journal-url";

/// The credentials key (and file name) of an LLM provider's API key.
pub fn provider_key(provider: &str) -> String {
    format!("provider-{provider}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_path_is_the_file_in_the_config_directory() {
        assert_eq!(CONFIG_PATH, format!("{CONFIG_DIR}/{CONFIG_FILE}"));
    }
}
