use std::str::FromStr;
use std::time::Duration;

use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, non_empty, positive};
use blueprint_core::v1::AlgoPath;

pub const DEFAULT_ALGORITHM: &str = blueprint_core::v1::contracts::speech_to_text::PATH;
pub const MEDIA_SUFFIXES: &str = "MEDIA_SUFFIXES";
pub const OUTPUT_BUCKET: &str = "OUTPUT_BUCKET";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
pub const TRANSCRIBE_MODE: &str = "TRANSCRIBE_MODE";
pub const TRANSCRIBE_BYTES_PER_SECOND: &str = "TRANSCRIBE_BYTES_PER_SECOND";
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
    /// Media bytes the algorithm gets through per second, for the auto mode's
    /// estimate (conservative: 1 MB of 128 kbit/s audio is ~60 s of speech).
    pub bytes_per_second: u64,
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
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            algorithm,
            media_suffixes,
            output_bucket: non_empty(&env, OUTPUT_BUCKET),
            output_prefix,
            mode,
            bytes_per_second: positive(&env, TRANSCRIBE_BYTES_PER_SECOND, 100_000)?,
            max_media_bytes: positive(&env, MAX_MEDIA_BYTES, 2 * 1024 * 1024 * 1024)?,
            language: non_empty(&env, LANGUAGE),
        })
    }

    /// Where async results land before they are rendered.
    pub fn pending_prefix(&self) -> String {
        format!("{}.pending/", self.output_prefix)
    }

    /// Sync or async for an object of `size` bytes with `time_left` in the invocation:
    /// sync when twice the estimate (`size / TRANSCRIBE_BYTES_PER_SECOND`) fits.
    pub fn choose(&self, size: u64, time_left: Duration) -> Mode {
        match self.mode {
            Mode::Auto => {
                let estimate = Duration::from_secs_f64(size as f64 / self.bytes_per_second as f64);
                if estimate * 2 < time_left {
                    Mode::Sync
                } else {
                    Mode::Async
                }
            }
            forced => forced,
        }
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
    fn auto_mode_goes_async_when_the_estimate_does_not_fit() {
        let s = settings(&[]);
        assert_eq!(s.media_suffixes, ["mp4", "mov", "m4a", "mp3", "wav"]);
        // 1 MB at 100 kB/s: ~10 s of work.
        assert_eq!(s.choose(1_000_000, Duration::from_secs(60)), Mode::Sync);
        assert_eq!(s.choose(1_000_000, Duration::from_secs(15)), Mode::Async);
        let forced = settings(&[(TRANSCRIBE_MODE, "sync")]);
        assert_eq!(forced.choose(u64::MAX / 4, Duration::ZERO), Mode::Sync);
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
    }
}
