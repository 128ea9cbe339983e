//! Command-line and environment settings.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::algorithms::images::ImageArgs;

/// A self-hostable server for the Algorithmia v1 algorithm API
/// (`POST /v1/algo/{owner}/{name}[/{version}]`).
#[derive(Debug, Clone, Parser)]
#[command(name = "algo-server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed on stdout).
    #[arg(long, env = "ALGO_SERVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// API key callers must send as `Authorization: Simple <key>` (or the bare key).
    /// Repeat for several keys, or set ALGO_SERVER_API_KEYS to a comma-separated list.
    /// `USER:KEY` names the key's user (its `data://.my` space); a bare key's user is
    /// `default`.
    #[arg(
        long = "api-key",
        env = "ALGO_SERVER_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,

    /// A file of API keys, one per line (blank lines and `#` comments skipped): keeps
    /// keys out of the command line, which other users can read in /proc/PID/cmdline.
    #[arg(long, env = "ALGO_SERVER_API_KEY_FILE")]
    pub api_key_file: Option<std::path::PathBuf>,

    /// Accept calls without a key when no --api-key is configured (local use only: refused
    /// unless --listen is a loopback address).
    #[arg(long)]
    pub allow_anonymous: bool,

    /// Allow --allow-anonymous on a non-loopback --listen address: anyone who can reach
    /// the port may then run every algorithm. For a network you trust entirely.
    #[arg(long)]
    pub allow_anonymous_on_network: bool,

    /// Largest request body in bytes.
    #[arg(long, env = "ALGO_SERVER_MAX_BODY_BYTES", default_value_t = algorithmia_v1::MAX_REQUEST_BYTES)]
    pub max_body_bytes: usize,

    /// Algorithm timeout in seconds when a call gives no `timeout` query parameter.
    #[arg(long, env = "ALGO_SERVER_DEFAULT_TIMEOUT", default_value_t = algorithmia_v1::DEFAULT_TIMEOUT_SECS)]
    pub default_timeout: u64,

    /// Largest `timeout` a call may ask for, in seconds; larger values are lowered to it.
    #[arg(long, env = "ALGO_SERVER_MAX_TIMEOUT", default_value_t = algorithmia_v1::MAX_TIMEOUT_SECS)]
    pub max_timeout: u64,

    /// Algorithm calls that run at once (CPU threads); default: the number of CPUs.
    #[arg(long, env = "ALGO_SERVER_WORKERS")]
    pub workers: Option<usize>,

    /// Calls that may wait for a worker; beyond workers + queue the server answers 429.
    #[arg(long, env = "ALGO_SERVER_QUEUE", default_value_t = 16)]
    pub queue: usize,

    /// Host (name or IP, as written in URLs) that algorithms may fetch from even though it
    /// resolves to a loopback or private address. Repeat, or set a comma-separated list.
    /// Link-local addresses (169.254.0.0/16, the cloud metadata service) are always refused.
    /// `host:port` is taken as `host` (every port of an allowed host is allowed).
    #[arg(
        long = "allow-fetch-host",
        env = "ALGO_SERVER_ALLOW_FETCH_HOSTS",
        value_delimiter = ',',
        value_parser = fetch_host
    )]
    pub allow_fetch_hosts: Vec<String>,

    /// Largest body fetched from a URL input, in bytes.
    #[arg(long, env = "ALGO_SERVER_FETCH_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub fetch_max_bytes: u64,

    /// Time limit of one URL fetch or upload, in seconds.
    #[arg(long, env = "ALGO_SERVER_FETCH_TIMEOUT", default_value_t = 30)]
    pub fetch_timeout: u64,

    #[command(flatten)]
    pub images: ImageArgs,

    #[command(flatten)]
    pub data: crate::data::DataArgs,

    /// Seconds a connection has to send a request's headers, and to start its next
    /// request on a kept-alive connection.
    #[arg(long, env = "ALGO_SERVER_HEADER_READ_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,

    /// Seconds a request body may take to arrive in full (a 10 MiB body at this limit
    /// needs ~170 kB/s).
    #[arg(long, env = "ALGO_SERVER_BODY_READ_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout: u64,

    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "ALGO_SERVER_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,

    /// HTTP/2 streams one connection may have open at once.
    #[arg(long, env = "ALGO_SERVER_MAX_H2_STREAMS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_h2_streams: u32,

    /// Seconds to let in-flight and background calls finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "ALGO_SERVER_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,

    /// ggml Whisper model for SpeechToText (`make models` builds the default; any
    /// ggml-*.bin Whisper model works). If it is missing the server still starts and
    /// SpeechToText calls answer how to get it.
    #[arg(long, env = "WHISPER_MODEL", default_value = "models/ggml-tiny.en.bin")]
    pub whisper_model: std::path::PathBuf,

    /// CPU threads one SpeechToText call uses; default: the number of CPUs.
    #[arg(long, env = "WHISPER_THREADS")]
    pub whisper_threads: Option<usize>,

    /// Longest media SpeechToText accepts, in seconds (checked from the header before
    /// decoding; 16 kHz samples take 64 kB per second).
    #[arg(long, env = "ALGO_SERVER_MAX_MEDIA_SECONDS", default_value_t = 3600)]
    pub max_media_seconds: u64,

    /// Most 16 kHz samples SpeechToText decodes per byte of media: an amplification cap,
    /// so a small file whose header claims hours of audio is refused up front.
    #[arg(long, env = "ALGO_SERVER_MAX_MEDIA_SAMPLES_PER_BYTE", default_value_t = 64.0,
          value_parser = positive_number)]
    pub max_media_samples_per_byte: f64,

    /// Directory of `make models`: ONNX models under predict/<name>/<version>/ and, unless
    /// ORT_DYLIB_PATH is set, ONNX Runtime at onnxruntime/libonnxruntime.so.
    #[arg(long, env = "ALGO_SERVER_MODELS_DIR", default_value = "models")]
    pub models_dir: std::path::PathBuf,

    /// Face detector of FaceDetection and SmartThumbnail: `auto` (RetinaFace when
    /// `make models` installed its graph and ONNX Runtime loads, else SeetaFace),
    /// `retinaface` (refuse to start without it) or `seeta`.
    #[arg(long, env = "ALGO_SERVER_FACE_DETECTOR", value_enum, default_value_t = FaceDetectorChoice::Auto)]
    pub face_detector: FaceDetectorChoice,

    /// RetinaFace graph to run [default: <models-dir>/faces/retinaface-mnet025-int8.onnx,
    /// the 8-bit graph]; <models-dir>/faces/retinaface-mnet025.onnx is the float one.
    #[arg(long, env = "ALGO_SERVER_FACE_GRAPH")]
    pub face_graph: Option<std::path::PathBuf>,

    /// Most instances one `blueprints/Predict` call may hold.
    #[arg(long, env = "ALGO_SERVER_PREDICT_MAX_BATCH", default_value_t = 10_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub predict_max_batch: usize,

    /// Also host test algorithms (`blueprints/Sleep/1.0.0`). Not for production.
    #[arg(long, hide = true)]
    pub enable_test_algorithms: bool,
}

