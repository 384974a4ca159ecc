//! The kubelet's side of a SPDY/3.1 port-forward session (`portforward.k8s.io`), as kubectl
//! speaks it over a plain SPDY upgrade or tunnelled through a WebSocket.
//!
//! Facts (moby/spdystream's framer, kubernetes' kubelet `portforward/httpstream.go`, client-go's
//! `tools/portforward`): frames are 8-byte headers (control bit, version 3, type, flags, 24-bit
//! length); header blocks are name/value pairs with 32-bit lengths, lower-case names, compressed
//! by one zlib stream per direction primed with the SPDY/3 dictionary and sync-flushed per frame.
//! Each forwarded connection is a pair of client-created streams sharing a `requestid`, one
//! `streamtype: error` and one `streamtype: data`, both naming the remote `port`; the server
//! replies to each stream with an empty SYN_REPLY, dials the port once both streams are there,
//! copies bytes on the data stream, writes a failure as text on the error stream, and then
//! closes (FIN) both. spdystream does no flow control (WINDOW_UPDATE and SETTINGS are ignored),
//! and answers the peer's PINGs by echoing them.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, Bytes};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::forward_target::PodPorts;
use super::spdy_dictionary::SPDY3_DICTIONARY;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status `CANCEL`, what spdystream's `Stream.Reset` sends.
const CANCEL: u32 = 5;
/// Largest DATA payload a frame can carry (24-bit length).
const MAX_DATA: usize = (1 << 24) - 1;
/// How long containerd keeps copying the other direction once one direction has ended.
const LINGER: Duration = Duration::from_secs(1);

/// What the session writes, in order, from any task.
enum Out {
    Reply(u32),
    Data(u32, Bytes),
    Fin(u32),
    Reset(u32),
    Ping(u32),
}

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<(u32, mpsc::UnboundedReceiver<Bytes>)>,
    port: u16,
}

/// Serves one SPDY/3.1 port-forward session on `io` until the client goes away.
pub(super) async fn serve<IO>(io: IO, pod: PodPorts)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(io);
    let (out, out_rx) = mpsc::unbounded_channel();
    let writing = tokio::spawn(write_frames(writer, out_rx));
    let mut inflate = HeaderInflater::new();
    // Incoming bytes per data stream; dropping a sender is the client's FIN.
    let mut inbound: HashMap<u32, mpsc::UnboundedSender<Bytes>> = HashMap::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut forwards = tokio::task::JoinSet::new();
    while let Ok(frame) = read_frame(&mut reader).await {
        match frame {
            Frame::Control {
                kind: SYN_STREAM,
                flags,
                mut payload,
            } if payload.len() >= 10 => {
                let id = payload.get_u32() & 0x7fff_ffff;
                payload.advance(6);
                let Some(headers) = inflate.block(&payload) else {
                    break;
                };
                let Some((kind, port, request)) = stream_kind(&headers, id) else {
                    // The kubelet resets a stream whose headers it refuses.
                    let _ = out.send(Out::Reset(id));
                    continue;
                };
                let _ = out.send(Out::Reply(id));
                let pair = pairs.entry(request.clone()).or_default();
                pair.port = port;
                if kind == "error" {
                    pair.error = Some(id);
                } else {
                    let (tx, rx) = mpsc::unbounded_channel();
                    if flags & FLAG_FIN == 0 {
                        inbound.insert(id, tx);
                    }
                    pair.data = Some((id, rx));
                }
                if pair.error.is_some() && pair.data.is_some() {
                    let pair = pairs.remove(&request).expect("present");
                    forwards.spawn(forward(pair, pod.clone(), out.clone()));
                }
            }
            Frame::Control {
                kind: HEADERS,
                payload,
                ..
            } if payload.len() >= 4 => {
                // Decompressed only to keep the shared zlib stream in step; nothing to act on.
                if inflate.block(&payload[4..]).is_none() {
                    break;
                }
            }
            Frame::Control {
                kind: RST_STREAM,
                mut payload,
                ..
            } if payload.len() >= 8 => {
                inbound.remove(&(payload.get_u32() & 0x7fff_ffff));
            }
            Frame::Control {
                kind: PING,
                mut payload,
                ..
            } if payload.len() >= 4 => {
                let _ = out.send(Out::Ping(payload.get_u32()));
            }
            Frame::Control { kind: GOAWAY, .. } => break,
            Frame::Control { .. } => {}
            Frame::Data {
                stream,
                flags,
                data,
            } => {
                if !data.is_empty()
                    && let Some(tx) = inbound.get(&stream)
                {
                    let _ = tx.send(data);
                }
                if flags & FLAG_FIN != 0 {
                    inbound.remove(&stream);
                }
            }
        }
    }
    // The client is gone: every forward sees its data stream end and finishes within LINGER.
    drop(inbound);
    drop(out);
    while forwards.join_next().await.is_some() {}
    let _ = writing.await;
}

