//! Test support: the project's S3 server (`hack/s3-server.sh`), a bucket per test, and the
//! real `rstask` binary.
//!
//! With `S3_ENDPOINT_URL` set (and `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`), tests use
//! that server; otherwise each [`S3::start`] starts a private one on a free port with its
//! own state dir and stops it when dropped.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

/// The repository root (tasks/rust/../..).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A running S3 server and its credentials.
pub struct S3 {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    owned: Option<(tempfile::TempDir, u16)>,
    runtime: tokio::runtime::Runtime,
}

fn script(command: &str, port: u16, state: &Path) -> Output {
    Command::new(repo_root().join("hack/s3-server.sh"))
        .arg(command)
        .env("S3_PORT", port.to_string())
        .env("S3_STATE_DIR", state)
        .output()
        .expect("hack/s3-server.sh runs")
}

fn parse_env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl S3 {
    /// The configured server, or a new private one.
    pub fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        if let Ok(endpoint) = std::env::var("S3_ENDPOINT_URL") {
            return Self {
                endpoint,
                access_key: std::env::var("AWS_ACCESS_KEY_ID").expect("AWS_ACCESS_KEY_ID"),
                secret_key: std::env::var("AWS_SECRET_ACCESS_KEY").expect("AWS_SECRET_ACCESS_KEY"),
                region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
                owned: None,
                runtime,
            };
        }
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s3");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = script("start", port, &state);
        assert!(
            started.status.success(),
            "hack/s3-server.sh start failed: {}{}",
            String::from_utf8_lossy(&started.stdout),
            String::from_utf8_lossy(&started.stderr)
        );
        let env_out = script("env", port, &state);
        let env_file = String::from_utf8(env_out.stdout).unwrap().trim().to_owned();
        let vars = parse_env_file(Path::new(&env_file));
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        Self {
            endpoint: get("S3_ENDPOINT_URL"),
            access_key: get("AWS_ACCESS_KEY_ID"),
            secret_key: get("AWS_SECRET_ACCESS_KEY"),
            region: get("AWS_REGION"),
            owned: Some((dir, port)),
            runtime,
        }
    }

    /// A client for `bucket`.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(self.s3(bucket))
    }

    fn s3(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_region(&self.region)
            .with_bucket_name(bucket)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .with_virtual_hosted_style_request(false)
            .with_client_options(ClientOptions::new().with_allow_http(true))
            .build()
            .unwrap()
    }

    /// Creates a fresh bucket (a `CreateBucket` request, presigned by `object_store`).
    pub fn bucket(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rstask-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let s3 = self.s3(&name);
        let url = self
            .runtime
            .block_on(s3.signed_url(
                http::Method::PUT,
                &ObjectPath::from(""),
                Duration::from_mins(5),
            ))
            .unwrap();
        let status = self.runtime.block_on(async {
            reqwest::Client::new()
                .put(url)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert!(status.is_success(), "CreateBucket {name}: {status}");
        name
    }

    /// Puts an object.
    pub fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let store = self.store(bucket);
        self.runtime
            .block_on(store.put(&ObjectPath::from(key), PutPayload::from(bytes)))
            .unwrap();
    }

    /// Gets an object, `None` if missing.
    pub fn get(&self, bucket: &str, key: &str) -> Option<bytes::Bytes> {
        let store = self.store(bucket);
        self.runtime.block_on(async {
            match store.get(&ObjectPath::from(key)).await {
                Ok(got) => Some(got.bytes().await.unwrap()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{e}"),
            }
        })
    }

    /// An object's Content-Type, `None` if missing (the object or the header).
    pub fn content_type(&self, bucket: &str, key: &str) -> Option<String> {
        let store = self.store(bucket);
        self.runtime.block_on(async {
            match store.get(&ObjectPath::from(key)).await {
                Ok(got) => got
                    .attributes
                    .get(&object_store::Attribute::ContentType)
                    .map(|v| v.to_string()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{e}"),
            }
        })
    }

    /// The environment `rstask` needs for this server and bucket.
    pub fn env(&self, bucket: &str) -> Vec<(String, String)> {
        vec![
            ("RSTASK_S3_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("RSTASK_S3_REGION".into(), self.region.clone()),
            ("RSTASK_BUCKET".into(), bucket.to_owned()),
            ("RSTASK_S3_ACCESS_KEY_ID".into(), self.access_key.clone()),
            (
                "RSTASK_S3_SECRET_ACCESS_KEY".into(),
                self.secret_key.clone(),
            ),
        ]
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        if let Some((dir, port)) = &self.owned {
            let _ = script("stop", *port, &dir.path().join("s3"));
        }
    }
}

/// Runs the real binary with exactly `env`.
pub fn rstask(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rstask"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("rstask runs")
}

/// The JSON lines on stderr.
pub fn log_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs a command that writes its result to a file; returns (output, result).
pub fn rstask_result(
    args: &[&str],
    env: &[(String, String)],
    dir: &Path,
) -> (Output, Option<Value>) {
    let result_file = dir.join(format!("result-{}.json", rand_suffix()));
    let mut all: Vec<&str> = args.to_vec();
    let path = result_file.to_str().unwrap().to_owned();
    all.extend(["--result-file", &path]);
    let output = rstask(&all, env);
    let result = std::fs::read_to_string(&result_file)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (output, result)
}

fn rand_suffix() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