/// `--face-detector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaceDetectorChoice {
    Auto,
    Retinaface,
    Seeta,
}

/// A setting that makes no sense, named in the message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no API key configured: pass --api-key KEY (or set ALGO_SERVER_API_KEYS=key1,key2), \
         or --allow-anonymous for local use"
    )]
    NoKeys,
    #[error("--api-key (or ALGO_SERVER_API_KEYS) holds an empty key")]
    EmptyKey,
    #[error(
        "an API key of the form USER:KEY has a user name that is not 1-64 letters, digits, '_' or '-' (the key itself is not shown)"
    )]
    KeyUser,
    #[error("cannot read --api-key-file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error(
        "--allow-anonymous with --listen {0}: anyone who reaches that address could run every \
         algorithm. Give --api-key, listen on 127.0.0.1, or add --allow-anonymous-on-network"
    )]
    AnonymousOnNetwork(SocketAddr),
    #[error("--workers must be at least 1")]
    NoWorkers,
    #[error("--default-timeout ({default} s) must be between 1 and --max-timeout ({max} s)")]
    Timeouts { default: u64, max: u64 },
    #[error("--max-body-bytes, --fetch-max-bytes and --max-image-pixels must be above 0")]
    ZeroLimit,
}

impl Config {
    /// Settings for in-process use (tests, embedding): anonymous, port 0, defaults elsewhere.
    pub fn local() -> Self {
        Self::parse_from([
            "algo-server",
            "--allow-anonymous",
            "--listen",
            "127.0.0.1:0",
        ])
    }

