//! Load generator for the storage benchmark (`bench/storage/run.sh`).
//!
//! Opens `--connections` keep-alive HTTP/1.1 connections to one endpoint and
//! sends requests back to back on each, one step after the other, printing
//! one line of JSON per step: operations, errors, retries, throughput and
//! latency percentiles, and the CPU time the server (`--server-pid`) and this
//! process spent in the step, which says who the bottleneck was.
//!
//! Requests are unsigned, with a fixed, well-formed SigV4 `Authorization`
//! header whose scope names the service (`s3`, `sqs`): every server measured
//! here routes on that scope and accepts it unchecked, and signing would only
//! add client-side cost to every target alike.
//!
//! Commands:
//! - `s3 --size BYTES`: create bucket `bench-BYTES`, then PUT for
//!   `--seconds` (each connection cycles over `--keys` keys of its own, so a
//!   long step overwrites instead of growing without bound), then GET the
//!   keys that step wrote for `--seconds`, checking every body's length.
//! - `sqs`: SendMessage to queue `bench-send` for `--seconds` (at most
//!   `--max-messages` in all); then, for each of `--depths`, fill queue
//!   `bench-DEPTH` with that many messages (SendMessageBatch, not timed),
//!   ReceiveMessage with MaxNumberOfMessages 10 and a visibility timeout
//!   longer than the run until it is drained, DeleteMessage every handle
//!   received, in rounds until the receives add up to `--seconds` (see
//!   [`drain`]); then check with GetQueueAttributes that nothing is left in
//!   flight and that no message was received twice.
//!
//! A server may close a keep-alive connection: moto's werkzeug server
//! answers every request with `Connection: close`. A closed connection is
//! replaced before the next request (counted in `connects`), and a request
//! that fails on its connection is sent again on a new one, up to `RETRIES`
//! times (counted in `retries`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Attempts on a fresh connection after a transport error, per request.
const RETRIES: u32 = 3;
/// Size of each SQS message body.
const MESSAGE_BYTES: usize = 128;
/// Longer than any run: a received message must not come back before it is
/// deleted, or the receive step would count it twice.
const VISIBILITY_S: u32 = 3600;
/// Empty receives in a row after which a connection takes the queue as
/// drained.
const EMPTY_RECEIVES: u32 = 3;
/// Fill-and-drain rounds per depth at most.
const MAX_ROUNDS: u32 = 20;

#[derive(Debug, Clone)]
struct Args {
    command: String,
    host: String,
    port: u16,
    connections: usize,
    seconds: f64,
    size: usize,
    keys: u64,
    max_messages: u64,
    depths: Vec<u64>,
    server_pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it
        .next()
        .ok_or("usage: storage-loadgen s3|sqs --url URL [options]")?;
    let mut args = Args {
        command,
        host: "127.0.0.1".to_owned(),
        port: 0,
        connections: 8,
        seconds: 10.0,
        size: 1024,
        keys: 1000,
        max_messages: 200_000,
        depths: vec![1000],
        server_pid: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => {
                let rest = value
                    .strip_prefix("http://")
                    .ok_or("--url must be http://HOST:PORT")?
                    .trim_end_matches('/');
                let (host, port) = rest.rsplit_once(':').ok_or("--url needs a port")?;
                args.host = host.to_owned();
                args.port = port.parse().map_err(|_| "bad port")?;
            }
            "--connections" => args.connections = value.parse().map_err(|_| "bad --connections")?,
            "--seconds" => args.seconds = value.parse().map_err(|_| "bad --seconds")?,
            "--size" => args.size = value.parse().map_err(|_| "bad --size")?,
            "--keys" => args.keys = value.parse().map_err(|_| "bad --keys")?,
            "--max-messages" => {
                args.max_messages = value.parse().map_err(|_| "bad --max-messages")?;
            }
            "--depths" => {
                args.depths = value
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|_| "bad --depths")?;
            }
            "--server-pid" => {
                args.server_pid = Some(value.parse().map_err(|_| "bad --server-pid")?)
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.port == 0 {
        return Err("--url is required".to_owned());
    }
    if args.connections == 0 || args.keys == 0 || args.seconds <= 0.0 {
        return Err("--connections, --keys and --seconds must be positive".to_owned());
    }
    Ok(args)
}

/// CPU seconds (user + system) a process has used so far, from
/// `/proc/PID/stat`; `None` off Linux or when the process is gone.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

/// CPU used by the server and by this process between `start` and `stop`.
struct CpuClock {
    server: Option<String>,
    start: (Option<f64>, Option<f64>),
}

impl CpuClock {
    fn start(args: &Args) -> Self {
        let server = args.server_pid.map(|p| p.to_string());
        let start = (server.as_deref().and_then(cpu_seconds), cpu_seconds("self"));
        Self { server, start }
    }

