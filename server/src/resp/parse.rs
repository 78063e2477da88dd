//! Parsing a data command as a connection takes it: core's parser, then, for a command that
//! picks at random (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY), a seed drawn here, on
//! the node that took it. A write carries its seed through the log, so every replica picks the
//! same members; core itself holds no randomness.

use bytes::Bytes;
use redraft_core::{Command, ParseError};

/// Parses `args` as [`Command::parse`] does and draws the seed of a command that needs one.
pub fn parse(args: &[Bytes]) -> Result<Command, ParseError> {
    let mut command = Command::parse(args)?;
    if let Some(seed) = command.seed_mut() {
        *seed = rand::Rng::gen(&mut crate::fault::rng());
    }
    Ok(command)
}
