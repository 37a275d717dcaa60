//! One CDR per call, with the right times: a scripted call (client joins, agent
//! joins, client leaves and rejoins, agent ends) gives exactly one CDR whose duration,
//! talk and wait times match the script; a `kill -9` mid-call followed by a restart
//! gives the CDR of a failed call, ended as of the last moment the server was alive.

use std::time::Duration;

use serde_json::{Value, json};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org, signal_join};
use vchat_tests::process::{VchatProcess, add_user};

async fn wait_cdr(api: &Api, auth: &Auth, id: &str) -> anyhow::Result<Value> {
    for _ in 0..100 {
        let r = api
            .call(auth, "GET", &format!("/api/interactions/{id}/cdr"), None)
            .await?;
        if r.status == 200 {
            return Ok(r.json);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("no CDR for {id}")
}

fn close(actual: &Value, expected: f64, tolerance: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|a| (a - expected).abs() <= tolerance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_call_gives_one_cdr_with_its_times() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let server = TestServer::start_with(&[
        ("VCHAT_INTERACTIONS_CDR_GRACE_MS", "300"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let call = api
        .open_call(
            agent,
            &json!({ "client": { "name": "Ivan", "phone": "+79991234567" } }),
        )
        .await?;
    let id = call.id.clone();
    let client_token = call.client_token.clone();

    let step = Duration::from_millis(1000);
    let client = signal_join(&server.base, &client_token).await?; // t = 0
    tokio::time::sleep(step).await;
    let _agent_ws = signal_join(&server.base, &call.staff_token).await?; // t = 1
    tokio::time::sleep(step).await;
    drop(client); // t = 2: the client's network drops
    tokio::time::sleep(step).await;
    let _client = signal_join(&server.base, &client_token).await?; // t = 3: back
    tokio::time::sleep(step).await;
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/end"),
        None,
        200,
    )
    .await?; // t = 4

    let cdr = wait_cdr(&api, agent, &id).await?;
    println!(
        "CDR: duration {} s, talk {} s, wait {} s, disposition {}, {} events",
        cdr["duration_secs"], cdr["talk_secs"], cdr["wait_secs"], cdr["disposition"], cdr["events"]
    );
    assert!(close(&cdr["duration_secs"], 4.0, 0.3), "{cdr}");
    assert!(close(&cdr["talk_secs"], 2.0, 0.3), "1..2 and 3..4: {cdr}");
    assert!(close(&cdr["wait_secs"], 1.0, 0.3), "{cdr}");
    assert_eq!(cdr["disposition"], "answered");
    assert_eq!(cdr["final_state"], "ended");
    assert_eq!(cdr["end_reason"], "ended by agent");
    assert_eq!(cdr["ended_by"], org.users["agentA"].as_str());
    assert_eq!(cdr["client_phone"], "+799****4567");
    assert_eq!(cdr["agent"], org.users["agentA"].as_str());
    assert!(cdr["link_opened_at"].as_i64().is_some());
    let parties = cdr["parties"].as_array().unwrap();
    let client_party = parties.iter().find(|p| p["role"] == "client").unwrap();
    assert_eq!(
        client_party["presence"].as_array().unwrap().len(),
        2,
        "left and rejoined"
    );
    let agent_party = parties.iter().find(|p| p["role"] == "agent").unwrap();
    assert_eq!(agent_party["presence"].as_array().unwrap().len(), 1);

    // Exactly one, even after the sweep and a second fold.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let all = api
        .expect(org.as_("supA"), "GET", "/api/cdrs?limit=200", None, 200)
        .await?;
    let ours: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["interaction"] == id.as_str())
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(all["total"], 1);
    // Agents see their own CDRs; others' are 404; another company sees none.
    api.expect(
        org.as_("agentA2"),
        "GET",
        &format!("/api/interactions/{id}/cdr"),
        None,
        404,
    )
    .await?;
    let b = api
        .expect(org.as_("supB"), "GET", "/api/cdrs", None, 200)
        .await?;
    assert_eq!(b["total"], 0);
    let answered = api
        .expect(
            org.as_("supA"),
            "GET",
            "/api/cdrs?disposition=answered",
            None,
            200,
        )
        .await?;
    assert_eq!(answered["total"], 1);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_call_gives_the_cdr_of_a_failed_call() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    add_user(data.path(), "agent", "agent", "kill nine password")?;
    let env = [("VCHAT_INTERACTIONS_CDR_GRACE_MS", "300")];
    let server = VchatProcess::start(data.path(), &env).await?;
    let api = Api::new(&server.base);
    let agent = api.login("agent", "kill nine password").await?;
    let call = api
        .open_call(&agent, &json!({ "client": { "name": "Crash" } }))
        .await?;
    let id = call.id.clone();
    let _client = signal_join(&server.base, &call.client_token).await?;

    let _agent_ws = signal_join(&server.base, &call.staff_token).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill9().await?;
    // Down for a while: the CDR must not count this as talk.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let server = VchatProcess::start(data.path(), &env).await?;
    let api = Api::new(&server.base);
    let agent = api.login("agent", "kill nine password").await?;
    let cdr = wait_cdr(&api, &agent, &id).await?;
    println!(
        "after kill -9: disposition {}, reason {}, talk {} s, duration {} s",
        cdr["disposition"], cdr["end_reason"], cdr["talk_secs"], cdr["duration_secs"]
    );
    assert_eq!(cdr["disposition"], "failed");
    assert_eq!(cdr["final_state"], "failed");
    assert_eq!(cdr["end_reason"], "server restart");
    assert_eq!(cdr["ended_by"], "system");
    // Talk from both joined (~0) to the last heartbeat before the kill (~2.5 s, beats
    // are a second apart), not including the 3 s of downtime.
    let talk = cdr["talk_secs"].as_f64().unwrap();
    assert!((1.0..=3.0).contains(&talk), "{cdr}");
    let cdrs = api.expect(&agent, "GET", "/api/cdrs", None, 200).await?;
    assert_eq!(cdrs["total"], 1);
    assert_eq!(server.stop().await?.code(), Some(0));
    Ok(())
}