    fn stop(&self) -> (Option<f64>, Option<f64>) {
        let server = self.server.as_deref().and_then(cpu_seconds);
        let client = cpu_seconds("self");
        (
            server.zip(self.start.0).map(|(b, a)| b - a),
            client.zip(self.start.1).map(|(b, a)| b - a),
        )
    }
}

/// One request, kept so that it can be sent again on a new connection.
struct Call {
    method: &'static str,
    path: String,
    content_type: &'static str,
    target: Option<String>,
    service: &'static str,
    body: Bytes,
}

impl Call {
    fn sqs(operation: &str, body: &Value) -> Self {
        Self {
            method: "POST",
            path: "/".to_owned(),
            content_type: "application/x-amz-json-1.0",
            target: Some(format!("AmazonSQS.{operation}")),
            service: "sqs",
            body: Bytes::from(body.to_string()),
        }
    }

    fn s3(method: &'static str, path: String, body: Bytes) -> Self {
        Self {
            method,
            path,
            content_type: "application/octet-stream",
            target: None,
            service: "s3",
            body,
        }
    }
}

/// What came back: the status, the body when small calls keep it, and the
/// body's length (object GETs only count their bytes).
struct Reply {
    status: u16,
    body: Bytes,
    len: u64,
}

/// A keep-alive connection that reopens itself after a transport error.
struct Client {
    host: String,
    port: u16,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
    connects: u64,
    retries: u64,
}

impl Client {
    fn new(args: &Args) -> Self {
        Self {
            host: args.host.clone(),
            port: args.port,
            sender: None,
            connects: 0,
            retries: 0,
        }
    }

    async fn connect(&mut self) -> Result<http1::SendRequest<Full<Bytes>>, String> {
        self.connects += 1;
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Send `call`, on a new connection if the current one is closed or
    /// fails; `keep` keeps the body, otherwise only its length is counted.
    async fn send(&mut self, call: &Call, keep: bool) -> Result<Reply, String> {
        let mut last = String::new();
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                self.retries += 1;
            }
            match self.try_send(call, keep).await {
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    self.sender = None;
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn try_send(&mut self, call: &Call, keep: bool) -> Result<Reply, String> {
        let reusable = match self.sender.take() {
            Some(mut s) if !s.is_closed() => s.ready().await.is_ok().then_some(s),
            _ => None,
        };
        let mut sender = match reusable {
            Some(s) => s,
            // Closed by the server after its last answer: not a failure.
            None => self.connect().await?,
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut request = Request::builder()
            .method(call.method)
            .uri(&call.path)
            .header("host", format!("{}:{}", self.host, self.port))
            .header("content-type", call.content_type)
            .header("x-amz-date", "20260101T000000Z")
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/{}/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature=0000",
                    call.service
                ),
            );
        if let Some(target) = &call.target {
            request = request.header("x-amz-target", target);
        }
        let request = request
            .body(Full::new(call.body.clone()))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        let mut len = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                len += data.len() as u64;
                if keep {
                    kept.extend_from_slice(&data);
                }
            }
        }
        self.sender = Some(sender);
        Ok(Reply {
            status,
            body: Bytes::from(kept),
            len,
        })
    }
}

