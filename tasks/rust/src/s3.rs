//! S3 access for the commands: settings from flags / `RSTASK_*` env, an `object_store`
//! client (path-style by default, plain HTTP allowed for `http://` endpoints, an optional
//! CA bundle), uploads that never expose a partial object, and error classification.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, Certificate, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig, WriteMultipart,
};

use crate::config::{Choice, Env, flag_or_env, path, quote};
use crate::error::{Result, TaskError};
use crate::secrets::{Secret, secret};

/// Files up to this size are uploaded with one PUT; larger ones as a multipart upload
/// (completed only when every part is in: the object appears whole or not at all).
pub const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// Part size of multipart uploads.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// S3 flags shared by the commands that talk to S3.
///
/// Field docs are the `--help` text, hence plain words, no Markdown.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Default, clap::Args)]
pub struct S3Args {
    /// The bucket (env RSTASK_BUCKET)
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// S3 endpoint, e.g. http://127.0.0.1:39000 (env RSTASK_S3_ENDPOINT_URL; default AWS)
    #[arg(long, value_name = "URL")]
    pub s3_endpoint_url: Option<String>,
    /// Region to sign for (env RSTASK_S3_REGION; default us-east-1)
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// path or virtual (env RSTASK_S3_ADDRESSING; default path)
    #[arg(long, value_name = "STYLE")]
    pub s3_addressing: Option<String>,
    /// PEM bundle of CAs to trust for https endpoints, besides the system's (env RSTASK_S3_CA_BUNDLE)
    #[arg(long, value_name = "PATH")]
    pub s3_ca_bundle: Option<String>,
}

/// Bucket addressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `http://host/bucket/key` (default; what the local server speaks).
    Path,
    /// `http://bucket.host/key`.
    Virtual,
}

impl Choice for Addressing {
    const ALL: &'static [(&'static str, Self)] =
        &[("path", Self::Path), ("virtual", Self::Virtual)];
}

/// S3 settings, validated. Credentials come only from the environment
/// (`RSTASK_S3_ACCESS_KEY_ID`, `RSTASK_S3_SECRET_ACCESS_KEY`, optional
/// `RSTASK_S3_SESSION_TOKEN`, each also as `…_FILE`).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// `None`: AWS.
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Path-style or virtual-host addressing.
    pub addressing: Addressing,
    /// Extra CAs to trust.
    pub ca_bundle: Option<PathBuf>,
    access_key_id: Secret,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

impl S3Settings {
    /// Applies env fallbacks and validates.
    ///
    /// # Errors
    /// [`TaskError::Usage`] naming the missing or bad setting.
    pub fn resolve(args: &S3Args, env: &Env) -> Result<Self> {
        let bucket = flag_or_env(args.bucket.as_deref(), "--bucket", env)
            .filter(|raw| !raw.value.is_empty())
            .ok_or_else(|| {
                TaskError::usage("expected --bucket (or RSTASK_BUCKET) to be set, got none")
            })?
            .value;
        let endpoint = flag_or_env(args.s3_endpoint_url.as_deref(), "--s3-endpoint-url", env)
            .filter(|raw| !raw.value.is_empty())
            .map(|raw| {
                if raw.value.starts_with("http://") || raw.value.starts_with("https://") {
                    Ok(raw.value.trim_end_matches('/').to_owned())
                } else {
                    Err(TaskError::usage(format!(
                        "expected {} to be an http:// or https:// URL, got: {}",
                        raw.source,
                        quote(&raw.value)
                    )))
                }
            })
            .transpose()?;
        let region = flag_or_env(args.s3_region.as_deref(), "--s3-region", env)
            .filter(|raw| !raw.value.is_empty())
            .map_or_else(|| "us-east-1".to_owned(), |raw| raw.value);
        let addressing = flag_or_env(args.s3_addressing.as_deref(), "--s3-addressing", env)
            .map_or(Ok(Addressing::Path), |raw| Addressing::parse(&raw))?;
        let ca_bundle = flag_or_env(args.s3_ca_bundle.as_deref(), "--s3-ca-bundle", env)
            .map(|raw| path(&raw))
            .transpose()?;
        let required = |name: &str| {
            secret(env, name)?.ok_or_else(|| {
                TaskError::usage(format!(
                    "expected {name} (or {name}_FILE) to be set, got none"
                ))
            })
        };
        Ok(Self {
            bucket,
            endpoint,
            region,
            addressing,
            ca_bundle,
            access_key_id: required("RSTASK_S3_ACCESS_KEY_ID")?,
            secret_access_key: required("RSTASK_S3_SECRET_ACCESS_KEY")?,
            session_token: secret(env, "RSTASK_S3_SESSION_TOKEN")?,
        })
    }

