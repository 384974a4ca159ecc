//! `pods/{name}/portforward`: the upgrade handshake and the WebSocket channel protocol.
//!
//! Three ways in, as a Kubernetes 1.31+ API server and kubelet offer them:
//! - WebSocket `v4.channel.k8s.io` (or no subprotocol: the same binary framing), which kube-rs
//!   asks for (`v5.channel.k8s.io, v4.channel.k8s.io`; port-forward has no v5, so v4 is chosen).
//!   Ports come from the `ports` query. Every message is one channel byte and data; port `i`
//!   has data channel `2i` and error channel `2i+1`, and the first message on each channel is the
//!   port as two little-endian bytes (kubelet `portforward/websocket.go`).
//! - WebSocket `SPDY/3.1+portforward.k8s.io`: kubectl 1.31+ tunnels a SPDY session through
//!   binary WebSocket messages (client-go `tunneling_dialer.go`), served by [`super::spdy`].
//! - `POST` with `Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version: portforward.k8s.io`,
//!   kubectl's fallback and older clients' only way.
//!
//! Authorization follows Kubernetes 1.35 (`AuthorizePodWebsocketUpgradeCreatePermission`, on
//! by default): the request's own verb (`get` for a WebSocket `GET`, `create` for `POST`) and
//! `create` on `pods/portforward` in every case.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use futures::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::forward_target::{PodPorts, sandbox_running};
use super::response::text_response;
use super::review;
use super::server::ApiServer;
use crate::rbac::Attributes;
use crate::store::{ApiError, ResourceType};

/// The WebSocket subprotocol kubectl tunnels SPDY through.
const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// The binary channel protocol kube-rs gets.
const V4_CHANNEL: &str = "v4.channel.k8s.io";
/// How long containerd keeps the client direction open once a port's backend has ended.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
/// The port-forward stream protocol (`X-Stream-Protocol-Version`).
const PORTFORWARD_V1: &str = "portforward.k8s.io";

/// How the client asked to upgrade.
enum Upgrade {
    /// WebSocket with the v4 binary channel framing; `protocol` is echoed back when not empty.
    Channels {
        protocol: &'static str,
        ports: Vec<u16>,
    },
    /// WebSocket carrying a SPDY session.
    SpdyTunnel,
    /// A plain SPDY/3.1 upgrade.
    Spdy,
}

impl ApiServer {
    /// Answers a port-forward request; on success the connection is handed to a session task.
    pub(super) fn portforward(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        (ns, name): (String, String),
        on_upgrade: OnUpgrade,
    ) -> Result<Response<Body>, ApiError> {
        let verb = match *method {
            Method::GET => "get",
            Method::POST => "create",
            _ => {
                return Err(ApiError::method_not_allowed(format!(
                    "the server does not allow this method on the requested resource ({method} pods/{name}/portforward in namespace {ns})"
                )));
            }
        };
        let requester = review::requester(headers);
        if requester != review::admin() {
            // The request's verb, then the synthetic `create` for WebSocket upgrades.
            for verb in [verb, "create"] {
                let attrs = Attributes::Resource {
                    verb: verb.into(),
                    group: String::new(),
                    resource: "pods".into(),
                    subresource: "portforward".into(),
                    namespace: ns.clone(),
                    name: name.clone(),
                };
                review::authorize(&self.store, &requester, &attrs)?;
            }
        }
        let rt = ResourceType::by_plural("", "pods").expect("pods are served");
        let pod = self
            .store
            .get(rt, Some(&ns), &name)
            .ok_or_else(|| ApiError::not_found(rt, &name))?;
        let upgrade = negotiate(method, headers, query)?;
        if !sandbox_running(&pod) {
            // The kubelet finds no running sandbox and answers with its error text (500, not a
            // Status), which the API server passes back unchanged.
            return Ok(text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("pod not found (\"{name}_{ns}\")"),
            ));
        }
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let ports = PodPorts::new(self.store.clone(), self.state.clone(), &ns, &name, uid);
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        match &upgrade {
            Upgrade::Spdy => {
                h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
                h.insert(
                    "X-Stream-Protocol-Version",
                    HeaderValue::from_static(PORTFORWARD_V1),
                );
            }
            websocket => {
                let protocol = match websocket {
                    Upgrade::Channels { protocol, .. } => *protocol,
                    _ => SPDY_TUNNEL,
                };
                h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                let key = headers
                    .get(header::SEC_WEBSOCKET_KEY)
                    .map(|k| derive_accept_key(k.as_bytes()))
                    .unwrap_or_default();
                h.insert(
                    header::SEC_WEBSOCKET_ACCEPT,
                    HeaderValue::from_str(&key).map_err(|e| ApiError::internal(e.to_string()))?,
                );
                if !protocol.is_empty() {
                    h.insert(
                        header::SEC_WEBSOCKET_PROTOCOL,
                        HeaderValue::from_static(protocol),
                    );
                }
            }
        }
        self.spawn_session(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let io = TokioIo::new(upgraded);
            match upgrade {
                Upgrade::Spdy => super::spdy::serve(io, ports).await,
                Upgrade::SpdyTunnel => {
                    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                    tunnel(ws, ports).await;
                }
                Upgrade::Channels { ports: wanted, .. } => {
                    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                    channels(ws, wanted, ports).await;
                }
            }
        });
        Ok(response)
    }
}

