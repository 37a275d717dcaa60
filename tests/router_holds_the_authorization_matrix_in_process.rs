//! The authorization matrix of `api_holds_the_authorization_matrix.rs`, cell by cell, against
//! the router alone: built by `app::standalone` on a temporary embedded store (no SFU,
//! TURN, recorder or socket) and called in this process with `oneshot`. The same table
//! (`common/matrix.rs`) holds both ways.

use std::time::Instant;

use vchat_control::config::{Config, Secret};
use vchat_tests::api::Api;

const BOOTSTRAP: &str = "vct_in_process_bootstrap_token_0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_authorization_matrix_holds_in_process() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        api_token: Some(Secret::new(BOOTSTRAP.to_string())),
        ..Config::default()
    };
    config.auth.login_attempts_per_minute = 1000;
    let started = Instant::now();
    let state = vchat_control::app::standalone(config, dir.path()).await?;
    let api = Api::in_process(vchat_control::http::router(state));
    vchat_tests::matrix::every_cell_holds(&api, BOOTSTRAP).await?;
    println!("in process: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
