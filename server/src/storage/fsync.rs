//! When appended entries are synced: Redis's `appendfsync` policies, as users know them
//! (DESIGN.md §2). Anything weaker than `always` is a documented, opt-in loss window.

use serde::{Deserialize, Serialize};

/// When appended entries are synced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Before an entry counts as durable; many appends share one sync (group commit).
    #[default]
    Always,
    /// Once a second; up to a second of acknowledged writes can be lost in a crash.
    Everysec,
    /// Never explicitly; the operating system decides.
    No,
}

impl FsyncPolicy {
    /// The policy's name, as in the configuration file, the flag and `CONFIG GET appendfsync`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Everysec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name is the one serde and clap read back, so every spelling of a policy agrees.
    #[test]
    fn the_name_reads_back_as_the_policy() {
        for policy in [FsyncPolicy::Always, FsyncPolicy::Everysec, FsyncPolicy::No] {
            let from_serde: FsyncPolicy =
                serde_json::from_str(&format!("\"{}\"", policy.as_str())).expect("serde reads the name");
            assert_eq!(from_serde, policy);
            let from_clap = <FsyncPolicy as clap::ValueEnum>::from_str(policy.as_str(), false);
            assert_eq!(from_clap, Ok(policy));
        }
    }
}
