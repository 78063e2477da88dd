//! `redraft-server restore FILE`: the data directory of a new cluster's node, made from a backup
//! (`GET /v1/snapshot`, `redraft-cli snapshot save`), as `etcdutl snapshot restore` does. The
//! snapshot is checked whole, its membership replaced by the new cluster's (`--peers`, or this
//! node alone), and written as the node's snapshot; the node starts from it with an empty log,
//! and the nodes elect a leader as after any restart. Run it once per node, with the same file
//! and `--peers`.
//!
//! The new cluster gets a new cluster id (`--cluster-id` to choose it), recorded in the data
//! directory (`cluster-id`): a restored node refuses to start under another, so it cannot be
//! mixed with the cluster it was backed up from by mistake.

use std::io::{BufReader, BufWriter};
use std::path::Path;

use crate::addr::NodeAddr;
use crate::config::ServerConfig;
use crate::node::options::CLUSTER_ID_DEFAULT;
use crate::storage::disk::Disk;
use crate::storage::file_disk::FileDisk;
use crate::storage::snapshot_file::with_membership;
use crate::storage::state_machine_store::SNAPSHOT_FILE;

/// The file in a data directory that names the cluster it belongs to.
pub const CLUSTER_ID_FILE: &str = "cluster-id";

/// Restores the backup `file` into `config.data_dir` for node `config.node_id` of the cluster
/// `config.peers` names; returns what to tell the operator.
///
/// # Errors
/// The data directory is not empty, the backup is damaged (naming the offset), or a file cannot
/// be written.
pub async fn restore(config: &ServerConfig, file: &Path) -> Result<String, String> {
    let dir = &config.data_dir;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!("the data directory {} is not empty; restore makes a new one", dir.display()));
    }
    let input = std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut members = config.peers().map_err(|e| e.to_string())?;
    if members.is_empty() {
        let addr = NodeAddr {
            raft_addr: config.advertised_raft_addr().to_owned(),
            resp_addr: config.resp_addr.clone(),
        };
        members.insert(config.node_id, addr);
    }
    let cluster_id = if config.cluster_id == CLUSTER_ID_DEFAULT {
        format!("redraft-{:016x}", rand::random::<u64>())
    } else {
        config.cluster_id.clone()
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let disk = FileDisk::new(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    // Record by record into a temporary file, which becomes the snapshot once written whole.
    let written = |e: std::io::Error| format!("cannot write the snapshot: {e}");
    let mut snapshot = disk.new_snapshot(SNAPSHOT_FILE).map_err(written)?;
    let output = BufWriter::with_capacity(1 << 20, &mut snapshot);
    let (summary, output) =
        with_membership(BufReader::with_capacity(1 << 20, input), output, members.clone())
            .map_err(|e| format!("{}: {e}", file.display()))?;
    output.into_inner().map_err(|e| written(e.into_error()))?;
    disk.keep_snapshot(snapshot, SNAPSHOT_FILE).await.map_err(written)?;
    disk.replace(CLUSTER_ID_FILE, cluster_id.as_bytes())
        .await
        .map_err(|e| format!("cannot write {CLUSTER_ID_FILE}: {e}"))?;
    let ids: Vec<String> = members.keys().map(u64::to_string).collect();
    Ok(format!(
        "restored revision {} ({} keys) into {} for node {} of nodes {}, cluster id {cluster_id}; start it with \
         --data-dir {} --cluster-id {cluster_id}",
        summary.revision,
        summary.keys,
        dir.display(),
        config.node_id,
        ids.join(","),
        dir.display(),
    ))
}

/// The cluster id recorded in `dir` by a restore, checked against the one configured: the
/// recorded one when none was configured.
///
/// # Errors
/// Another cluster id was configured.
pub fn recorded_cluster_id(dir: &Path, configured: &str) -> Result<Option<String>, String> {
    let Ok(recorded) = std::fs::read_to_string(dir.join(CLUSTER_ID_FILE)) else { return Ok(None) };
    let recorded = recorded.trim().to_owned();
    if configured == CLUSTER_ID_DEFAULT || configured == recorded {
        Ok(Some(recorded))
    } else {
        Err(format!(
            "the data directory {} was restored for cluster {recorded:?}, not {configured:?}: start it with \
             --cluster-id {recorded}",
            dir.display()
        ))
    }
}
