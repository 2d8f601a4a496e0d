//! Load generator for the DynamoDB benchmark (`bench/dynamodb/run.sh`).
//!
//! Opens `--connections` keep-alive HTTP/1.1 connections to one endpoint and
//! sends DynamoDB JSON requests back to back on each for `--seconds`, then
//! prints one line of JSON: requests, errors, reconnections, throughput and
//! latency percentiles. A connection the server closes is reopened (see
//! [`Conn`]). Requests are unsigned (a fixed, well-formed `Authorization`
//! header): every server measured here accepts that, and signing would only
//! add client-side cost to every target alike.
//!
//! Commands:
//! - `setup`: create the table `bench` (pk S, sk N) and preload `--items`
//!   items with BatchWriteItem over all connections, for at most
//!   `--max-seconds` (then it stops and says how many items it loaded);
//! - `run --mix put|get|query|mixed`: the measured phase. Keys are drawn from
//!   the preloaded key space, so GetItem and Query always find items.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Items per partition in the preloaded key space; a Query returns this many.
const PER_PARTITION: u64 = 10;
const PAYLOAD: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqr";

#[derive(Debug, Clone)]
struct Args {
    command: String,
    url_host: String,
    port: u16,
    connections: usize,
    seconds: u64,
    max_seconds: u64,
    items: u64,
    mix: String,
    table: String,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it
        .next()
        .ok_or("usage: ddb-loadgen setup|run --url URL [options]")?;
    let mut args = Args {
        command,
        url_host: "127.0.0.1".to_owned(),
        port: 0,
        connections: 32,
        seconds: 10,
        max_seconds: 3600,
        items: 10_000,
        mix: "mixed".to_owned(),
        table: "bench".to_owned(),
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
                args.url_host = host.to_owned();
                args.port = port.parse().map_err(|_| "bad port")?;
            }
            "--connections" => args.connections = value.parse().map_err(|_| "bad --connections")?,
            "--seconds" => args.seconds = value.parse().map_err(|_| "bad --seconds")?,
            "--max-seconds" => args.max_seconds = value.parse().map_err(|_| "bad --max-seconds")?,
            "--items" => args.items = value.parse().map_err(|_| "bad --items")?,
            "--mix" => args.mix = value,
            "--table" => args.table = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.port == 0 {
        return Err("--url is required".to_owned());
    }
    Ok(args)
}

/// xorshift64*: fast, deterministic per connection, good enough for keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Attempts per call when the server closes the connection under a request.
const ATTEMPTS: u32 = 3;

/// One keep-alive connection, reopened when the server closes it.
///
/// Servers differ in how long they keep a connection: Strata, dynoxide and
/// dynalite keep it for the whole run, moto's (werkzeug) may close it after
/// any response. A request that meets a closed connection is sent again on a
/// fresh one, and its latency includes the reconnect, since that is what a
/// client of that server pays. Both events are counted and reported, so a
/// server that needs them is visible in the results rather than hidden.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
    port: u16,
    /// `HOST:PORT`, the `host` header of every request.
    authority: String,
    /// Connections opened after the first one.
    reconnects: u64,
    /// Requests sent again because the connection closed before an answer.
    retries: u64,
}

async fn handshake(host: &str, port: u16) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

impl Conn {
    async fn open(args: &Args) -> Result<Self, String> {
        Ok(Self {
            sender: handshake(&args.url_host, args.port).await?,
            host: args.url_host.clone(),
            port: args.port,
            authority: format!("{}:{}", args.url_host, args.port),
            reconnects: 0,
            retries: 0,
        })
    }

    async fn reconnect(&mut self) -> Result<(), String> {
        self.sender = handshake(&self.host, self.port).await?;
        self.reconnects += 1;
        Ok(())
    }

