use std::str::FromStr;
use std::time::Duration;

use blueprint_core::v1::MAX_TIMEOUT_SECS;

use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, non_empty, positive};
use blueprint_core::v1::AlgoPath;

pub const DEFAULT_ALGORITHM: &str = blueprint_core::v1::contracts::speech_to_text::PATH;
pub const MEDIA_SUFFIXES: &str = "MEDIA_SUFFIXES";
pub const OUTPUT_BUCKET: &str = "OUTPUT_BUCKET";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
pub const TRANSCRIBE_MODE: &str = "TRANSCRIBE_MODE";
/// Replaced by [`TRANSCRIBE_SPEED`] and [`MEDIA_BITRATE_FLOOR`]: refused, naming both.
pub const TRANSCRIBE_BYTES_PER_SECOND: &str = "TRANSCRIBE_BYTES_PER_SECOND";
pub const TRANSCRIBE_SPEED: &str = "TRANSCRIBE_SPEED";
pub const MEDIA_BITRATE_FLOOR: &str = "MEDIA_BITRATE_FLOOR";
pub const MAX_ASYNC_ATTEMPTS: &str = "MAX_ASYNC_ATTEMPTS";
pub const ASYNC_JOB_DEADLINE: &str = "ASYNC_JOB_DEADLINE";
pub const FAILURE_QUEUE_URL: &str = "FAILURE_QUEUE_URL";
pub const MAX_MEDIA_BYTES: &str = "MAX_MEDIA_BYTES";
pub const LANGUAGE: &str = "LANGUAGE";

/// How a recording is transcribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sync when the estimate fits in the time left, async otherwise.
    Auto,
    /// Wait for the transcript inside the invocation.
    Sync,
    /// `output=void`: the server PUTs the result; its arrival triggers rendering.
    Async,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Mode::Auto),
            "sync" => Ok(Mode::Sync),
            "async" => Ok(Mode::Async),
            _ => Err("must be auto, sync or async".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    pub algorithm: AlgoPath,
    /// Lowercase, without the dot.
    pub media_suffixes: Vec<String>,
    pub output_bucket: Option<String>,
    pub output_prefix: String,
    pub mode: Mode,
    /// Seconds of media the algorithm transcribes per second of work (Whisper tiny.en
    /// ran at ~11x real time on 2 cores; 6 leaves room for a busier server).
    pub speed: u64,
    /// Bits per second assumed when the media's header gives no duration: a low
    /// bitrate, so the duration is overestimated (and the job goes async) rather than
    /// under.
    pub bitrate_floor: u64,
    /// Submissions of one async job (the first included) before it is given up.
    pub max_async_attempts: u32,
    /// Seconds after a submission before the sweep takes the job up; unset: the
    /// algorithm's timeout plus [`crate::jobs::RESULT_GRACE`].
    pub async_job_deadline: Option<Duration>,
    /// Where the sweep sends an async job it gives up on (the stack's failure queue).
    pub failure_queue_url: Option<String>,
    pub max_media_bytes: u64,
    pub language: Option<String>,
}