/// One forwarded connection: dial, copy both ways, report a failure, close both streams.
async fn forward(pair: Pair, pod: PodPorts, out: mpsc::UnboundedSender<Out>) {
    let error = pair.error.expect("complete pair");
    let (data, mut from_client) = pair.data.expect("complete pair");
    match pod.connect(pair.port).await {
        Err(message) => {
            let _ = out.send(Out::Data(error, Bytes::from(message)));
        }
        Ok(conn) => {
            let (mut backend_rx, mut backend_tx) = conn.into_split();
            let to_client = {
                let out = out.clone();
                async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = backend_rx.read(&mut buf).await {
                        if n == 0
                            || out
                                .send(Out::Data(data, Bytes::copy_from_slice(&buf[..n])))
                                .is_err()
                        {
                            break;
                        }
                    }
                }
            };
            let to_backend = async move {
                while let Some(chunk) = from_client.recv().await {
                    if backend_tx.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            };
            tokio::pin!(to_client, to_backend);
            // As containerd: when one direction ends, the other gets LINGER to finish.
            tokio::select! {
                _ = &mut to_client => { let _ = tokio::time::timeout(LINGER, to_backend).await; }
                _ = &mut to_backend => { let _ = tokio::time::timeout(LINGER, to_client).await; }
            }
        }
    }
    let _ = out.send(Out::Fin(data));
    let _ = out.send(Out::Fin(error));
}

/// The stream type, port and request id of a new stream, `None` if the kubelet would refuse it.
fn stream_kind(headers: &HashMap<String, String>, id: u32) -> Option<(String, u16, String)> {
    let port: u16 = headers.get("port")?.parse().ok().filter(|p| *p > 0)?;
    let kind = headers.get("streamtype")?;
    if kind != "error" && kind != "data" {
        return None;
    }
    // Old clients send no request id: the kubelet pairs error stream N with data stream N+2.
    let request = match headers.get("requestid") {
        Some(r) if !r.is_empty() => r.clone(),
        _ if kind == "error" => id.to_string(),
        _ => id.saturating_sub(2).to_string(),
    };
    Some((kind.clone(), port, request))
}

/// One frame read off the wire.
enum Frame {
    Control {
        kind: u16,
        flags: u8,
        payload: Bytes,
    },
    Data {
        stream: u32,
        flags: u8,
        data: Bytes,
    },
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).await?;
    let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    let payload = Bytes::from(payload);
    Ok(if first & 0x8000_0000 != 0 {
        let version = (first >> 16) & 0x7fff;
        if version != 3 {
            return Err(std::io::Error::other(format!(
                "SPDY version {version} is not 3"
            )));
        }
        Frame::Control {
            kind: (first & 0xffff) as u16,
            flags,
            payload,
        }
    } else {
        Frame::Data {
            stream: first & 0x7fff_ffff,
            flags,
            data: payload,
        }
    })
}

