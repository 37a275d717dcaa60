//! Screenshots are stored as call files whose EXIF the server writes — the capture
//! time, and the client's last shared position as GPS latitude, longitude and
//! accuracy — read back here by Debian's `exiftool`, which nobody here wrote. A shared
//! position also gets a map picture from a static-map stand-in that checks requests
//! as the Yandex Static API documents them. Bad pictures are refused with a reason.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use vchat_tests::TestServer;
use vchat_tests::api::{Api, Auth, Org};

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A picture made by ffmpeg (`-f lavfi testsrc`), as bytes.
fn picture(size: &str, format: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("p.{format}"));
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=s={size}"))
        .args(["-frames:v", "1", "-y"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(ok.success());
    std::fs::read(path).unwrap()
}

/// The Yandex Static API v1: `ll=lon,lat`, `z`, `size=w,h` (at most 650,450),
/// `pt=lon,lat,style`, `lang`, `apikey`.
async fn static_map(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    assert!(headers.contains_key("user-agent"));
    let ll: Vec<f64> = q["ll"].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(ll.len(), 2, "ll is lon,lat");
    assert!((-180.0..=180.0).contains(&ll[0]) && (-90.0..=90.0).contains(&ll[1]));
    let size: Vec<u32> = q["size"].split(',').map(|v| v.parse().unwrap()).collect();
    assert!(
        size[0] <= 650 && size[1] <= 450,
        "size within the API's limits"
    );
    let z: u32 = q["z"].parse().unwrap();
    assert!(z <= 21);
    assert!(q["pt"].starts_with(&q["ll"]), "the pin is at the centre");
    assert_eq!(q["lang"], "ru_RU");
    seen.lock().unwrap().push(q.clone());
    if q["apikey"] != "test-key" {
        return (StatusCode::FORBIDDEN, "bad key").into_response();
    }
    (
        [(header::CONTENT_TYPE, "image/png")],
        picture("450x300", "png"),
    )
        .into_response()
}

fn exif(bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jpg");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("exiftool")
        .args(["-json", "-n", "-a", "-G1"])
        .arg(&path)
        .output()
        .expect("exiftool runs (apt install libimage-exiftool-perl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_carry_the_capture_time_and_the_clients_position() -> anyhow::Result<()> {
    vchat_tests::init_logging();
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/v1", axum::routing::get(static_map))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let maps = format!(
        "http://{}/v1?ll={{lon}},{{lat}}&z=16&size=450,300&pt={{lon}},{{lat}},pm2rdm&lang={{lang}}&apikey={{key}}",
        listener.local_addr()?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = TestServer::start_with(&[
        ("VCHAT_GEO_NOMINATIM_URL", ""),
        ("VCHAT_GEO_STATIC_MAP_URL", &maps),
        ("VCHAT_GEO_STATIC_MAP_KEY", "test-key"),
        ("VCHAT_AUTH_LOGIN_ATTEMPTS_PER_MINUTE", "1000"),
        ("VCHAT_INTERACTIONS_CDR_GRACE_MS", "200"),
    ])
    .await?;
    let api = Api::new(&server.base);
    let org = Org::create(&api, &server.api_token).await?;
    let agent = org.as_("agentA");
    let Auth::Cookie(cookie) = agent.clone() else {
        unreachable!()
    };
    let (i, client_token) = api
        .open_link(agent, &json!({ "client": { "name": "Shots" } }))
        .await?;
    let id = i["id"].as_str().unwrap().to_string();
    let client = Auth::Bearer(client_token.clone());
    let http = reqwest::Client::new();
    let shot = |query: &str, body: Vec<u8>, as_client: bool| {
        let mut r = http
            .post(format!(
                "{}/api/interactions/{id}/screenshots?{query}",
                server.base
            ))
            .header("content-type", "image/jpeg")
            .body(body);
        r = if as_client {
            r.bearer_auth(&client_token)
        } else {
            r.header("cookie", &cookie)
        };
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let jpeg = picture("1280x720", "jpg");

    // Before any position: the capture time only.
    let (status, first) = shot("source=client-video", jpeg.clone(), false).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert!(first["position"].is_null());

    // Bad input, each with its reason.
    for (query, body, as_client, why) in [
        (
            "source=client-video",
            picture("64x64", "png"),
            false,
            "not a JPEG",
        ),
        (
            "source=client-video",
            b"\xFF\xD8\xFF\xC0\x00\x40".to_vec(),
            false,
            "not a JPEG",
        ),
        ("source=client-video", Vec::new(), false, "not a JPEG"),
        (
            "source=sideways",
            jpeg.clone(),
            false,
            "unknown variant `sideways`",
        ),
        (
            "source=client-video",
            jpeg.clone(),
            true,
            "not one this participant takes",
        ),
        ("source=annotated", jpeg.clone(), false, "of"),
        (
            "source=annotated&of=nope",
            jpeg.clone(),
            false,
            "not a screenshot of this call",
        ),
        (
            "source=client-video&of=x",
            jpeg.clone(),
            false,
            "of is for annotated",
        ),
    ] {
        let (status, body) = shot(query, body, as_client).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(why),
            "{query}: {body}"
        );
    }

    // The client shares a position; a map picture is fetched and kept.
    let position = json!({ "lat": 55.755814, "lon": 37.617635, "accuracy": 12.5 });
    let m = api
        .expect(
            &client,
            "POST",
            &format!("/api/interactions/{id}/geo"),
            Some(&position),
            201,
        )
        .await?;
    let message = m["id"].as_str().unwrap().to_string();
    let mut preview = Value::Null;
    for _ in 0..100 {
        let chat = api
            .expect(
                agent,
                "GET",
                &format!("/api/interactions/{id}/messages"),
                None,
                200,
            )
            .await?;
        let geo = &chat
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message.as_str())
            .unwrap()["geo"];
        if !geo["preview"].is_null() {
            preview = geo["preview"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let preview = preview
        .as_str()
        .expect("a map picture in the stored message");
    let map = http
        .get(format!("{}/api/files/{preview}", server.base))
        .bearer_auth(&client_token)
        .send()
        .await?;
    assert_eq!(map.headers()["content-type"], "image/png");
    assert!(map.bytes().await?.starts_with(b"\x89PNG"));
    let asked = seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["ll"], "37.617635,55.755814", "longitude first");

    // Every later screenshot has it in its EXIF, whoever took it.
    let (status, later) = shot(
        "source=client-camera&method=image-capture",
        jpeg.clone(),
        true,
    )
    .await;
    assert_eq!(status, 201, "{later}");
    assert_eq!(later["position"]["lat"], 55.755814);
    let (status, drawn) = shot(
        &format!(
            "source=annotated&of={}&send=true",
            first["file"]["id"].as_str().unwrap()
        ),
        jpeg.clone(),
        false,
    )
    .await;
    assert_eq!(status, 201, "{drawn}");
    for stored in [&later, &drawn] {
        let bytes = http
            .get(format!(
                "{}/api/files/{}",
                server.base,
                stored["file"]["id"].as_str().unwrap()
            ))
            .header("cookie", &cookie)
            .send()
            .await?
            .bytes()
            .await?;
        let tags = exif(&bytes);
        println!("exiftool: {}", serde_json::to_string(&tags)?);
        assert!(
            (tags["GPS:GPSLatitude"].as_f64().unwrap() - 55.755814).abs() < 1e-5,
            "{tags}"
        );
        assert!(
            (tags["GPS:GPSLongitude"].as_f64().unwrap() - 37.617635).abs() < 1e-5,
            "{tags}"
        );
        assert_eq!(tags["GPS:GPSLatitudeRef"], "N");
        assert_eq!(tags["GPS:GPSLongitudeRef"], "E");
        assert_eq!(tags["GPS:GPSHPositioningError"].as_f64(), Some(12.5));
        let taken = tags["ExifIFD:DateTimeOriginal"].as_str().unwrap();
        assert_eq!(taken.len(), 19, "YYYY:MM:DD HH:MM:SS: {taken}");
        assert_eq!(tags["File:ImageWidth"], 1280);
    }
    let first_bytes = http
        .get(format!(
            "{}/api/files/{}",
            server.base,
            first["file"]["id"].as_str().unwrap()
        ))
        .header("cookie", &cookie)
        .send()
        .await?
        .bytes()
        .await?;
    let tags = exif(&first_bytes);
    assert!(tags["GPS:GPSLatitude"].is_null(), "no position yet: {tags}");
    assert!(tags["ExifIFD:DateTimeOriginal"].is_string());

    // The drawing went into the chat; the CDR lists screenshots and positions.
    let chat = api
        .expect(
            agent,
            "GET",
            &format!("/api/interactions/{id}/messages"),
            None,
            200,
        )
        .await?;
    assert!(
        chat.as_array()
            .unwrap()
            .iter()
            .any(|m| m["file"] == drawn["file"]["id"])
    );
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
    assert_eq!(cdr["screenshots"], 3, "{cdr}");
    let sources: Vec<&str> = cdr["screenshot_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["client-video", "client-camera", "annotated"]);
    assert_eq!(cdr["screenshot_files"][1]["located"], true);
    assert_eq!(cdr["screenshot_files"][1]["by"], "client");
    assert_eq!(cdr["positions"][0]["lat"], 55.755814);
    assert_eq!(cdr["geolocation"]["accuracy"], 12.5);
    server.stop().await
}
