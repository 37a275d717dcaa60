//! A REST client for tests: calls the API as a given identity and sets up an
//! organisation of tenants and users to call it as.

use std::collections::HashMap;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// A session cookie (`vchat_session=...`).
    Cookie(String),
    /// `Authorization: Bearer ...` (API token, bootstrap token or join token).
    Bearer(String),
}

/// The API of one server: over HTTP to a running `vchat serve`, or in this process
/// to its router, one request at a time (`oneshot`, no socket, no server started).
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:<port>` (in process: a placeholder no socket listens on).
    pub base: String,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Http(reqwest::Client),
    InProcess(axum::Router),
}

/// A response: status, JSON body (`Null` when empty or not JSON) and headers.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Body as JSON.
    pub json: Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    /// A client of `base`; redirects are not followed.
    pub fn new(base: &str) -> Api {
        crate::init_crypto();
        Api {
            base: base.to_string(),
            transport: Transport::Http(
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("client"),
            ),
        }
    }

    /// The router itself, called in this process; requests come from 127.0.0.1.
    pub fn in_process(router: axum::Router) -> Api {
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
        Api {
            base: "http://in-process".to_string(),
            transport: Transport::InProcess(
                router.layer(axum::extract::connect_info::MockConnectInfo(peer)),
            ),
        }
    }

    /// Calls `method path` as `auth` with an optional JSON body.
    pub async fn call(
        &self,
        auth: &Auth,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let credential = match auth {
            Auth::None => None,
            Auth::Cookie(c) => Some(("cookie", c.clone())),
            Auth::Bearer(t) => Some(("authorization", format!("Bearer {t}"))),
        };
        let (status, headers, bytes) = match &self.transport {
            Transport::Http(http) => {
                let mut request = http.request(method, format!("{}{path}", self.base));
                if let Some((name, value)) = credential {
                    request = request.header(name, value);
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                let response = request.send().await?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                (status, headers, response.bytes().await?.to_vec())
            }
            Transport::InProcess(router) => {
                use tower::ServiceExt;
                let mut request = axum::http::Request::builder().method(method).uri(path);
                if let Some((name, value)) = credential {
                    request = request.header(name, value);
                }
                let request = match body {
                    Some(body) => request
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body.to_string()))?,
                    None => request.body(axum::body::Body::empty())?,
                };
                let response = router.clone().oneshot(request).await?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                (status, headers, bytes.to_vec())
            }
        };
        Ok(Reply {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        })
    }

    /// Calls and insists on `expected`, returning the body.
    pub async fn expect(
        &self,
        auth: &Auth,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let r = self.call(auth, method, path, body).await?;
        if r.status != expected {
            bail!(
                "{method} {path}: expected {expected}, got {} {}",
                r.status,
                r.json
            );
        }
        Ok(r.json)
    }

    /// Logs in and returns the session cookie.
    pub async fn login(&self, login: &str, password: &str) -> anyhow::Result<Auth> {
        let r = self
            .call(
                &Auth::None,
                "POST",
                "/api/login",
                Some(&json!({ "login": login, "password": password })),
            )
            .await?;
        if r.status != 200 {
            bail!("login {login}: {} {}", r.status, r.json);
        }
        let cookie = r
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .context("no session cookie")?;
        Ok(Auth::Cookie(cookie.to_string()))
    }
}

/// The password every test user gets.
pub const PASSWORD: &str = "test password 123";

/// Tenants and users for authorization tests:
/// ```text
/// root ─┬─ A ── A1        (company A and its branch)
///       └─ B              (another company)
/// ```
/// Users (name → tenant, role): adminA, supA, agentA, agentA2 (A); supA1, agentA1
/// (A1); adminB, supB, agentB (B).
pub struct Org {
    /// Tenant ids by name (`A`, `A1`, `B`).
    pub tenants: HashMap<&'static str, String>,
    /// User ids by name.
    pub users: HashMap<&'static str, String>,
    /// Session cookies by user name.
    pub auth: HashMap<&'static str, Auth>,
}