async fn write_frames<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut deflate = HeaderDeflater::new();
    while let Some(o) = rx.recv().await {
        let mut frame = Vec::new();
        match o {
            Out::Reply(id) => {
                // An empty name/value block: the kubelet replies with no headers.
                let block = deflate.block(&0u32.to_be_bytes());
                control(&mut frame, SYN_REPLY, 0, 4 + block.len());
                frame.extend_from_slice(&id.to_be_bytes());
                frame.extend_from_slice(&block);
            }
            Out::Data(id, bytes) => {
                for chunk in bytes.chunks(MAX_DATA) {
                    data(&mut frame, id, 0, chunk);
                }
            }
            Out::Fin(id) => data(&mut frame, id, FLAG_FIN, &[]),
            Out::Reset(id) => {
                control(&mut frame, RST_STREAM, 0, 8);
                frame.extend_from_slice(&id.to_be_bytes());
                frame.extend_from_slice(&CANCEL.to_be_bytes());
            }
            Out::Ping(id) => {
                control(&mut frame, PING, 0, 4);
                frame.extend_from_slice(&id.to_be_bytes());
            }
        }
        if w.write_all(&frame).await.is_err() || w.flush().await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

fn control(frame: &mut Vec<u8>, kind: u16, flags: u8, len: usize) {
    frame.extend_from_slice(&(0x8000u16 | 3).to_be_bytes());
    frame.extend_from_slice(&kind.to_be_bytes());
    frame.push(flags);
    frame.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

fn data(frame: &mut Vec<u8>, stream: u32, flags: u8, bytes: &[u8]) {
    frame.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    frame.push(flags);
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(bytes);
}

/// The client-to-server header zlib stream (one per session, primed with the dictionary).
struct HeaderInflater(Decompress);

impl HeaderInflater {
    fn new() -> HeaderInflater {
        HeaderInflater(Decompress::new(true))
    }

    /// The name/value pairs of one compressed block (first value of each), `None` if corrupt.
    fn block(&mut self, compressed: &[u8]) -> Option<HashMap<String, String>> {
        let mut plain = Vec::new();
        let mut input = compressed;
        loop {
            plain.reserve(4096);
            let room = plain.capacity() - plain.len();
            let (in_before, out_before) = (self.0.total_in(), self.0.total_out());
            let mut primed = false;
            match self
                .0
                .decompress_vec(input, &mut plain, FlushDecompress::Sync)
            {
                Ok(_) => {}
                // The first block names the dictionary (zlib's FDICT); prime and go on.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0.set_dictionary(SPDY3_DICTIONARY).ok()?;
                    primed = true;
                }
                Err(_) => return None,
            }
            let used = (self.0.total_in() - in_before) as usize;
            let produced = (self.0.total_out() - out_before) as usize;
            input = &input[used..];
            if input.is_empty() && produced < room {
                break;
            }
            if used == 0 && produced == 0 && !primed {
                return None;
            }
        }
        parse_block(&plain)
    }
}

fn parse_block(mut b: &[u8]) -> Option<HashMap<String, String>> {
    let take = |b: &mut &[u8]| -> Option<Vec<u8>> {
        if b.len() < 4 {
            return None;
        }
        let n = b.get_u32() as usize;
        if b.len() < n {
            return None;
        }
        let v = b[..n].to_vec();
        b.advance(n);
        Some(v)
    };
    if b.len() < 4 {
        return None;
    }
    let count = b.get_u32();
    let mut headers = HashMap::new();
    for _ in 0..count {
        let name = String::from_utf8(take(&mut b)?).ok()?;
        let value = String::from_utf8(take(&mut b)?).ok()?;
        // Several values are joined with NUL; the kubelet reads the first (`Header.Get`).
        let first = value.split('\0').next().unwrap_or_default().to_string();
        headers.insert(name, first);
    }
    Some(headers)
}

/// The server-to-client header zlib stream.
struct HeaderDeflater(Compress);

impl HeaderDeflater {
    fn new() -> HeaderDeflater {
        let mut c = Compress::new(Compression::default(), true);
        c.set_dictionary(SPDY3_DICTIONARY)
            .expect("a fresh zlib stream takes a dictionary");
        HeaderDeflater(c)
    }

    /// `plain` compressed and sync-flushed, so the client can decode it from this frame alone.
    fn block(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut input = plain;
        loop {
            let before = self.0.total_in();
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let _ = self.0.compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.0.total_in() - before) as usize..];
            // Done once all input is in and the flush fitted (zlib leaves room unused).
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        // The id kubectl's zlib header names is the Adler-32 of the dictionary.
        let mut d = HeaderDeflater::new();
        let block = d.block(b"\x00\x00\x00\x00");
        let mut plain = Vec::with_capacity(64);
        let e = Decompress::new(true)
            .decompress_vec(&block, &mut plain, FlushDecompress::Sync)
            .unwrap_err();
        assert_eq!(e.needs_dictionary(), Some(0xe3c6_a7c2));
        assert_eq!(SPDY3_DICTIONARY.len(), 1423);
    }

    #[test]
    fn header_blocks_round_trip_across_frames() {
        let mut d = HeaderDeflater::new();
        let mut i = HeaderInflater::new();
        for (k, v) in [("streamtype", "error"), ("streamtype", "data")] {
            let mut plain = Vec::new();
            plain.extend_from_slice(&2u32.to_be_bytes());
            for (n, val) in [(k, v), ("port", "9000")] {
                plain.extend_from_slice(&(n.len() as u32).to_be_bytes());
                plain.extend_from_slice(n.as_bytes());
                plain.extend_from_slice(&(val.len() as u32).to_be_bytes());
                plain.extend_from_slice(val.as_bytes());
            }
            let h = i.block(&d.block(&plain)).unwrap();
            assert_eq!(h["streamtype"], v);
            assert_eq!(h["port"], "9000");
        }
    }

    #[test]
    fn streams_are_paired_as_the_kubelet_pairs_them() {
        let h = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let with_id = h(&[("streamtype", "data"), ("port", "80"), ("requestid", "7")]);
        assert_eq!(
            stream_kind(&with_id, 3),
            Some(("data".into(), 80, "7".into()))
        );
        // No request id: error stream 5 pairs with data stream 7.
        let err = h(&[("streamtype", "error"), ("port", "80")]);
        let data = h(&[("streamtype", "data"), ("port", "80")]);
        assert_eq!(stream_kind(&err, 5).unwrap().2, "5");
        assert_eq!(stream_kind(&data, 7).unwrap().2, "5");
        assert!(stream_kind(&h(&[("streamtype", "data"), ("port", "0")]), 1).is_none());
        assert!(stream_kind(&h(&[("streamtype", "other"), ("port", "80")]), 1).is_none());
        assert!(stream_kind(&h(&[("port", "80")]), 1).is_none());
    }
}
