//! The AWS SDK for Rust's S3 client, in its default virtual-hosted addressing
//! (`http://BUCKET.localhost:PORT/key`), against the local endpoint of
//! `strata serve`. Built with the `aws` feature, which links the SDK (through
//! strata-aws, the only crate that depends on it).
#![cfg(feature = "aws")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use strata_aws::sdk::s3;

use s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use s3::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use s3::error::BoxError;
use s3::primitives::ByteStream;

/// `strata serve` on a free port; killed when dropped.
struct Serve {
    child: Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &std::path::Path) -> Serve {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .args(["serve", "--aws-port", "0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("strata serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Serve { child, port }
}

/// `*.localhost` need not resolve on this machine: the request keeps its
/// virtual host (signed, and sent as `Host`) and goes to 127.0.0.1, as a
/// resolver that maps `*.localhost` to loopback would send it.
#[derive(Debug)]
struct ToLoopback(u16);

impl Intercept for ToLoopback {
    fn name(&self) -> &'static str {
        "ToLoopback"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let uri = request.uri().to_owned();
        let rest = uri.strip_prefix("http://").ok_or("an http endpoint")?;
        let host = rest.split('/').next().unwrap_or_default().to_owned();
        assert!(
            host.ends_with(&format!(".localhost:{}", self.0)),
            "virtual-hosted: {uri}"
        );
        request.headers_mut().insert("host", host.clone());
        request.set_uri(uri.replacen(&host, &format!("127.0.0.1:{}", self.0), 1))?;
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_rust_sdk_s3_client_works_virtual_hosted_against_strata_serve() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = serve(data.path());
    let config = s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDDEVELOPER", "x", None, None, "test"))
        .endpoint_url(format!("http://localhost:{}", server.port))
        .interceptor(ToLoopback(server.port))
        .build();
    let client = s3::Client::from_conf(config);

    client
        .create_bucket()
        .bucket("rust-sdk")
        .send()
        .await
        .expect("CreateBucket");
    client
        .put_object()
        .bucket("rust-sdk")
        .key("dir/hello world.txt")
        .body(ByteStream::from_static(b"hello from the rust sdk"))
        .send()
        .await
        .expect("PutObject");
    let got = client
        .get_object()
        .bucket("rust-sdk")
        .key("dir/hello world.txt")
        .send()
        .await
        .expect("GetObject");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"hello from the rust sdk");

    let listed = client
        .list_objects_v2()
        .bucket("rust-sdk")
        .prefix("dir/")
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/hello world.txt"]);

    let head = client
        .head_object()
        .bucket("rust-sdk")
        .key("dir/hello world.txt")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(23));
    client
        .delete_object()
        .bucket("rust-sdk")
        .key("dir/hello world.txt")
        .send()
        .await
        .expect("DeleteObject");
    let missing = client
        .head_object()
        .bucket("rust-sdk")
        .key("dir/hello world.txt")
        .send()
        .await
        .expect_err("deleted");
    assert!(
        missing.as_service_error().is_some_and(|e| e.is_not_found()),
        "{missing:?}"
    );
}
