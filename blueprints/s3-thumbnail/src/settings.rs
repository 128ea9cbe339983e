use std::fmt;
use std::str::FromStr;

use blueprint_core::AlgorithmiaSettings;
use blueprint_core::env::{self, SettingsError, non_empty, positive};
use blueprint_core::v1::AlgoPath;

pub const DEFAULT_ALGORITHM: &str = blueprint_core::v1::contracts::smart_thumbnail::PATH;
pub const THUMBNAIL_SIZES: &str = "THUMBNAIL_SIZES";
pub const OUTPUT_BUCKET: &str = "OUTPUT_BUCKET";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
pub const THUMBNAIL_FORMAT: &str = "THUMBNAIL_FORMAT";
pub const MAX_IMAGE_BYTES: &str = "MAX_IMAGE_BYTES";
pub const CACHE_CONTROL: &str = "CACHE_CONTROL";
pub const MAX_CONCURRENT_RECORDS: &str = "MAX_CONCURRENT_RECORDS";

/// Largest thumbnail side accepted in `THUMBNAIL_SIZES`.
const MAX_SIDE: u32 = 4096;

/// A thumbnail size, `WxH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (w, h) = text
            .trim()
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"))?;
        let side = |s: &str| match s.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_SIDE).contains(&n) => Ok(n),
            _ => Err(format!("{text:?}: each side must be 1..={MAX_SIDE}")),
        };
        Ok(Size {
            width: side(w)?,
            height: side(h)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailFormat {
    Jpeg,
    Png,
    Webp,
}

impl ThumbnailFormat {
    pub fn name(self) -> &'static str {
        match self {
            ThumbnailFormat::Jpeg => "jpeg",
            ThumbnailFormat::Png => "png",
            ThumbnailFormat::Webp => "webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ThumbnailFormat::Jpeg => "jpg",
            other => other.name(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ThumbnailFormat::Jpeg => "image/jpeg",
            ThumbnailFormat::Png => "image/png",
            ThumbnailFormat::Webp => "image/webp",
        }
    }
}

impl FromStr for ThumbnailFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(ThumbnailFormat::Jpeg),
            "png" => Ok(ThumbnailFormat::Png),
            "webp" => Ok(ThumbnailFormat::Webp),
            _ => Err("must be jpeg, png or webp".into()),
        }
    }
}

/// The blueprint's settings, read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub algorithmia: AlgorithmiaSettings,
    pub algorithm: AlgoPath,
    pub sizes: Vec<Size>,
    /// `None`: the source bucket.
    pub output_bucket: Option<String>,
    pub output_prefix: String,
    pub format: ThumbnailFormat,
    pub max_image_bytes: u64,
    pub cache_control: String,
    pub max_concurrent_records: usize,
}

impl Settings {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let algorithm = env::algorithm(&env, DEFAULT_ALGORITHM)?;
        let sizes_text = non_empty(&env, THUMBNAIL_SIZES).unwrap_or_else(|| "200x200".into());
        let sizes = sizes_text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Size>, _>>()
            .map_err(|e| SettingsError::invalid(THUMBNAIL_SIZES, sizes_text.clone(), e))?;
        if sizes.is_empty() {
            return Err(SettingsError::invalid(
                THUMBNAIL_SIZES,
                sizes_text,
                "lists no size",
            ));
        }
        let format_text = non_empty(&env, THUMBNAIL_FORMAT).unwrap_or_else(|| "jpeg".into());
        let format = format_text
            .parse()
            .map_err(|e| SettingsError::invalid(THUMBNAIL_FORMAT, format_text.clone(), e))?;
        let mut output_prefix =
            non_empty(&env, OUTPUT_PREFIX).unwrap_or_else(|| "thumbnails/".into());
        if !output_prefix.ends_with('/') {
            output_prefix.push('/');
        }
        Ok(Self {
            algorithmia: AlgorithmiaSettings::from_env(&env)?,
            algorithm,
            sizes,
            output_bucket: non_empty(&env, OUTPUT_BUCKET),
            output_prefix,
            format,
            max_image_bytes: positive(&env, MAX_IMAGE_BYTES, 50 * 1024 * 1024)?,
            cache_control: non_empty(&env, CACHE_CONTROL)
                .unwrap_or_else(|| "public, max-age=86400".into()),
            max_concurrent_records: positive(&env, MAX_CONCURRENT_RECORDS, 8)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| (k == "ALGORITHMIA_API_KEY").then(|| "simK".into()))
        }
    }

    #[test]
    fn defaults() {
        let s = Settings::from_env(env(&[])).expect("valid");
        assert_eq!(
            s.sizes,
            vec![Size {
                width: 200,
                height: 200
            }]
        );
        assert_eq!(s.output_prefix, "thumbnails/");
        assert_eq!(s.algorithm.to_string(), DEFAULT_ALGORITHM);
        assert_eq!(s.format, ThumbnailFormat::Jpeg);
    }

    #[test]
    fn sizes_and_errors_name_the_variable() {
        let s = Settings::from_env(env(&[
            (THUMBNAIL_SIZES, "200x200, 640X360"),
            (OUTPUT_PREFIX, "t"),
        ]))
        .expect("valid");
        assert_eq!(
            s.sizes[1],
            Size {
                width: 640,
                height: 360
            }
        );
        assert_eq!(s.output_prefix, "t/");
        for bad in [
            &[(THUMBNAIL_SIZES, "200")][..],
            &[(THUMBNAIL_SIZES, "0x10")],
            &[(THUMBNAIL_FORMAT, "gif")],
            &[(env::ALGORITHM, "nope")],
        ] {
            let err = Settings::from_env(env(Box::leak(bad.to_vec().into_boxed_slice())))
                .expect_err("invalid");
            assert!(err.to_string().contains(bad[0].0), "{err}");
        }
    }
}