    fn request(&self, operation: &str, body: Bytes) -> Result<Request<Full<Bytes>>, String> {
        Request::post("/")
            .header("host", &self.authority)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
            .header("x-amz-date", "20260101T000000Z")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000",
            )
            .body(Full::new(body))
            .map_err(|e| e.to_string())
    }

    /// Send one DynamoDB call; Ok(status, body) once the whole body is read.
    async fn call(&mut self, operation: &str, body: String) -> Result<(u16, Bytes), String> {
        let body = Bytes::from(body);
        let mut attempt = 1;
        loop {
            // A server that answered the last request with `Connection: close`
            // has closed this connection already: open a fresh one first.
            if self.sender.ready().await.is_err() {
                self.reconnect().await?;
            }
            let request = self.request(operation, body.clone())?;
            match self.sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // A body cut short is an error, not retried: the server
                    // answered, so the request counts against it.
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("{operation} body: {e}"))?
                        .to_bytes();
                    return Ok((status, body));
                }
                // The connection closed before any answer, typically a server
                // dropping an idle keep-alive connection as the request went
                // out. Every call this tool sends is idempotent (reads, and
                // writes of fixed items to fixed keys), so sending it again is
                // safe even if the server did see it.
                Err(e)
                    if attempt < ATTEMPTS
                        && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) =>
                {
                    attempt += 1;
                    self.retries += 1;
                    self.reconnect().await?;
                }
                Err(e) => return Err(format!("{operation}: {e}")),
            }
        }
    }
}

