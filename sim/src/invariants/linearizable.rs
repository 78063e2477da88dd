//! Every key's history is linearizable against its model (DESIGN.md §6: a register or a counter
//! per key, checked by `jepsen`'s Wing-Gong/Lowe search).

use jepsen::checker::{check, Budget, Verdict};
use jepsen::history::Op;
use jepsen::model::ModelKind;

/// Checks `ops` against `model`, key by key.
pub fn check_linearizable(ops: &[Op], model: ModelKind) -> Result<(), String> {
    let result = check(ops, model, &Budget::default()).map_err(|e| format!("unreadable history: {e}"))?;
    match result.verdict {
        Verdict::Valid => Ok(()),
        Verdict::Invalid => Err(format!(
            "the history is not linearizable: keys {:?}, evidence {:?}",
            result.invalid_keys, result.violation
        )),
        // An unknown verdict is not a pass; it shows as a failure to look at.
        Verdict::Unknown => Err(format!("the checker ran out of budget on {:?}", result.unknown_keys)),
    }
}
