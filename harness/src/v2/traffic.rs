//! A bounded V2 traffic generator: steady requests per stream (a model over one protocol), every
//! answer compared with its samples, recorded with its instant and latency; and the figures a
//! continuity verdict is judged on (success ratio, p95 latency, longest outage, per second).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{InferenceClient, InferenceError};
use super::samples::SampleSet;

/// Opens a client for one stream (again after a connection broke: the endpoint may have moved).
pub type Connect<'a> = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<InferenceClient, String>> + Send + 'a>>
        + Send
        + Sync
        + 'a,
>;

/// Where checks leave their per-second figures for the report, by check name.
pub type FigureSink = Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<Second>>>>;

/// One stream of requests: a model over one protocol.
pub struct Stream<'a> {
    /// Name in reports, e.g. `credit-risk/REST`.
    pub name: String,
    /// The model (the `seldon-model` header).
    pub model: String,
    /// Requests and the answers they must get.
    pub samples: SampleSet,
    /// How to (re)connect.
    pub connect: Connect<'a>,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Answered with the expected numbers.
    Correct,
    /// No answer, or an error status.
    Failed(String),
    /// Answered, with numbers other than the samples'.
    Wrong(String),
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Index of its stream.
    pub stream: usize,
    /// When it was sent, from the start of the traffic.
    pub at: Duration,
    /// How long the answer (or the failure) took.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// Sends `rate` requests per second on every stream until `stop` resolves; returns every request
/// in the order sent. A request that is still out when `stop` resolves is waited for.
pub async fn run(
    streams: &[Stream<'_>],
    rate: u32,
    per_request: Duration,
    stop: impl Future<Output = ()>,
) -> Vec<Request> {
    let start = Instant::now();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let tasks = streams.iter().enumerate().map(|(i, s)| {
        let mut rx = rx.clone();
        async move {
            let mut out = Vec::new();
            let mut client: Option<InferenceClient> = None;
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0usize;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = rx.changed() => break,
                }
                if *rx.borrow() {
                    break;
                }
                let sample = &s.samples.samples[n % s.samples.samples.len().max(1)];
                n += 1;
                let sent = Instant::now();
                let outcome = match &client {
                    Some(c) => ask(c, s, sample).await,
                    None => match (s.connect)().await {
                        Ok(c) => {
                            let c = c.with_timeout(per_request);
                            let o = ask(&c, s, sample).await;
                            client = Some(c);
                            o
                        }
                        Err(why) => Err(why),
                    },
                };
                let outcome = match outcome {
                    Ok(o) => o,
                    // The connection broke (a pod restarted, a port-forward ended): reconnect.
                    Err(why) => {
                        client = None;
                        Outcome::Failed(why)
                    }
                };
                out.push(Request {
                    stream: i,
                    at: sent - start,
                    latency: sent.elapsed(),
                    outcome,
                });
            }
            out
        }
    });
    let all = futures::future::join_all(tasks);
    let stopper = async {
        stop.await;
        let _ = tx.send(true);
    };
    let (mut requests, ()) = tokio::join!(all, stopper);
    let mut flat: Vec<Request> = requests.drain(..).flatten().collect();
    flat.sort_by_key(|r| r.at);
    flat
}

/// One request's outcome; `Err` when the client should reconnect.
async fn ask(
    client: &InferenceClient,
    s: &Stream<'_>,
    sample: &super::samples::Sample,
) -> Result<Outcome, String> {
    match client.infer(&s.model, &sample.request()).await {
        Ok(resp) => Ok(match sample.check(&resp.outputs, s.samples.tolerance) {
            Ok(()) => Outcome::Correct,
            Err(m) => Outcome::Wrong(format!("sample `{}`: {m}", sample.name)),
        }),
        Err(e @ InferenceError::Unreachable { .. }) => Err(e.to_string()),
        Err(e) => Ok(Outcome::Failed(e.to_string())),
    }
}

/// The figures of one second of traffic.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Second {
    /// Seconds since the traffic started.
    pub second: u64,
    /// Requests sent in it.
    pub sent: u32,
    /// Answered correctly.
    pub ok: u32,
    /// Failed (no answer, error status).
    pub failed: u32,
    /// Answered with wrong numbers.
    pub wrong: u32,
    /// 95th-percentile latency of its requests, in milliseconds.
    pub p95_ms: f64,
}

/// What a continuity verdict is judged on.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Requests sent.
    pub sent: usize,
    /// Answered correctly.
    pub correct: usize,
    /// Failed.
    pub failed: usize,
    /// Wrong answers, with up to three examples.
    pub wrong: usize,
    /// Examples of wrong answers.
    pub wrong_examples: Vec<String>,
    /// Distinct failure texts (up to three), most frequent first.
    pub failure_examples: Vec<String>,
    /// 95th-percentile latency of correct answers.
    pub p95: Duration,
    /// The longest time one stream got no correct answer, and the stream's index.
    pub longest_outage: (Duration, Option<usize>),
    /// Per second.
    pub seconds: Vec<Second>,
}