fn item(pk: u64, sk: u64) -> String {
    format!(r#"{{"pk":{{"S":"p{pk}"}},"sk":{{"N":"{sk}"}},"payload":{{"S":"{PAYLOAD}"}}}}"#)
}

async fn setup(args: &Args) -> Result<(), String> {
    let mut conn = Conn::open(args).await?;
    let table = &args.table;
    // Ignore "table exists": a rerun on the same data is fine.
    let _ = conn
        .call("DeleteTable", format!(r#"{{"TableName":"{table}"}}"#))
        .await;
    let create = format!(
        r#"{{"TableName":"{table}","BillingMode":"PAY_PER_REQUEST",
            "KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}},{{"AttributeName":"sk","KeyType":"RANGE"}}],
            "AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}},{{"AttributeName":"sk","AttributeType":"N"}}]}}"#
    );
    let (status, body) = conn.call("CreateTable", create).await?;
    if status != 200 {
        return Err(format!(
            "CreateTable: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    // Tables of moto and dynalite start CREATING.
    for _ in 0..100 {
        let (_, body) = conn
            .call("DescribeTable", format!(r#"{{"TableName":"{table}"}}"#))
            .await?;
        if String::from_utf8_lossy(&body).contains(r#""TableStatus":"ACTIVE""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    // `--max-seconds` bounds the load: no batch starts after it, and the
    // line printed says how many items made it in.
    let deadline = started + Duration::from_secs(args.max_seconds);
    let batches = args.items.div_ceil(25);
    let next = Arc::new(AtomicU64::new(0));
    let loaded = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let args = args.clone();
        let next = Arc::clone(&next);
        let loaded = Arc::clone(&loaded);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&args).await?;
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches || Instant::now() >= deadline {
                    return Ok::<_, String>((conn.reconnects, conn.retries));
                }
                let first = batch * 25;
                let last = (first + 25).min(args.items);
                let puts: Vec<String> = (first..last)
                    .map(|i| {
                        format!(
                            r#"{{"PutRequest":{{"Item":{}}}}}"#,
                            item(i / PER_PARTITION, i % PER_PARTITION)
                        )
                    })
                    .collect();
                let body = format!(
                    r#"{{"RequestItems":{{"{}":[{}]}}}}"#,
                    args.table,
                    puts.join(",")
                );
                let (status, body) = conn.call("BatchWriteItem", body).await?;
                // moto writes JSON with spaces after colons, the others without.
                let compact: String = String::from_utf8_lossy(&body).split_whitespace().collect();
                if status != 200 || !compact.contains(r#""UnprocessedItems":{}"#) {
                    return Err(format!(
                        "BatchWriteItem: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                loaded.fetch_add(last - first, Ordering::Relaxed);
            }
        }));
    }
    let (mut reconnects, mut retries) = (conn.reconnects, conn.retries);
    for task in tasks {
        let (r, t) = task.await.map_err(|e| e.to_string())??;
        reconnects += r;
        retries += t;
    }
    let seconds = started.elapsed().as_secs_f64();
    let loaded = loaded.load(Ordering::Relaxed);
    println!(
        r#"{{"setup_items":{},"loaded":{loaded},"seconds":{seconds:.1},"items_per_s":{:.0},"reconnects":{reconnects},"retries":{retries}}}"#,
        args.items,
        loaded as f64 / seconds,
    );
    Ok(())
}

/// What one connection of the measured phase saw.
struct Outcome {
    /// Microseconds per successful request.
    latencies: Vec<u32>,
    errors: u64,
    /// The first error, to say what went wrong.
    sample: Option<String>,
    reconnects: u64,
    retries: u64,
}

#[derive(Clone, Copy)]
enum Op {
    Put,
    Get,
    Query,
}

fn pick(mix: &str, rng: &mut Rng) -> Op {
    match mix {
        "put" => Op::Put,
        "get" => Op::Get,
        "query" => Op::Query,
        // mixed: 50% GetItem, 30% PutItem, 20% Query.
        _ => match rng.below(10) {
            0..=4 => Op::Get,
            5..=7 => Op::Put,
            _ => Op::Query,
        },
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let partitions = (args.items / PER_PARTITION).max(1);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&args).await?;
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut sample = None;
            let table = args.table.clone();
            while Instant::now() < deadline {
                let pk = rng.below(partitions);
                let (operation, body) = match pick(&args.mix, &mut rng) {
                    // Overwrites a preloaded key: the table size stays fixed.
                    Op::Put => ("PutItem", format!(r#"{{"TableName":"{table}","Item":{}}}"#, item(pk, rng.below(PER_PARTITION)))),
                    Op::Get => (
                        "GetItem",
                        format!(r#"{{"TableName":"{table}","Key":{{"pk":{{"S":"p{pk}"}},"sk":{{"N":"{}"}}}}}}"#, rng.below(PER_PARTITION)),
                    ),
                    Op::Query => (
                        "Query",
                        format!(
                            r#"{{"TableName":"{table}","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{{":p":{{"S":"p{pk}"}}}},"Limit":10}}"#
                        ),
                    ),
                };
                let started = Instant::now();
                match conn.call(operation, body).await {
                    Ok((200, _)) => {
                        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok((status, body)) => {
                        errors += 1;
                        sample.get_or_insert_with(|| {
                            let body = String::from_utf8_lossy(&body);
                            format!("{operation}: {status} {}", body.chars().take(200).collect::<String>())
                        });
                    }
                    Err(e) => {
                        errors += 1;
                        sample.get_or_insert(e);
                        conn.reconnect().await?;
                    }
                }
            }
            Ok::<_, String>(Outcome { latencies, errors, sample, reconnects: conn.reconnects, retries: conn.retries })
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut reconnects, mut retries) = (0, 0, 0);
    let mut sample = None;
    for task in tasks {
        let outcome = task.await.map_err(|e| e.to_string())??;
        all.extend(outcome.latencies);
        errors += outcome.errors;
        reconnects += outcome.reconnects;
        retries += outcome.retries;
        sample = sample.or(outcome.sample);
    }
    if let Some(sample) = sample {
        eprintln!(
            "ddb-loadgen: {errors} errors in the {} mix, the first: {sample}",
            args.mix
        );
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let at = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[at]) / 1000.0
    };
    println!(
        r#"{{"mix":"{}","connections":{},"seconds":{},"ok":{},"errors":{errors},"reconnects":{reconnects},"retries":{retries},"rps":{:.0},"p50_ms":{:.2},"p99_ms":{:.2},"max_ms":{:.2}}}"#,
        args.mix,
        args.connections,
        args.seconds,
        all.len(),
        all.len() as f64 / args.seconds as f64,
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let outcome = match parse_args() {
        Ok(args) if args.command == "setup" => setup(&args).await,
        Ok(args) if args.command == "run" => run(&args).await,
        Ok(args) => Err(format!("unknown command {}", args.command)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ddb-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
