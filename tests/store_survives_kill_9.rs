//! `kill -9` of `vchat serve` in the middle of writes loses no acknowledged write:
//! every interaction the API answered 201 for is there after a restart, and calls
//! that were live are closed as failed by the restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use vchat_tests::api::{Api, signal_join};
use vchat_tests::process::{VchatProcess, add_user};

const PASSWORD: &str = "kill nine password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    add_user(data.path(), "agent", "agent", PASSWORD)?;
    let env = [("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000")];
    let mut acked: Vec<String> = Vec::new();
    let mut live_call = None;
    let mut rng_state = 0x9e37_79b9_u64;
    for round in 0..3 {
        let server = VchatProcess::start(data.path(), &env).await?;
        let api = Api::new(&server.base);
        let agent = api.login("agent", PASSWORD).await?;

        // Everything acknowledged before is still there, intact.
        for id in &acked {
            let i = api
                .expect(&agent, "GET", &format!("/api/interactions/{id}"), None, 200)
                .await?;
            assert_eq!(i["id"].as_str(), Some(id.as_str()));
        }
        // A call that was live when the process died is closed by the restart.
        if let Some(id) = live_call.take() {
            let i = api
                .expect(&agent, "GET", &format!("/api/interactions/{id}"), None, 200)
                .await?;
            assert_eq!(i["state"], "failed", "{i}");
            assert_eq!(i["end_reason"], "server restart");
        }

        // One live call, then writers until the kill.
        let (call, client_token) = api
            .open_link(&agent, &json!({ "client": { "name": "client" } }))
            .await?;
        let _client = signal_join(&server.base, &client_token).await?;
        live_call = Some(call["id"].as_str().unwrap().to_string());
        acked.push(live_call.clone().unwrap());

        let round_acked = Arc::new(Mutex::new(Vec::new()));
        let mut writers = Vec::new();
        for _ in 0..4 {
            let (api, agent, round_acked) = (api.clone(), agent.clone(), round_acked.clone());
            writers.push(tokio::spawn(async move {
                loop {
                    let r = api
                        .call(
                            &agent,
                            "POST",
                            "/api/interactions",
                            Some(&json!({ "client": { "name": "client" } })),
                        )
                        .await;
                    match r {
                        Ok(r) if r.status == 201 => {
                            round_acked
                                .lock()
                                .unwrap()
                                .push(r.json["id"].as_str().unwrap().to_string());
                        }
                        _ => break, // the server is gone
                    }
                }
            }));
        }
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let wait = 400 + rng_state % 1200;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill9().await?;
        for w in writers {
            let _ = w.await;
        }
        let n = round_acked.lock().unwrap().len();
        println!("round {round}: killed after {wait} ms with {n} acknowledged creations");
        assert!(n > 0, "some writes were acknowledged before the kill");
        acked.extend(round_acked.lock().unwrap().drain(..));
    }
    let server = VchatProcess::start(data.path(), &env).await?;
    let api = Api::new(&server.base);
    let agent = api.login("agent", PASSWORD).await?;
    let mut found = 0;
    for id in &acked {
        let r = api
            .call(&agent, "GET", &format!("/api/interactions/{id}"), None)
            .await?;
        assert_eq!(r.status, 200, "acknowledged interaction {id} lost");
        // Each has its creation event too: no half-written record.
        let events = api
            .expect(
                &agent,
                "GET",
                &format!("/api/interactions/{id}/events"),
                None,
                200,
            )
            .await?;
        assert_eq!(events[0]["kind"], "interaction.created", "{id}");
        found += 1;
    }
    let live = api
        .expect(
            &agent,
            "GET",
            &format!("/api/interactions/{}", live_call.unwrap()),
            None,
            200,
        )
        .await?;
    assert_eq!(live["state"], "failed");
    println!("all {found} acknowledged interactions found after 3 kills");
    assert_eq!(server.stop().await?.code(), Some(0));
    Ok(())
}
