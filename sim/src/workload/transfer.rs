//! The transfer workload: MULTI/EXEC moving amounts between accounts, and reads of every account
//! at once; every read must sum to the same total ([`crate::invariants`]).

use jepsen::harness::{Completion, Recorder};
use jepsen::history::{OpFunction, OpType};
use rand::seq::SliceRandom;
use rand::Rng;
use redraft_net::resp::Frame;
use serde_json::{json, Value};

use crate::client::{int_of, Outcome, SimClient};

/// The accounts.
pub const ACCOUNTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
/// Each account's opening balance.
pub const ACCOUNT_START: i64 = 100;
/// The key the history records reads of every account under.
pub const KEY: &str = "accounts";

/// Opens every account with [`ACCOUNT_START`], before the clients start.
pub async fn set_up(probe: &mut SimClient) -> Result<(), String> {
    let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for account in ACCOUNTS {
        args.push(account.as_bytes().to_vec());
        args.push(ACCOUNT_START.to_string().into_bytes());
    }
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    match probe.call(&args).await {
        Outcome::Reply(Frame::Simple(ok)) if ok == "OK" => {}
        other => return Err(format!("transfer set-up failed: {other:?}")),
    }
    Ok(())
}

/// Transfer: MULTI/EXEC moving an amount between two accounts, or a read of every account.
pub async fn step(client: &mut SimClient, recorder: &Recorder, process: u64, roll: f64) -> bool {
    let key = KEY;
    if roll < 0.6 {
        let mut rng = madsim::rand::thread_rng();
        let from = *ACCOUNTS.choose(&mut rng).expect("accounts");
        let to = *ACCOUNTS.choose(&mut rng).expect("accounts");
        let amount = rng.gen_range(1..20).to_string();
        // Recorded for reading, not checked by the register model: the invariant is the total.
        let steps: [&[&[u8]]; 4] = [
            &[b"MULTI"],
            &[b"DECRBY", from.as_bytes(), amount.as_bytes()],
            &[b"INCRBY", to.as_bytes(), amount.as_bytes()],
            &[b"EXEC"],
        ];
        let mut last = Outcome::Lost("not sent".into());
        for step in steps {
            last = client.call(step).await;
            if last.is_unanswered() {
                break;
            }
        }
        // A transaction lost before EXEC was sent is discarded with its connection; after, unknown.
        last.completion().is_known()
    } else {
        recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
        let args: Vec<&[u8]> =
            std::iter::once(b"MGET".as_slice()).chain(ACCOUNTS.iter().map(|a| a.as_bytes())).collect();
        let (value, completion) = match client.call(&args).await {
            Outcome::Reply(Frame::Array(values)) => {
                let balances: Vec<Value> =
                    values.iter().map(|v| int_of(v).map_or(Value::Null, |n| json!(n))).collect();
                (Value::Array(balances), Completion::Ok)
            }
            other => (Value::Null, other.completion().failed_unless_unknown()),
        };
        recorder.finish(process, OpFunction::Read, key, value, completion).is_known()
    }
}
