//! Media bytes to 16 kHz mono samples: demux and decode the first audio track with
//! symphonia, mix it down and resample it as it streams, so memory follows the media's
//! duration, never its decoded size at the source rate.

use std::io::Cursor;
use std::path::Path;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::resample::{MonoResampler, ResampleError};
use crate::{Audio, SAMPLE_RATE};

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Longest media accepted, in seconds. Checked from the container header before
    /// decoding when it states a length, and again while decoding.
    pub max_seconds: f64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_seconds: 3.0 * 3600.0,
        }
    }
}

/// Why media could not be turned into audio samples.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(
        "the media is not a format this server can read ({0}); supported: MP4/MOV/M4A (AAC), \
         MP3, WAV, FLAC, Ogg Vorbis, MKV/WebM (Vorbis, FLAC, PCM)"
    )]
    UnknownFormat(String),
    #[error("the media has no audio track (a video without sound?)")]
    NoAudioTrack,
    #[error(
        "the media's audio codec is not supported ({0}); supported: AAC, MP3, PCM, FLAC, Vorbis"
    )]
    UnsupportedCodec(String),
    #[error("the media is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("the media holds no decodable audio samples")]
    Empty,
    #[error("the media is {seconds:.0} s long; the limit is {limit:.0} s (--max-media-seconds)")]
    TooLong { seconds: f64, limit: f64 },
    #[error("cannot open the media file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("resampling to 16 kHz failed: {0}")]
    Resample(#[from] ResampleError),
}

impl MediaError {
    /// Whether the media itself is at fault (as opposed to the server).
    pub fn is_input_fault(&self) -> bool {
        !matches!(self, MediaError::Resample(_) | MediaError::Open { .. })
    }
}

/// Decodes media held in memory.
pub fn decode(media: &[u8], limits: DecodeLimits) -> Result<Audio, MediaError> {
    decode_source(Box::new(Cursor::new(media)), &Hint::new(), limits)
}

/// Decodes a media file; its extension helps pick the format.
pub fn decode_file(path: &Path, limits: DecodeLimits) -> Result<Audio, MediaError> {
    let file = std::fs::File::open(path).map_err(|source| MediaError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let mut hint = Hint::new();
    if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(extension);
    }
    decode_source(Box::new(file), &hint, limits)
}

fn decode_source(
    source: Box<dyn MediaSource + '_>,
    hint: &Hint,
    limits: DecodeLimits,
) -> Result<Audio, MediaError> {
    let stream = MediaSourceStream::new(source, Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|error| match error {
            SymphoniaError::IoError(io) => MediaError::Corrupt(io.to_string()),
            other => MediaError::UnknownFormat(other.to_string()),
        })?;
    let track = audio_track(format.as_ref())?.clone();
    let sample_rate = track_rate(&track)?;
    if let Some(seconds) = stated_seconds(&track, sample_rate) {
        check_length(seconds, limits)?;
    }
    let mut decoder = make_decoder(&track)?;
    let mut sink = MonoSink::new(sample_rate, limits, stated_seconds(&track, sample_rate))?;
    pump(format.as_mut(), decoder.as_mut(), track.id, &mut sink)?;
    sink.finish()
}

/// The first (or default) audio track, or why there is none we can decode.
fn audio_track(format: &dyn FormatReader) -> Result<&Track, MediaError> {
    if let Some(track) = format.default_track(TrackType::Audio) {
        return Ok(track);
    }
    let audio = format
        .tracks()
        .iter()
        .find_map(|track| track.codec_params.as_ref().and_then(|p| p.audio()));
    match audio {
        Some(params) => Err(MediaError::UnsupportedCodec(format!(
            "codec id {}",
            params.codec
        ))),
        None => Err(MediaError::NoAudioTrack),
    }
}

fn track_rate(track: &Track) -> Result<u32, MediaError> {
    track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .and_then(|params| params.sample_rate)
        .filter(|rate| *rate > 0)
        .ok_or_else(|| MediaError::Corrupt("the audio track states no sample rate".to_owned()))
}