    /// The RetinaFace graph to load: `--face-graph`, else the 8-bit graph of `--models-dir`.
    pub fn face_graph(&self) -> std::path::PathBuf {
        self.face_graph.clone().unwrap_or_else(|| {
            self.models_dir
                .join(algo_vision::retina::GRAPH_IN_MODELS_DIR)
        })
    }

    /// The configuration with the keys of `--api-key-file` added to `--api-key`'s.
    pub fn with_key_file(mut self) -> Result<Self, ConfigError> {
        let Some(path) = &self.api_key_file else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::KeyFile {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        let keys: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if keys.is_empty() {
            return Err(ConfigError::KeyFile {
                path: path.display().to_string(),
                reason: "it holds no key (one per line)".into(),
            });
        }
        self.api_keys.extend(keys);
        Ok(self)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for entry in &self.api_keys {
            let key = ApiKey::parse(entry)?;
            if key.key.trim().is_empty() {
                return Err(ConfigError::EmptyKey);
            }
        }
        if self.api_keys.is_empty() && !self.allow_anonymous {
            return Err(ConfigError::NoKeys);
        }
        if self.api_keys.is_empty()
            && !self.listen.ip().is_loopback()
            && !self.allow_anonymous_on_network
        {
            return Err(ConfigError::AnonymousOnNetwork(self.listen));
        }
        if self.workers == Some(0) {
            return Err(ConfigError::NoWorkers);
        }
        if self.default_timeout == 0 || self.default_timeout > self.max_timeout {
            return Err(ConfigError::Timeouts {
                default: self.default_timeout,
                max: self.max_timeout,
            });
        }
        if self.max_body_bytes == 0
            || self.fetch_max_bytes == 0
            || self.images.max_image_pixels == 0
        {
            return Err(ConfigError::ZeroLimit);
        }
        Ok(())
    }

    /// The accepted keys with their users (`validate` has checked them).
    pub fn keys(&self) -> Vec<ApiKey> {
        self.api_keys
            .iter()
            .filter_map(|entry| ApiKey::parse(entry).ok())
            .collect()
    }

    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }

    pub fn fetch_timeout(&self) -> Duration {
        Duration::from_secs(self.fetch_timeout)
    }

    pub fn edge_limits(&self) -> crate::edge::EdgeLimits {
        crate::edge::EdgeLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            max_connections: self.max_connections,
            max_h2_streams: self.max_h2_streams,
            grace: Duration::from_secs(self.shutdown_grace),
        }
    }
}

/// The user a bare key (or an anonymous or IAM-authenticated call) acts as.
pub const DEFAULT_USER: &str = "default";

/// An accepted API key and the user it acts as. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub user: String,
    pub key: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// `USER:KEY`, or a bare `KEY` (user `default`). Only a valid user name before the
    /// first `:` makes it a user: a key that merely contains `:` stays whole.
    pub fn parse(entry: &str) -> Result<Self, ConfigError> {
        match entry.split_once(':') {
            Some((user, key)) if crate::data::path::valid_user(user) => Ok(Self {
                user: user.to_owned(),
                key: key.to_owned(),
            }),
            Some((user, _)) if user.trim().is_empty() => Err(ConfigError::KeyUser),
            _ => Ok(Self {
                user: DEFAULT_USER.to_owned(),
                key: entry.to_owned(),
            }),
        }
    }
}