/// The upgrade the client asked for, or the error the API server or kubelet would answer.
fn negotiate(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Upgrade, ApiError> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if upgrade == "websocket" && *method == Method::GET {
        let offered: Vec<String> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        // The client's order decides (wsstream's handshake); no subprotocol means v4 framing.
        let chosen = if offered.is_empty() {
            Some("")
        } else {
            offered.iter().find_map(|p| match p.as_str() {
                SPDY_TUNNEL => Some(SPDY_TUNNEL),
                V4_CHANNEL => Some(V4_CHANNEL),
                _ => None,
            })
        };
        return match chosen {
            Some(SPDY_TUNNEL) => Ok(Upgrade::SpdyTunnel),
            Some(protocol) => Ok(Upgrade::Channels {
                protocol,
                ports: query_ports(query)?,
            }),
            None => Err(ApiError::forbidden(format!(
                "requested protocol(s) are not supported: {offered:?}; supports [\"{SPDY_TUNNEL}\" \"{V4_CHANNEL}\"]"
            ))),
        };
    }
    if upgrade.contains("spdy/3.1") && *method == Method::POST {
        let offered: Vec<&str> = headers
            .get_all("X-Stream-Protocol-Version")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if !offered.contains(&PORTFORWARD_V1) {
            return Err(ApiError::forbidden(format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [\"{PORTFORWARD_V1}\"]"
            )));
        }
        return Ok(Upgrade::Spdy);
    }
    Err(ApiError::bad_request(
        "Upgrade request required: port-forward needs a WebSocket (v4.channel.k8s.io or SPDY/3.1+portforward.k8s.io) or SPDY/3.1 upgrade",
    ))
}