impl Figures {
    /// Share of requests answered correctly (1 when none were sent: nothing to judge).
    pub fn success_ratio(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            self.correct as f64 / self.sent as f64
        }
    }

    /// The figures of `requests` over `streams` streams.
    pub fn of(requests: &[Request], streams: usize) -> Figures {
        let correct: Vec<&Request> = requests
            .iter()
            .filter(|r| r.outcome == Outcome::Correct)
            .collect();
        let mut failures: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut wrong_examples = Vec::new();
        let mut wrong = 0;
        for r in requests {
            match &r.outcome {
                Outcome::Failed(why) => *failures.entry(why.as_str()).or_default() += 1,
                Outcome::Wrong(why) => {
                    wrong += 1;
                    if wrong_examples.len() < 3 {
                        wrong_examples.push(why.clone());
                    }
                }
                Outcome::Correct => {}
            }
        }
        let mut failure_examples: Vec<(&str, usize)> = failures.into_iter().collect();
        failure_examples.sort_by_key(|f| std::cmp::Reverse(f.1));
        let end = requests
            .iter()
            .map(|r| r.at + r.latency)
            .max()
            .unwrap_or_default();
        let mut longest = (Duration::ZERO, None);
        for s in 0..streams {
            let mut open: Option<Duration> = None;
            for r in requests.iter().filter(|r| r.stream == s) {
                match (&r.outcome, open) {
                    (Outcome::Correct, Some(from)) => {
                        if r.at - from > longest.0 {
                            longest = (r.at - from, Some(s));
                        }
                        open = None;
                    }
                    (Outcome::Correct, None) => {}
                    (_, None) => open = Some(r.at),
                    (_, Some(_)) => {}
                }
            }
            if let Some(from) = open
                && end - from > longest.0
            {
                longest = (end - from, Some(s));
            }
        }
        let seconds = (0..=end.as_secs())
            .map(|sec| {
                let inside: Vec<&Request> =
                    requests.iter().filter(|r| r.at.as_secs() == sec).collect();
                let count = |f: fn(&Outcome) -> bool| {
                    inside.iter().filter(|r| f(&r.outcome)).count() as u32
                };
                Second {
                    second: sec,
                    sent: inside.len() as u32,
                    ok: count(|o| *o == Outcome::Correct),
                    failed: count(|o| matches!(o, Outcome::Failed(_))),
                    wrong: count(|o| matches!(o, Outcome::Wrong(_))),
                    p95_ms: p95(inside.iter().map(|r| r.latency)).as_secs_f64() * 1000.0,
                }
            })
            .collect();
        Figures {
            sent: requests.len(),
            correct: correct.len(),
            failed: requests.len() - correct.len() - wrong,
            wrong,
            wrong_examples,
            failure_examples: failure_examples
                .into_iter()
                .take(3)
                .map(|(w, n)| format!("{n}× {w}"))
                .collect(),
            p95: p95(correct.iter().map(|r| r.latency)),
            longest_outage: longest,
            seconds,
        }
    }
}

/// The 95th percentile (nearest rank) of some durations; zero for none.
fn p95(values: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = values.collect();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let rank = ((v.len() as f64) * 0.95).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The per-second figures as CSV (`second,sent,ok,failed,wrong,p95_ms`).
pub fn csv(seconds: &[Second]) -> String {
    let mut out = String::from("second,sent,ok,failed,wrong,p95_ms\n");
    for s in seconds {
        out.push_str(&format!(
            "{},{},{},{},{},{:.1}\n",
            s.second, s.sent, s.ok, s.failed, s.wrong, s.p95_ms
        ));
    }
    out
}

/// A compact timeline: per second, correct/sent (and `!` where an answer was wrong).
pub fn timeline(seconds: &[Second]) -> String {
    seconds
        .iter()
        .map(|s| {
            let mark = if s.wrong > 0 { "!" } else { "" };
            format!("{}s {}/{}{mark}", s.second, s.ok, s.sent)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(stream: usize, ms: u64, outcome: Outcome) -> Request {
        Request {
            stream,
            at: Duration::from_millis(ms),
            latency: Duration::from_millis(5),
            outcome,
        }
    }

    #[test]
    fn outage_runs_from_the_first_failure_to_the_next_correct_answer_of_the_same_stream() {
        let f = Outcome::Failed("503".into());
        let requests = vec![
            req(0, 0, Outcome::Correct),
            req(1, 10, Outcome::Correct),
            req(0, 100, f.clone()),
            req(1, 150, Outcome::Correct),
            req(0, 200, f.clone()),
            req(0, 900, Outcome::Correct),
            req(1, 1200, Outcome::Wrong("sample `a`: off".into())),
        ];
        let fig = Figures::of(&requests, 2);
        assert_eq!(fig.longest_outage, (Duration::from_millis(800), Some(0)));
        assert_eq!((fig.sent, fig.correct, fig.failed, fig.wrong), (7, 4, 2, 1));
        assert_eq!(fig.seconds.len(), 2);
        assert_eq!(fig.seconds[1].wrong, 1);
        assert!(timeline(&fig.seconds).contains("1s 0/1!"));
        assert!(csv(&fig.seconds).starts_with("second,sent,ok,failed,wrong,p95_ms\n0,6,4,2,0,"));
    }

    #[test]
    fn an_outage_still_open_at_the_end_counts_until_the_last_answer() {
        let requests = vec![
            req(0, 0, Outcome::Correct),
            req(0, 500, Outcome::Failed("x".into())),
            req(0, 1000, Outcome::Failed("x".into())),
        ];
        let fig = Figures::of(&requests, 1);
        assert_eq!(fig.longest_outage.0, Duration::from_millis(505));
        assert_eq!(fig.failure_examples, vec!["2× x".to_string()]);
    }
}