    /// The client. Retries: 3, backoff from 100 ms, 30 s per request sequence at most.
    ///
    /// # Errors
    /// [`TaskError::Usage`] for an unreadable CA bundle or a rejected setting.
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        // reqwest's rustls has no crypto provider compiled in (no aws-lc-rs): use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            // a GET's body is read as fast as the transform consumes it
            .with_timeout(Duration::from_mins(30))
            .with_allow_http(
                self.endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
            );
        if let Some(bundle) = &self.ca_bundle {
            let pem = std::fs::read(bundle).map_err(|e| {
                TaskError::usage(format!(
                    "expected the CA bundle {} to be readable, got: {e}",
                    quote(&bundle.to_string_lossy())
                ))
            })?;
            let certificates = Certificate::from_pem_bundle(&pem).map_err(|e| {
                TaskError::usage(format!(
                    "expected the CA bundle {} to hold PEM certificates, got: {e}",
                    quote(&bundle.to_string_lossy())
                ))
            })?;
            for certificate in certificates {
                options = options.with_root_certificate(certificate);
            }
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(self.access_key_id.expose())
            .with_secret_access_key(self.secret_access_key.expose())
            .with_virtual_hosted_style_request(self.addressing == Addressing::Virtual)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token.expose());
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .build()
            .map_err(|e| TaskError::usage(format!("S3 settings rejected: {e}")))?;
        Ok(Arc::new(store))
    }
}

