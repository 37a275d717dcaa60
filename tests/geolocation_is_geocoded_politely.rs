//! Shared positions: validated, kept in the chat with a Yandex Maps link (longitude
//! first), and turned into an address by a Nominatim-compatible stand-in that checks
//! the requests as Nominatim documents `/reverse` — at most one request per second,
//! the configured User-Agent, nothing asked twice for the same place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org};

const USER_AGENT: &str = "vchat-test/1.0 (ops@example.com)";

type Seen = Arc<Mutex<Vec<(Instant, HashMap<String, String>)>>>;

async fn reverse(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    assert_eq!(
        headers["user-agent"], USER_AGENT,
        "an identifying User-Agent"
    );
    assert_eq!(q.get("format").map(String::as_str), Some("jsonv2"));
    assert_eq!(q.get("addressdetails").map(String::as_str), Some("1"));
    assert_eq!(q.get("zoom").map(String::as_str), Some("18"));
    assert_eq!(q.get("accept-language").map(String::as_str), Some("ru"));
    let lat: f64 = q["lat"].parse().unwrap();
    let lon: f64 = q["lon"].parse().unwrap();
    seen.lock().unwrap().push((Instant::now(), q.clone()));
    if lat < -80.0 {
        return Json(json!({ "error": "Unable to geocode" }));
    }
    Json(json!({
        "place_id": 1, "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
        "osm_type": "way", "osm_id": 2, "lat": q["lat"], "lon": q["lon"], "category": "building", "type": "yes",
        "display_name": format!("Red Square, Moscow ({lat:.4}, {lon:.4})"),
        "address": { "road": "Red Square", "city": "Moscow", "country": "Russia", "country_code": "ru" },
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_get_a_map_link_and_an_address_at_one_request_a_second() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/reverse", axum::routing::get(reverse))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let nominatim = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let server = TestServer::start_with(&[
        ("VCHAT_GEO_NOMINATIM_URL", &nominatim),
        ("VCHAT_GEO_USER_AGENT", USER_AGENT),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_INTERACTIONS_CDR_GRACE_MS", "200"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let (i, client_token) = api
        .open_link(agent, &json!({ "client": { "name": "Geo" } }))
        .await?;
    let id = i["id"].as_str().unwrap().to_string();
    let client = Auth::Bearer(client_token.clone());
    let path = format!("/api/interactions/{id}/geo");

    // Bad positions.
    for body in [
        json!({ "lat": 91.0, "lon": 37.6, "accuracy": 10.0 }),
        json!({ "lat": 55.7, "lon": 181.0, "accuracy": 10.0 }),
        json!({ "lat": 55.7, "lon": 37.6, "accuracy": -5.0 }),
        json!({ "lat": "55.7", "lon": 37.6, "accuracy": 5.0 }),
        json!({ "lat": 55.7, "lon": 37.6 }),
        json!({ "lat": 55.7, "lon": 37.6, "accuracy": 5.0, "at": 1 }),
    ] {
        let r = api.call(&client, "POST", &path, Some(&body)).await?;
        assert_eq!(r.status, 400, "{body}");
    }

    // Four shares in a burst: two at one place, one nearby (other address), one where
    // the service has nothing.
    let started = Instant::now();
    let places = [
        (55.753930, 37.620795),
        (55.753930, 37.620795),
        (55.751244, 37.618423),
        (-85.0, 10.0),
    ];
    for (lat, lon) in places {
        let m = api
            .expect(
                &client,
                "POST",
                &path,
                Some(&json!({ "lat": lat, "lon": lon, "accuracy": 12.5 })),
                201,
            )
            .await?;
        assert_eq!(
            m["geo"]["map_url"],
            format!("https://yandex.ru/maps/?pt={lon:.6},{lat:.6}&z=17&l=map")
        );
        assert_eq!(m["from"], "client");
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "answers do not wait for the geocoder"
    );

    // Addresses arrive as events, spaced by the rate limit.
    let mut addresses = Vec::new();
    for _ in 0..80 {
        let events = api
            .expect(
                agent,
                "GET",
                &format!("/api/interactions/{id}/events"),
                None,
                200,
            )
            .await?;
        addresses = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "geo.address")
            .cloned()
            .collect();
        if addresses.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(addresses.len(), 4);
    let named = addresses
        .iter()
        .filter(|a| a["data"]["display_name"].is_string())
        .count();
    assert_eq!(named, 3);
    let nowhere = addresses
        .iter()
        .find(|a| a["data"]["lat"] == -85.0)
        .unwrap();
    assert!(nowhere["data"]["display_name"].is_null());
    let upstream = seen.lock().unwrap().clone();
    assert_eq!(upstream.len(), 3, "the repeated place came from the cache");
    for pair in upstream.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(950), "requests {gap:?} apart");
    }
    println!(
        "geocoder: {} requests for 4 positions, gaps {:?}",
        upstream.len(),
        upstream
            .windows(2)
            .map(|p| p[1].0 - p[0].0)
            .collect::<Vec<_>>()
    );

    // In the chat history, and the last position in the CDR.
    let chat = api
        .expect(
            agent,
            "GET",
            &format!("/api/interactions/{id}/messages"),
            None,
            200,
        )
        .await?;
    assert_eq!(chat.as_array().unwrap().len(), 4);
    api.expect(
        agent,
        "POST",
        &format!("/api/interactions/{id}/cancel"),
        None,
        200,
    )
    .await?;
    let mut cdr = Value::Null;
    for _ in 0..50 {
        let r = api
            .call(agent, "GET", &format!("/api/interactions/{id}/cdr"), None)
            .await?;
        if r.status == 200 {
            cdr = r.json;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cdr["geolocation"]["lat"], -85.0, "{cdr}");
    server.stop().await
}