impl Settings {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let algorithm = env::algorithm(&env, DEFAULT_ALGORITHM)?;
        let suffixes_text =
            non_empty(&env, MEDIA_SUFFIXES).unwrap_or_else(|| ".mp4 .mov .m4a .mp3 .wav".into());
        let media_suffixes: Vec<String> = suffixes_text
            .split([',', ' '])
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if media_suffixes.is_empty() {
            return Err(SettingsError::invalid(
                MEDIA_SUFFIXES,
                suffixes_text,
                "lists no suffix",
            ));
        }
        let mut output_prefix =
            non_empty(&env, OUTPUT_PREFIX).unwrap_or_else(|| "transcripts/".into());
        if !output_prefix.ends_with('/') {
            output_prefix.push('/');
        }
        let mode_text = non_empty(&env, TRANSCRIBE_MODE).unwrap_or_else(|| "auto".into());
        let mode = mode_text
            .parse()
            .map_err(|e| SettingsError::invalid(TRANSCRIBE_MODE, mode_text.clone(), e))?;
        if let Some(old) = non_empty(&env, TRANSCRIBE_BYTES_PER_SECOND) {
            return Err(SettingsError::invalid(
                TRANSCRIBE_BYTES_PER_SECOND,
                old,
                format!(
                    "is no longer read: the duration now comes from the media's header; set {TRANSCRIBE_SPEED} (seconds of media transcribed per second) and {MEDIA_BITRATE_FLOOR} (bits per second assumed without a header) instead, and remove it"
                ),
            ));
        }
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            algorithm,
            media_suffixes,
            output_bucket: non_empty(&env, OUTPUT_BUCKET),
            output_prefix,
            mode,
            speed: positive(&env, TRANSCRIBE_SPEED, 6)?,
            bitrate_floor: positive(&env, MEDIA_BITRATE_FLOOR, 16_000)?,
            max_async_attempts: positive(&env, MAX_ASYNC_ATTEMPTS, 3)?,
            async_job_deadline: match non_empty(&env, ASYNC_JOB_DEADLINE) {
                Some(_) => Some(Duration::from_secs(positive(&env, ASYNC_JOB_DEADLINE, 1)?)),
                None => None,
            },
            failure_queue_url: non_empty(&env, FAILURE_QUEUE_URL),
            max_media_bytes: positive(&env, MAX_MEDIA_BYTES, 2 * 1024 * 1024 * 1024)?,
            language: non_empty(&env, LANGUAGE),
        })
    }

    /// Where async results land before they are rendered.
    pub fn pending_prefix(&self) -> String {
        format!("{}.pending/", self.output_prefix)
    }

    /// Where async job markers live (see `jobs`): not a trigger prefix.
    pub fn jobs_prefix(&self) -> String {
        format!("{}.jobs/", self.output_prefix)
    }

    /// The algorithm's expected work for `media_seconds` of media.
    pub fn expected_work(&self, media_seconds: f64) -> Duration {
        Duration::from_secs_f64((media_seconds / self.speed as f64).clamp(0.0, 1e9))
    }

    /// Sync or async for `media_seconds` of media with `time_left` in the invocation:
    /// sync when twice the expected work (`media_seconds / TRANSCRIBE_SPEED`) fits.
    pub fn choose(&self, media_seconds: f64, time_left: Duration) -> Mode {
        match self.mode {
            Mode::Auto => {
                if self.expected_work(media_seconds) * 2 < time_left {
                    Mode::Sync
                } else {
                    Mode::Async
                }
            }
            forced => forced,
        }
    }

    /// The algorithm's timeout for an async job: three times the expected work plus a
    /// minute, within the API's 300 s default and 3,000 s maximum.
    /// How long after a submission its result may take before the sweep resubmits.
    pub fn async_wait(&self, timeout: Duration) -> Duration {
        self.async_job_deadline
            .unwrap_or(timeout + crate::jobs::RESULT_GRACE)
    }

    pub fn async_timeout(&self, media_seconds: f64) -> Duration {
        (self.expected_work(media_seconds) * 3 + Duration::from_secs(60)).clamp(
            Duration::from_secs(300),
            Duration::from_secs(MAX_TIMEOUT_SECS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &'static [(&'static str, &'static str)]) -> Settings {
        Settings::from_env(move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| (k == "ALGORITHMIA_API_KEY").then(|| "simK".into()))
        })
        .expect("valid")
    }

    #[test]
    fn the_sweep_waits_the_timeout_plus_grace_unless_a_deadline_is_set() {
        let timeout = Duration::from_secs(300);
        assert_eq!(
            settings(&[]).async_wait(timeout),
            timeout + crate::jobs::RESULT_GRACE
        );
        let hurried = settings(&[(ASYNC_JOB_DEADLINE, "45")]);
        assert_eq!(hurried.async_wait(timeout), Duration::from_secs(45));
        let error = Settings::from_env(|k| match k {
            ASYNC_JOB_DEADLINE => Some("0".into()),
            "ALGORITHMIA_API_KEY" => Some("simK".into()),
            _ => None,
        })
        .expect_err("zero");
        assert!(error.to_string().contains(ASYNC_JOB_DEADLINE), "{error}");
    }

    #[test]
    fn auto_mode_goes_async_when_the_estimate_does_not_fit() {
        let s = settings(&[]);
        assert_eq!(s.media_suffixes, ["mp4", "mov", "m4a", "mp3", "wav"]);
        // 60 s of media at 6x: 10 s of work.
        assert_eq!(s.choose(60.0, Duration::from_secs(60)), Mode::Sync);
        assert_eq!(s.choose(60.0, Duration::from_secs(15)), Mode::Async);
        let forced = settings(&[(TRANSCRIBE_MODE, "sync")]);
        assert_eq!(forced.choose(1e12, Duration::ZERO), Mode::Sync);
        assert_eq!(s.async_timeout(1.0), Duration::from_secs(300));
        assert_eq!(s.async_timeout(6000.0), Duration::from_secs(3000));
        assert_eq!(s.max_async_attempts, 3);
        assert!(
            Settings::from_env(|k| match k {
                TRANSCRIBE_MODE => Some("later".into()),
                "ALGORITHMIA_API_KEY" => Some("k".into()),
                _ => None,
            })
            .expect_err("bad mode")
            .to_string()
            .contains(TRANSCRIBE_MODE)
        );
        let replaced = Settings::from_env(|k| match k {
            TRANSCRIBE_BYTES_PER_SECOND => Some("100000".into()),
            "ALGORITHMIA_API_KEY" => Some("k".into()),
            _ => None,
        })
        .expect_err("a replaced setting")
        .to_string();
        assert!(
            replaced.contains(TRANSCRIBE_SPEED) && replaced.contains(MEDIA_BITRATE_FLOOR),
            "{replaced}"
        );
    }
}