/// Classifies an S3 error: a missing object, refused credentials or a 4xx answer is
/// permanent; anything else (connection, timeout, 5xx, throttling) transient.
#[must_use]
pub fn classify(error: &object_store::Error, what: &str) -> TaskError {
    use object_store::Error as E;
    let permanent = match error {
        E::NotFound { .. }
        | E::InvalidPath { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::Precondition { .. }
        | E::AlreadyExists { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::UnknownConfigurationKey { .. } => true,
        E::Generic { .. } => client_error_status(&error.to_string()),
        _ => false,
    };
    // object_store's message already includes its sources: keep it as one link
    let error = anyhow::Error::msg(error.to_string()).context(what.to_owned());
    if permanent {
        TaskError::Permanent(error)
    } else {
        TaskError::Transient(error)
    }
}

/// Whether `object_store`'s message reports a 4xx status other than 408 / 429.
fn client_error_status(message: &str) -> bool {
    let marker = "status code: ";
    message.match_indices(marker).any(|(at, _)| {
        let code = &message[at + marker.len()..];
        code.starts_with('4') && !code.starts_with("408") && !code.starts_with("429")
    })
}

/// The object path of a key.
#[must_use]
pub fn object_path(key: &str) -> ObjectPath {
    ObjectPath::from(key)
}

/// Uploads a local file under `key`, whole: one PUT up to [`SINGLE_PUT_MAX`], else a
/// multipart upload that is aborted on error and completed only at the end.
///
/// # Errors
/// The classified S3 error, or a permanent one for an unreadable local file.
pub async fn upload_file(store: &dyn ObjectStore, key: &str, file: &Path) -> Result<()> {
    let local = |e: std::io::Error| {
        TaskError::Permanent(
            anyhow::Error::new(e).context(format!("reading scratch file {}", file.display())),
        )
    };
    let location = object_path(key);
    let size = std::fs::metadata(file).map_err(local)?.len();
    if size <= SINGLE_PUT_MAX {
        let bytes = std::fs::read(file).map_err(local)?;
        store
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(|e| classify(&e, &format!("writing {key}")))?;
        return Ok(());
    }
    let upload = store
        .put_multipart(&location)
        .await
        .map_err(|e| classify(&e, &format!("starting the upload of {key}")))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut source = std::fs::File::open(file).map_err(local)?;
    let mut buffer = vec![0_u8; 1 << 20];
    loop {
        let n = match std::io::Read::read(&mut source, &mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(local(e));
            }
        };
        if let Err(e) = writer.wait_for_capacity(2).await {
            let _ = writer.abort().await;
            return Err(classify(&e, &format!("uploading {key}")));
        }
        writer.write(&buffer[..n]);
    }
    writer
        .finish()
        .await
        .map_err(|e| classify(&e, &format!("completing the upload of {key}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::env;

    const CREDS: [(&str, &str); 2] = [
        ("RSTASK_S3_ACCESS_KEY_ID", "AKID"),
        ("RSTASK_S3_SECRET_ACCESS_KEY", "s3cr3t"),
    ];

    #[test]
    fn settings_from_env_with_defaults() {
        let mut pairs = CREDS.to_vec();
        pairs.push(("RSTASK_BUCKET", "polyetl"));
        let s = S3Settings::resolve(&S3Args::default(), &env(&pairs)).unwrap();
        assert_eq!(
            (s.bucket.as_str(), s.region.as_str()),
            ("polyetl", "us-east-1")
        );
        assert_eq!(
            (s.endpoint.as_deref(), s.addressing),
            (None, Addressing::Path)
        );
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn flags_win_and_bad_values_are_usage_errors() {
        let args = S3Args {
            bucket: Some("b".into()),
            s3_endpoint_url: Some("http://127.0.0.1:1/".into()),
            s3_addressing: Some("virtual".into()),
            ..S3Args::default()
        };
        let mut pairs = CREDS.to_vec();
        pairs.push(("RSTASK_BUCKET", "other"));
        let s = S3Settings::resolve(&args, &env(&pairs)).unwrap();
        assert_eq!(s.bucket, "b");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(s.addressing, Addressing::Virtual);
        assert!(s.store().is_ok());

        let no_bucket = S3Settings::resolve(&S3Args::default(), &env(&CREDS)).unwrap_err();
        assert!(
            no_bucket.chain().contains("--bucket"),
            "{}",
            no_bucket.chain()
        );
        let no_secret = S3Settings::resolve(&args, &env(&CREDS[..1])).unwrap_err();
        assert!(no_secret.chain().contains("RSTASK_S3_SECRET_ACCESS_KEY"));
        let bad_url = S3Args {
            s3_endpoint_url: Some("ftp://x".into()),
            ..S3Args::default()
        };
        let mut pairs = CREDS.to_vec();
        pairs.push(("RSTASK_BUCKET", "b"));
        let error = S3Settings::resolve(&bad_url, &env(&pairs)).unwrap_err();
        assert_eq!(error.kind(), "usage");
        let ca = S3Args {
            s3_ca_bundle: Some("/definitely/not/here.pem".into()),
            ..S3Args::default()
        };
        let error = S3Settings::resolve(&ca, &env(&pairs))
            .unwrap()
            .store()
            .unwrap_err();
        assert!(error.chain().contains("CA bundle"), "{}", error.chain());
    }

    #[test]
    fn status_classification() {
        assert!(client_error_status(
            "Server returned non-2xx status code: 400 Bad Request"
        ));
        assert!(!client_error_status(
            "Server returned non-2xx status code: 503 Slow Down"
        ));
        assert!(!client_error_status("status code: 429 Too Many Requests"));
        assert!(!client_error_status(
            "error sending request: connection refused"
        ));
        let missing = object_store::Error::NotFound {
            path: "k".into(),
            source: "404".into(),
        };
        assert_eq!(classify(&missing, "reading k").kind(), "permanent");
        let network = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        let error = classify(&network, "reading k");
        assert_eq!(
            (error.kind(), error.chain().as_str()),
            (
                "transient",
                "reading k: Generic S3 error: connection refused"
            )
        );
    }
}