/// The `ports` query of a WebSocket port-forward (repeated or comma-separated), as the kubelet
/// parses `port`.
fn query_ports(query: Option<&str>) -> Result<Vec<u16>, ApiError> {
    let values: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "ports" || *k == "port")
        .map(|(_, v)| v.replace("%2C", ",").replace("%2c", ","))
        .collect();
    if values.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter \"port\" is required",
        ));
    }
    let mut ports = Vec::new();
    for v in values {
        if v.is_empty() {
            return Err(ApiError::bad_request(
                "query parameter \"port\" cannot be empty",
            ));
        }
        for p in v.split(',') {
            let port: u16 = p.parse().map_err(|e| {
                ApiError::bad_request(format!("unable to parse \"{v}\" as a port: {e}"))
            })?;
            if port < 1 {
                return Err(ApiError::bad_request(format!("port \"{v}\" must be > 0")));
            }
            ports.push(port);
        }
    }
    Ok(ports)
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The v4 channel protocol: one connection to each port for the life of the WebSocket.
async fn channels(ws: Ws, wanted: Vec<u16>, pod: PodPorts) {
    let (mut sink, mut stream) = ws.split();
    for (i, port) in wanted.iter().enumerate() {
        for ch in [2 * i, 2 * i + 1] {
            let mut frame = vec![ch as u8];
            frame.extend_from_slice(&port.to_le_bytes());
            if sink.send(Message::binary(frame)).await.is_err() {
                return;
            }
        }
    }
    // Backend bytes (or `None` at its end) per port index.
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Option<Vec<u8>>)>();
    let mut writers = Vec::new();
    let mut open = 0;
    for (i, port) in wanted.iter().enumerate() {
        match pod.connect(*port).await {
            Err(message) => {
                let mut frame = vec![(2 * i + 1) as u8];
                frame.extend_from_slice(message.as_bytes());
                let _ = sink.send(Message::binary(frame)).await;
                writers.push(None);
            }
            Ok(conn) => {
                let (mut r, w) = conn.into_split();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 || tx.send((i, Some(buf[..n].to_vec()))).is_err() {
                            break;
                        }
                    }
                    let _ = tx.send((i, None));
                });
                writers.push(Some(w));
                open += 1;
            }
        }
    }
    drop(tx);
    // Once every port's backend has ended, the kubelet closes the connection, but containerd
    // first gives the client direction LINGER to end (usually the client's own close).
    let mut linger = None;
    loop {
        let until = linger.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                    let ch = usize::from(b[0]);
                    if ch % 2 == 0
                        && let Some(Some(w)) = writers.get_mut(ch / 2)
                        && w.write_all(&b[1..]).await.is_err()
                    {
                        writers[ch / 2] = None;
                    }
                }
                // Answer the client's close (the reply is queued until the next flush).
                Some(Ok(Message::Close(_))) => {
                    let _ = sink.close().await;
                    return;
                }
                Some(Err(_)) | None => return,
                _ => {}
            },
            ev = rx.recv(), if open > 0 => match ev {
                Some((i, Some(bytes))) => {
                    let mut frame = Vec::with_capacity(bytes.len() + 1);
                    frame.push((2 * i) as u8);
                    frame.extend_from_slice(&bytes);
                    if sink.send(Message::binary(frame)).await.is_err() {
                        return;
                    }
                }
                Some((i, None)) => {
                    writers[i] = None;
                    open -= 1;
                }
                None => open = 0,
            },
            _ = tokio::time::sleep_until(until), if open == 0 => {
                if linger.is_some() {
                    break;
                }
                linger = Some(tokio::time::Instant::now() + LINGER);
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// A SPDY session carried in binary WebSocket messages.
async fn tunnel(ws: Ws, pod: PodPorts) {
    let (mut sink, mut stream) = ws.split();
    let (session, bridge) = tokio::io::duplex(256 * 1024);
    let (mut from_session, mut to_session) = tokio::io::split(bridge);
    let serving = tokio::spawn(super::spdy::serve(session, pod));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let written = to_session.write_all(&b).await;
                    if written.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    let _ = sink.close().await;
                    break;
                }
                Some(Err(_)) | None => break,
                _ => {}
            },
            n = from_session.read(&mut buf) => match n {
                Ok(0) | Err(_) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                Ok(n) => {
                    if sink.send(Message::binary(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    // The client is gone: the session sees its input end and winds down.
    drop(to_session);
    drop(from_session);
    let _ = serving.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_clients_order_picks_the_protocol() {
        let kube_rs = headers(&[
            ("upgrade", "websocket"),
            (
                "sec-websocket-protocol",
                "v5.channel.k8s.io, v4.channel.k8s.io",
            ),
        ]);
        match negotiate(&Method::GET, &kube_rs, Some("ports=9000%2C9003")).unwrap() {
            Upgrade::Channels { protocol, ports } => {
                assert_eq!((protocol, ports), (V4_CHANNEL, vec![9000, 9003]));
            }
            _ => panic!("v4 channels expected"),
        }
        let kubectl = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", SPDY_TUNNEL),
        ]);
        assert!(matches!(
            negotiate(&Method::GET, &kubectl, None).unwrap(),
            Upgrade::SpdyTunnel
        ));
        let spdy = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", PORTFORWARD_V1),
        ]);
        assert!(matches!(
            negotiate(&Method::POST, &spdy, None).unwrap(),
            Upgrade::Spdy
        ));
    }

    #[test]
    fn what_the_kubelet_refuses_is_refused() {
        let base64 = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "v4.base64.channel.k8s.io"),
        ]);
        let e = negotiate(&Method::GET, &base64, Some("ports=80"))
            .err()
            .unwrap();
        assert_eq!(e.code, 403, "{e}");
        let ws = headers(&[("upgrade", "websocket")]);
        let e = negotiate(&Method::GET, &ws, None).err().unwrap();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "query parameter \"port\" is required")
        );
        for bad in ["ports=0", "ports=70000", "ports=http", "ports="] {
            let e = negotiate(&Method::GET, &ws, Some(bad)).err().unwrap();
            assert_eq!(e.code, 400, "{bad}: {e}");
        }
        let old = headers(&[("upgrade", "SPDY/3.1")]);
        let e = negotiate(&Method::POST, &old, None).err().unwrap();
        assert!(e.message.contains("unable to negotiate protocol"), "{e}");
        let plain = headers(&[]);
        assert_eq!(
            negotiate(&Method::GET, &plain, None).err().unwrap().code,
            400
        );
    }
}