/// The length the container states for the track, if it states one.
fn stated_seconds(track: &Track, sample_rate: u32) -> Option<f64> {
    let from_duration = track
        .time_base
        .zip(track.duration)
        .and_then(|(base, duration)| base.calc_duration(duration))
        .map(|time| time.as_secs_f64());
    let from_frames = track
        .num_frames
        .map(|frames| frames as f64 / f64::from(sample_rate));
    from_duration
        .or(from_frames)
        .filter(|s| s.is_finite() && *s > 0.0)
}

fn check_length(seconds: f64, limits: DecodeLimits) -> Result<(), MediaError> {
    if seconds > limits.max_seconds {
        Err(MediaError::TooLong {
            seconds,
            limit: limits.max_seconds,
        })
    } else {
        Ok(())
    }
}

fn make_decoder(track: &Track) -> Result<Box<dyn AudioDecoder>, MediaError> {
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or(MediaError::NoAudioTrack)?;
    symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|error| MediaError::UnsupportedCodec(error.to_string()))
}

/// Packets that fail to decode before the stream is called corrupt (a few bad packets
/// in a long recording are skipped, as players do).
const MAX_BAD_PACKETS: usize = 32;

fn pump(
    format: &mut dyn FormatReader,
    decoder: &mut dyn AudioDecoder,
    track_id: u32,
    sink: &mut MonoSink,
) -> Result<(), MediaError> {
    let mut bad_packets = 0;
    let mut last_error = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(SymphoniaError::ResetRequired) => break,
            // A truncated file ends early: keep what was decoded.
            Err(SymphoniaError::IoError(error))
                if error.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                last_error = error.to_string();
                break;
            }
            Err(error) => return Err(MediaError::Corrupt(error.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                sink.interleaved.clear();
                buffer.copy_to_vec_interleaved(&mut sink.interleaved);
                sink.push(buffer.spec().channels().count())?;
            }
            Err(SymphoniaError::DecodeError(message)) => {
                bad_packets += 1;
                last_error = message.to_owned();
                if bad_packets > MAX_BAD_PACKETS {
                    return Err(MediaError::Corrupt(message.to_owned()));
                }
            }
            Err(SymphoniaError::IoError(error)) => {
                bad_packets += 1;
                last_error = error.to_string();
            }
            Err(error) => return Err(MediaError::Corrupt(error.to_string())),
        }
    }
    if sink.source_frames == 0 && !last_error.is_empty() {
        return Err(MediaError::Corrupt(last_error));
    }
    Ok(())
}

/// Mixes decoded buffers down to mono and feeds the 16 kHz resampler.
struct MonoSink {
    resampler: MonoResampler,
    rate: u32,
    limits: DecodeLimits,
    /// One decoded packet, interleaved; reused.
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    samples: Vec<f32>,
    source_frames: u64,
}

impl MonoSink {
    fn new(rate: u32, limits: DecodeLimits, stated: Option<f64>) -> Result<Self, MediaError> {
        // Reserve what the header promises (within the limit) to avoid regrowing.
        let reserve = stated
            .map(|s| {
                (s.min(limits.max_seconds) * f64::from(SAMPLE_RATE)) as usize + SAMPLE_RATE as usize
            })
            .unwrap_or(0);
        Ok(Self {
            resampler: MonoResampler::new(rate)?,
            rate,
            limits,
            interleaved: Vec::new(),
            mono: Vec::new(),
            samples: Vec::with_capacity(reserve),
            source_frames: 0,
        })
    }

    fn push(&mut self, channels: usize) -> Result<(), MediaError> {
        let channels = channels.max(1);
        let frames = self.interleaved.len() / channels;
        self.source_frames += frames as u64;
        check_length(
            self.source_frames as f64 / f64::from(self.rate),
            self.limits,
        )?;
        self.mono.clear();
        self.mono.extend(
            self.interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        self.resampler.push(&self.mono, &mut self.samples)?;
        Ok(())
    }

    fn finish(mut self) -> Result<Audio, MediaError> {
        if self.source_frames == 0 {
            return Err(MediaError::Empty);
        }
        self.resampler.finish(&mut self.samples)?;
        Ok(Audio {
            samples: self.samples,
            duration: self.source_frames as f64 / f64::from(self.rate),
        })
    }
}
