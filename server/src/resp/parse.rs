//! Parsing a data command as a connection takes it: core's parser, then, for a command that
//! picks at random (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY), a seed drawn here, on
//! the node that took it. A write carries its seed through the log, so every replica picks the
//! same members; core itself holds no randomness.

use bytes::Bytes;
use redraft_core::{Command, ParseError};

use crate::metrics::CommandLabel;

/// Parses `args` as [`Command::parse`] does and draws the seed of a command that needs one.
pub fn parse(args: &[Bytes]) -> Result<Command, ParseError> {
    seeded(Command::parse(args)?)
}

/// As [`parse`], for a request whose command was looked up already: `label` is its name's.
pub fn parse_labelled(label: CommandLabel, args: &[Bytes]) -> Result<Command, ParseError> {
    let name = label.data_command().ok_or(ParseError::UnknownCommand)?;
    seeded(Command::parse_named(name, args)?)
}

fn seeded(mut command: Command) -> Result<Command, ParseError> {
    if let Some(seed) = command.seed_mut() {
        *seed = rand::Rng::gen(&mut crate::fault::rng());
    }
    Ok(command)
}
