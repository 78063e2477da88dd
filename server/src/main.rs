//! `redraft-server`: parses the configuration (defaults < `--config` file < `REDRAFT_*`
//! environment < flags) and runs a node. Everything else is in the library's `app` module.

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    use redraft_server::config::{Flags, ServerConfig};

    let flags = Flags::parse();
    let env = std::env::vars().filter(|(name, _)| name.starts_with("REDRAFT_")).collect();
    let config = match ServerConfig::load(&flags, &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("redraft-server: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    redraft_server::app::init_logging(&config);
    if !redraft_server::allocator::start_background_purging() {
        tracing::warn!(
            "jemalloc's background threads did not start; freed memory is returned to the system later"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("redraft-server: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let run = async {
        match &flags.command {
            Some(redraft_server::config::Subcommand::DevCluster { nodes, base_port, dir, tls }) => {
                redraft_server::dev_cluster::dev_cluster(&config, *nodes, *base_port, dir, *tls).await
            }
            Some(redraft_server::config::Subcommand::Restore { file }) => {
                redraft_server::restore::restore(&config, file).await.map(|done| eprintln!("{done}"))
            }
            None => redraft_server::app::run(config).await,
        }
    };
    match runtime.block_on(run) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("redraft-server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(madsim)]
fn main() {
    eprintln!("redraft-server is not built for the simulator; the simulator builds nodes itself");
}