/// A finite number above zero.
fn positive_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number above 0")),
    }
}

/// An `--allow-fetch-host` value as the host URLs name: `host`, `host:port` (the port
/// dropped), an IPv6 address, or `[ipv6]:port`. Lower-case, no brackets.
fn fetch_host(text: &str) -> Result<String, String> {
    let text = text.trim();
    let refuse = |why: &str| {
        Err(format!(
            "{text:?} {why}: give a host name or IP address as written in URLs, e.g. \
             127.0.0.1, localhost or [::1] (a :port is allowed and ignored)"
        ))
    };
    if text.is_empty() {
        return refuse("is empty");
    }
    if text.contains("://") || text.contains('/') {
        return refuse("is a URL, not a host");
    }
    let host = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            // Brackets hold an IPv6 address, never nothing ("[]:80" once allowed "").
            Some((ip, port))
                if ip.parse::<std::net::Ipv6Addr>().is_ok()
                    && (port.is_empty()
                        || port
                            .strip_prefix(':')
                            .is_some_and(|port| port.parse::<u16>().is_ok())) =>
            {
                ip
            }
            _ => return refuse("is not [IPv6] or [IPv6]:port"),
        }
    } else if text.matches(':').count() == 1 {
        match text.split_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => host,
            _ => return refuse("has a port that is not a number"),
        }
    } else {
        text
    };
    if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
        return refuse("is not a valid IPv6 address");
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_hosts_take_the_forms_users_write() {
        for (given, host) in [
            ("127.0.0.1", "127.0.0.1"),
            ("127.0.0.1:8000", "127.0.0.1"),
            ("LocalHost:9000", "localhost"),
            ("[::1]:8080", "::1"),
            ("[::1]", "::1"),
            ("::1", "::1"),
        ] {
            assert_eq!(fetch_host(given).as_deref(), Ok(host), "{given}");
        }
        for bad in [
            "",
            "http://127.0.0.1:8000",
            "host:port",
            "[::1]:x",
            "1:2:zz",
            // Found by fuzz/fetch_policy: a multi-byte character after `]` once panicked.
            "[::1]\u{e9}",
            "[::1]x80",
            "[]:80",
            "[localhost]",
        ] {
            let error = fetch_host(bad).expect_err(bad);
            assert!(error.contains("as written in URLs"), "{error}");
        }
    }

    #[test]
    fn keys_name_their_users() {
        let alice = ApiKey::parse("alice:k1").expect("valid");
        assert_eq!((alice.user.as_str(), alice.key.as_str()), ("alice", "k1"));
        let bare = ApiKey::parse("k2").expect("valid");
        assert_eq!(
            (bare.user.as_str(), bare.key.as_str()),
            (DEFAULT_USER, "k2")
        );
        let colon = ApiKey::parse("a b:c").expect("valid");
        assert_eq!(colon.key, "a b:c");
        assert!(ApiKey::parse(":k").is_err());
        assert!(!format!("{alice:?}").contains("k1"));
        let config = Config::parse_from(["algo-server", "--api-key", "bob:"]);
        assert!(matches!(config.validate(), Err(ConfigError::EmptyKey)));
    }

    #[test]
    fn anonymous_access_is_refused_on_a_network_address() {
        let config = |args: &[&str]| {
            let mut all = vec!["algo-server"];
            all.extend_from_slice(args);
            Config::parse_from(all)
        };
        let open = config(&["--allow-anonymous", "--listen", "0.0.0.0:8080"]);
        let error = open.validate().expect_err("refused");
        assert!(
            error.to_string().contains("--allow-anonymous-on-network"),
            "{error}"
        );
        assert!(
            config(&[
                "--allow-anonymous",
                "--allow-anonymous-on-network",
                "--listen",
                "0.0.0.0:8080"
            ])
            .validate()
            .is_ok()
        );
        assert!(config(&["--allow-anonymous"]).validate().is_ok());
        assert!(
            config(&["--api-key", "k", "--listen", "0.0.0.0:8080"])
                .validate()
                .is_ok()
        );
    }
}
