//! Prints how long the platform takes to start (budget: under 200 ms).
//!
//! `cargo run -p sim --release --example startup`

use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let platform = sim::Platform::start(sim::faults::Faults::default())?;
        // Started means answering: one request proves the server is up.
        let mut s = std::net::TcpStream::connect(platform.addr())?;
        std::io::Write::write_all(
            &mut s,
            b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )?;
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out)?;
        anyhow::ensure!(out.starts_with("HTTP/1.1 200"), "unexpected answer: {out}");
        times.push(t.elapsed());
        drop(platform);
    }
    times.sort();
    println!(
        "platform start-up to first answer over {} runs: min {:?}, median {:?}, max {:?} (budget 200ms)",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    Ok(())
}
