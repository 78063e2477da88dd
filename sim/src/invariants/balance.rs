//! Transfers move money and never make or lose it: every read of all accounts at once (a MULTI/EXEC
//! transaction is atomic, Redis's MULTI) sums to the opening total.

use jepsen::history::{Op, OpFunction, OpType};
use serde_json::Value;

use crate::workload::transfer::{ACCOUNTS, ACCOUNT_START};

/// Checks every `ok` read of the accounts in `ops`.
pub fn check_balances(ops: &[Op]) -> Result<(), String> {
    let total = ACCOUNT_START * ACCOUNTS.len() as i64;
    for op in ops {
        if op.kind == OpType::Ok && op.f == OpFunction::Read {
            let balances = op.value.as_array().ok_or("a read of the accounts is an array")?;
            let sum: i64 = balances.iter().map(|b| b.as_i64().unwrap_or(0)).sum();
            if sum != total || balances.iter().any(Value::is_null) {
                return Err(format!(
                    "op {} read balances {:?}, total {sum}, not {total}",
                    op.index, balances
                ));
            }
        }
    }
    Ok(())
}