/// What one connection saw in one step.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// Operations the rate counts: requests, or messages for a receive.
    items: u64,
    bytes: u64,
    errors: u64,
    connects: u64,
    retries: u64,
    first_error: Option<String>,
    /// When the last useful answer arrived, from the step's start (a drained
    /// receive stops counting time there, not after its empty polls).
    last_useful: Duration,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn merge(&mut self, other: Self) {
        self.latencies_us.extend(other.latencies_us);
        self.items += other.items;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.connects += other.connects;
        self.retries += other.retries;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.last_useful = self.last_useful.max(other.last_useful);
    }
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// Print one step's line. `elapsed` is the time the rate is taken over.
fn report(
    args: &Args,
    step: &str,
    mut tally: Tally,
    elapsed: Duration,
    cpu: (Option<f64>, Option<f64>),
) {
    let lat = &mut tally.latencies_us;
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let at = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[at]) / 1000.0
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    let line = json!({
        "step": step,
        "connections": args.connections,
        "seconds": (secs * 100.0).round() / 100.0,
        "requests": lat.len(),
        "items": tally.items,
        "errors": tally.errors,
        "connects": tally.connects,
        "retries": tally.retries,
        "first_error": tally.first_error,
        "per_s": (tally.items as f64 / secs).round(),
        "mb_s": (tally.bytes as f64 / secs / 1e6 * 10.0).round() / 10.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "server_cpu_s": cpu.0.map(|c| (c * 100.0).round() / 100.0),
        "client_cpu_s": cpu.1.map(|c| (c * 100.0).round() / 100.0),
    });
    println!("{line}");
}

/// Run `work(connection index, client, deadline)` on every connection at
/// once and merge what they saw.
async fn on_all<F, Fut>(args: &Args, work: F) -> Result<(Tally, Duration), String>
where
    F: Fn(usize, Client, Instant) -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|c| tokio::spawn(work(c, Client::new(args), deadline)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        all.merge(task.await.map_err(|e| e.to_string())?);
    }
    Ok((all, started.elapsed()))
}

/// xorshift64*: fast, deterministic per connection, good enough for keys.
struct Rng(u64);