impl Org {
    /// Builds the organisation through the API with the bootstrap token.
    pub async fn create(api: &Api, bootstrap: &str) -> anyhow::Result<Org> {
        let boot = Auth::Bearer(bootstrap.to_string());
        let mut tenants: HashMap<&'static str, String> = HashMap::new();
        for (name, parent) in [("A", None), ("A1", Some("A")), ("B", None)] {
            let parent = parent.map_or("root".to_string(), |p: &str| tenants[p].clone());
            let t = api
                .expect(&boot, "POST", "/api/tenants", Some(&json!({
                    "parent": parent,
                    "name": format!("Company {name}"),
                    "branding": { "company_name": format!("Company {name}"), "consent_text": "We record this call." },
                    "custom_fields": [{ "key": "case", "label": "Case number" }],
                })), 201)
                .await?;
            tenants.insert(name, t["id"].as_str().context("id")?.to_string());
        }
        let mut users = HashMap::new();
        let mut auth = HashMap::new();
        for (name, tenant, role) in [
            ("adminA", "A", "admin"),
            ("supA", "A", "supervisor"),
            ("agentA", "A", "agent"),
            ("agentA2", "A", "agent"),
            ("supA1", "A1", "supervisor"),
            ("agentA1", "A1", "agent"),
            ("adminB", "B", "admin"),
            ("supB", "B", "supervisor"),
            ("agentB", "B", "agent"),
        ] {
            let u = api
                .expect(
                    &boot,
                    "POST",
                    "/api/users",
                    Some(&json!({
                        "tenant": tenants[tenant], "login": name.to_lowercase(), "name": name,
                        "role": role, "password": PASSWORD,
                    })),
                    201,
                )
                .await?;
            users.insert(name, u["id"].as_str().context("id")?.to_string());
            auth.insert(name, api.login(&name.to_lowercase(), PASSWORD).await?);
        }
        Ok(Org {
            tenants,
            users,
            auth,
        })
    }

    /// The session of user `name`.
    pub fn as_(&self, name: &str) -> &Auth {
        &self.auth[name]
    }
}

/// Joins a room over the signaling socket (no media) and waits for `welcome`.
pub async fn signal_join(
    base: &str,
    token: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let url = format!("{}/ws", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::text(
        json!({ "type": "join", "token": token }).to_string(),
    ))
    .await?;
    loop {
        match ws.next().await.context("socket closed before welcome")?? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["type"] == "welcome" {
                    return Ok(ws);
                }
                if v["type"] == "bye" || v["type"] == "error" {
                    bail!("join refused: {v}");
                }
            }
            Message::Close(c) => bail!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// An interaction made for a test call, with the tokens to join it.
#[derive(Debug, Clone)]
pub struct TestCall {
    /// The interaction (and room) id.
    pub id: String,
    /// The interaction as created.
    pub interaction: Value,
    /// The client's join token (from opening the link).
    pub client_token: String,
    /// The agent's join token.
    pub staff_token: String,
}

impl Api {
    /// What the client's page does: reads the link (its consent text's version), then
    /// accepts the consent and connects. The answer of `POST /api/links/{code}`.
    pub async fn consent(&self, link: &str, device: &Auth) -> anyhow::Result<Value> {
        let info = self
            .expect(device, "GET", &format!("/api/links/{link}"), None, 200)
            .await?;
        let version = info["consent_version"]
            .as_str()
            .context("consent_version")?;
        self.expect(
            device,
            "POST",
            &format!("/api/links/{link}"),
            Some(&serde_json::json!({ "consent": { "version": version } })),
            200,
        )
        .await
    }

    /// Creates an interaction as `agent` with `body` and opens its link as the client:
    /// the interaction as created, and the client's join token.
    pub async fn open_link(&self, agent: &Auth, body: &Value) -> anyhow::Result<(Value, String)> {
        let interaction = self
            .expect(agent, "POST", "/api/interactions", Some(body), 201)
            .await?;
        let link = interaction["link"].as_str().context("link")?;
        let opened = self.consent(link, &Auth::None).await?;
        let token = opened["token"].as_str().context("token")?.to_string();
        Ok((interaction, token))
    }

    /// Creates an interaction as `agent` with `body`, opens its link as the client and
    /// gets the agent's join token.
    pub async fn open_call(&self, agent: &Auth, body: &Value) -> anyhow::Result<TestCall> {
        let (interaction, client_token) = self.open_link(agent, body).await?;
        let id = interaction["id"].as_str().context("id")?.to_string();
        let staff = self
            .expect(
                agent,
                "POST",
                &format!("/api/interactions/{id}/join"),
                None,
                200,
            )
            .await?;
        Ok(TestCall {
            client_token,
            staff_token: staff["token"].as_str().context("token")?.to_string(),
            id,
            interaction,
        })
    }

    /// Polls `GET path` as `auth` (every 100 ms, up to `seconds`) until `done` holds
    /// for a 200 answer; returns that answer.
    pub async fn wait_for(
        &self,
        auth: &Auth,
        path: &str,
        seconds: u64,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let r = self.call(auth, "GET", path, None).await?;
            if r.status == 200 && done(&r.json) {
                return Ok(r.json);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "GET {path}: not there in {seconds} s (last: {} {})",
                    r.status,
                    r.json
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