impl Rng {
    fn seeded(c: usize) -> Self {
        Self(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

async fn s3(args: &Args) -> Result<(), String> {
    let bucket = format!("bench-{}", args.size);
    let mut client = Client::new(args);
    let reply = client
        .send(&Call::s3("PUT", format!("/{bucket}"), Bytes::new()), true)
        .await?;
    // 409 is "you already own it": a rerun on the same data is fine.
    if reply.status != 200 && reply.status != 409 {
        return Err(format!(
            "CreateBucket: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    let object = Bytes::from((0..args.size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let size = args.size as u64;
    let keys = args.keys;

    // PUT: each connection cycles over its own keys; how far it got says
    // which keys the GET step may read.
    let written: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.connections).map(|_| AtomicU64::new(0)).collect());
    let cpu = CpuClock::start(args);
    let (tally, elapsed) = on_all(args, |c, mut client, deadline| {
        let (object, bucket, written) = (object.clone(), bucket.clone(), Arc::clone(&written));
        async move {
            let mut t = Tally::default();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let call = Call::s3(
                    "PUT",
                    format!("/{bucket}/k{c}-{}", i % keys),
                    object.clone(),
                );
                let started = Instant::now();
                match client.send(&call, false).await {
                    Ok(r) if r.status == 200 => {
                        t.latencies_us.push(micros(started));
                        t.items += 1;
                        t.bytes += size;
                        i += 1;
                    }
                    Ok(r) => t.error(format!("PUT status {}", r.status)),
                    Err(e) => t.error(e),
                }
            }
            written[c].store(i.min(keys), Ordering::Relaxed);
            (t.connects, t.retries) = (client.connects, client.retries);
            t
        }
    })
    .await?;
    report(
        args,
        &format!("s3-put-{}", args.size),
        tally,
        elapsed,
        cpu.stop(),
    );

    let cpu = CpuClock::start(args);
    let (tally, elapsed) = on_all(args, |c, mut client, deadline| {
        let (bucket, written) = (bucket.clone(), written[c].load(Ordering::Relaxed));
        async move {
            let mut t = Tally::default();
            if written == 0 {
                t.error("the PUT step wrote nothing to read".to_owned());
                return t;
            }
            let mut rng = Rng::seeded(c);
            while Instant::now() < deadline {
                let key = rng.below(written);
                let call = Call::s3("GET", format!("/{bucket}/k{c}-{key}"), Bytes::new());
                let started = Instant::now();
                match client.send(&call, false).await {
                    Ok(r) if r.status == 200 && r.len == size => {
                        t.latencies_us.push(micros(started));
                        t.items += 1;
                        t.bytes += size;
                    }
                    Ok(r) => t.error(format!("GET status {} with {} bytes", r.status, r.len)),
                    Err(e) => t.error(e),
                }
            }
            (t.connects, t.retries) = (client.connects, client.retries);
            t
        }
    })
    .await?;
    report(
        args,
        &format!("s3-get-{}", args.size),
        tally,
        elapsed,
        cpu.stop(),
    );
    Ok(())
}

fn json_body(reply: &Reply, what: &str) -> Result<Value, String> {
    if reply.status != 200 {
        return Err(format!(
            "{what}: status {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    serde_json::from_slice(&reply.body).map_err(|e| format!("{what}: {e}"))
}

async fn create_queue(client: &mut Client, name: &str) -> Result<String, String> {
    let reply = client
        .send(&Call::sqs("CreateQueue", &json!({"QueueName": name})), true)
        .await?;
    Ok(json_body(&reply, "CreateQueue")?["QueueUrl"]
        .as_str()
        .ok_or("CreateQueue: no QueueUrl")?
        .to_owned())
}

fn message_text(c: usize, i: u64) -> String {
    let mut text = format!("message {c}-{i} ");
    text.extend(std::iter::repeat_n(
        'x',
        MESSAGE_BYTES.saturating_sub(text.len()),
    ));
    text
}

/// Put `depth` messages in the queue at `url`, ten per SendMessageBatch,
/// over all connections; not timed.
async fn preload(args: &Args, url: &str, depth: u64) -> Result<(), String> {
    let batches = depth.div_ceil(10);
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..args.connections)
        .map(|c| {
            let (mut client, url, next) = (Client::new(args), url.to_owned(), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let batch = next.fetch_add(1, Ordering::Relaxed);
                    if batch >= batches {
                        return Ok::<(), String>(());
                    }
                    let entries: Vec<Value> = (batch * 10..(batch * 10 + 10).min(depth))
                        .map(|i| json!({"Id": format!("m{i}"), "MessageBody": message_text(c, i)}))
                        .collect();
                    let wanted = entries.len();
                    let call = Call::sqs(
                        "SendMessageBatch",
                        &json!({"QueueUrl": url, "Entries": entries}),
                    );
                    let value = json_body(&client.send(&call, true).await?, "SendMessageBatch")?;
                    let done = value["Successful"].as_array().map_or(0, Vec::len);
                    if done != wanted {
                        return Err(format!(
                            "SendMessageBatch: {done} of {wanted} sent: {value}"
                        ));
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

async fn sqs(args: &Args) -> Result<(), String> {
    let mut client = Client::new(args);
    let url = create_queue(&mut client, "bench-send").await?;

    // Send, bounded by time and by a total count.
    let budget = Arc::new(AtomicU64::new(args.max_messages));
    let cpu = CpuClock::start(args);
    let (tally, elapsed) = on_all(args, |c, mut client, deadline| {
        let (url, budget) = (url.clone(), Arc::clone(&budget));
        async move {
            let mut t = Tally::default();
            let mut i = 0u64;
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                let call = Call::sqs(
                    "SendMessage",
                    &json!({"QueueUrl": url, "MessageBody": message_text(c, i)}),
                );
                let started = Instant::now();
                match client.send(&call, true).await {
                    Ok(r) => match json_body(&r, "SendMessage") {
                        Ok(v) if v["MessageId"].is_string() => {
                            t.latencies_us.push(micros(started));
                            t.items += 1;
                            t.bytes += MESSAGE_BYTES as u64;
                            i += 1;
                        }
                        Ok(v) => t.error(format!("SendMessage: no MessageId in {v}")),
                        Err(e) => t.error(e),
                    },
                    Err(e) => t.error(e),
                }
            }
            (t.connects, t.retries) = (client.connects, client.retries);
            t
        }
    })
    .await?;
    report(args, "sqs-send", tally, elapsed, cpu.stop());

    // Receive and delete from queues of the same depths on every server:
    // what a receive costs may grow with the messages queued, and the send
    // step leaves each server a different number.
    for &depth in &args.depths {
        drain(args, &mut client, depth).await?;
    }
    Ok(())
}

/// Rounds of: fill queue `bench-DEPTH` with `depth` messages (not timed),
/// receive until it is drained (timed), delete every handle received
/// (timed). Rounds repeat until the receive steps add up to `--seconds`, at
/// most `MAX_ROUNDS` times, so a server that drains the queue in milliseconds
/// is still measured over a fair stretch at the same depth; one that does not
/// drain it in time gets one round. Prints the receive and delete steps over
/// all rounds and the check.
async fn drain(args: &Args, client: &mut Client, depth: u64) -> Result<(), String> {
    let url = create_queue(client, &format!("bench-{depth}")).await?;
    let budget = Duration::from_secs_f64(args.seconds);
    let (mut receive, mut receive_time, mut receive_cpu) =
        (Tally::default(), Duration::ZERO, ZERO_CPU);
    let (mut delete, mut delete_time, mut delete_cpu) =
        (Tally::default(), Duration::ZERO, ZERO_CPU);
    let mut ids: HashSet<String> = HashSet::new();
    let mut sent = 0;
    for _ in 0..MAX_ROUNDS {
        let Some(left) = budget.checked_sub(receive_time).filter(|d| !d.is_zero()) else {
            break;
        };
        preload(args, &url, depth).await?;
        sent += depth;
        let step = Args {
            seconds: left.as_secs_f64(),
            ..args.clone()
        };
        let cpu = CpuClock::start(args);
        let (tally, elapsed, received) = receive_step(&step, &url).await?;
        receive_cpu = add_cpu(receive_cpu, cpu.stop());
        receive_time += elapsed;
        let drained = tally.items == depth;
        receive.merge(tally);
        let handles: Vec<String> = received
            .into_iter()
            .map(|(id, handle)| {
                ids.insert(id);
                handle
            })
            .collect();
        let cpu = CpuClock::start(args);
        let (tally, elapsed) = delete_step(args, &url, handles).await?;
        delete_cpu = add_cpu(delete_cpu, cpu.stop());
        delete_time += elapsed;
        delete.merge(tally);
        if !drained {
            break;
        }
    }
    let (got, deleted, unique) = (receive.items, delete.items, ids.len() as u64);
    let step = format!("sqs-receive-{depth}");
    report(args, &step, receive, receive_time, receive_cpu);
    let step = format!("sqs-delete-{depth}");
    report(args, &step, delete, delete_time, delete_cpu);

    let reply = client
        .send(
            &Call::sqs(
                "GetQueueAttributes",
                &json!({"QueueUrl": url, "AttributeNames":
                    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
            ),
            true,
        )
        .await?;
    let attributes = json_body(&reply, "GetQueueAttributes")?;
    let count =
        |name: &str| -> Option<u64> { attributes["Attributes"][name].as_str()?.parse().ok() };
    let visible = count("ApproximateNumberOfMessages");
    let in_flight = count("ApproximateNumberOfMessagesNotVisible");
    let ok = unique == got && deleted == got && in_flight == Some(0) && visible == Some(sent - got);
    println!(
        "{}",
        json!({"step": format!("sqs-check-{depth}"), "sent": sent, "received": got, "unique": unique,
               "deleted": deleted, "left_visible": visible, "left_in_flight": in_flight, "ok": ok})
    );
    Ok(())
}

const ZERO_CPU: (Option<f64>, Option<f64>) = (Some(0.0), Some(0.0));

fn add_cpu(
    a: (Option<f64>, Option<f64>),
    b: (Option<f64>, Option<f64>),
) -> (Option<f64>, Option<f64>) {
    (
        a.0.zip(b.0).map(|(x, y)| x + y),
        a.1.zip(b.1).map(|(x, y)| x + y),
    )
}

/// Receive until drained or out of time; every message's id (to find
/// duplicates) and receipt handle (for the delete step) is returned. The
/// time counted ends at the last receive that brought messages, not after
/// the empty polls that tell the queue is drained.
async fn receive_step(
    args: &Args,
    url: &str,
) -> Result<(Tally, Duration, Vec<(String, String)>), String> {
    type Received = Vec<(String, String)>;
    let received: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
    let step_start = Instant::now();
    let (tally, _) = on_all(args, |_, mut client, deadline| {
        let (url, received) = (url.to_owned(), Arc::clone(&received));
        async move {
            let mut t = Tally::default();
            let mut mine: Received = Vec::new();
            let mut empty = 0;
            let call = Call::sqs(
                "ReceiveMessage",
                &json!({"QueueUrl": url, "MaxNumberOfMessages": 10,
                        "VisibilityTimeout": VISIBILITY_S, "WaitTimeSeconds": 0}),
            );
            while Instant::now() < deadline && empty < EMPTY_RECEIVES {
                let started = Instant::now();
                let value = match client.send(&call, true).await {
                    Ok(r) => json_body(&r, "ReceiveMessage"),
                    Err(e) => Err(e),
                };
                let messages = match value {
                    Ok(v) => v["Messages"].as_array().cloned().unwrap_or_default(),
                    Err(e) => {
                        t.error(e);
                        continue;
                    }
                };
                t.latencies_us.push(micros(started));
                if messages.is_empty() {
                    empty += 1;
                    continue;
                }
                empty = 0;
                for m in &messages {
                    match (m["MessageId"].as_str(), m["ReceiptHandle"].as_str()) {
                        (Some(id), Some(handle)) => {
                            mine.push((id.to_owned(), handle.to_owned()));
                            t.items += 1;
                            t.bytes += m["Body"].as_str().map_or(0, |b| b.len() as u64);
                        }
                        _ => t.error(format!(
                            "ReceiveMessage: a message without id or handle: {m}"
                        )),
                    }
                }
                t.last_useful = step_start.elapsed();
            }
            (t.connects, t.retries) = (client.connects, client.retries);
            received
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(mine);
            t
        }
    })
    .await?;
    let elapsed = tally.last_useful;
    let lists = std::mem::take(
        &mut *received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    Ok((tally, elapsed, lists.into_iter().flatten().collect()))
}

/// Delete every handle, each connection its share, with three times the
/// step length as a bound.
async fn delete_step(
    args: &Args,
    url: &str,
    handles: Vec<String>,
) -> Result<(Tally, Duration), String> {
    let handles = Arc::new(handles);
    let delete_args = Args {
        seconds: args.seconds * 3.0,
        ..args.clone()
    };
    let connections = args.connections;
    on_all(&delete_args, |c, mut client, deadline| {
        let (url, handles) = (url.to_owned(), Arc::clone(&handles));
        async move {
            let mut t = Tally::default();
            for handle in handles.iter().skip(c).step_by(connections) {
                if Instant::now() >= deadline {
                    t.error("out of time before every handle was deleted".to_owned());
                    break;
                }
                let call = Call::sqs(
                    "DeleteMessage",
                    &json!({"QueueUrl": url, "ReceiptHandle": handle}),
                );
                let started = Instant::now();
                match client.send(&call, true).await {
                    Ok(r) if r.status == 200 => {
                        t.latencies_us.push(micros(started));
                        t.items += 1;
                    }
                    Ok(r) => t.error(format!(
                        "DeleteMessage: status {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    Err(e) => t.error(e),
                }
            }
            (t.connects, t.retries) = (client.connects, client.retries);
            t
        }
    })
    .await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let outcome = match parse_args() {
        Ok(args) if args.command == "s3" => s3(&args).await,
        Ok(args) if args.command == "sqs" => sqs(&args).await,
        Ok(args) => Err(format!("unknown command {}", args.command)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("storage-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
