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

/// Sample rates accepted, in Hz: from 4 kHz (below telephony's 8 kHz) to 384 kHz
/// (studio). Checked from the header before anything is sized by the rate: the
/// resampler's buffers grow with it (a WAV header claiming 4,294,967,291 Hz asked for
/// 17 GB).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;
/// Most channels accepted (7.1 is 8; ambisonic recordings reach 16 or more).
pub const MAX_CHANNELS: usize = 32;
/// Most frames one packet may declare: decoders size their buffers by it.
pub const MAX_FRAMES_PER_PACKET: u64 = 1 << 20;

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Longest media accepted, in seconds. Checked from the container header before
    /// decoding when it states a length, and again while decoding.
    pub max_seconds: f64,
    /// Most 16 kHz samples decoded per byte of media (an amplification cap: CPU and
    /// memory follow the bytes sent). Real media stays far below it: 32 kbit/s MP3 gives
    /// 4 per byte, 8-bit 8 kHz WAV 2; only a header lying about the length goes past.
    pub max_samples_per_byte: f64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_seconds: 3.0 * 3600.0,
            max_samples_per_byte: 64.0,
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
    #[error(
        "the audio track's sample rate is {rate} Hz; accepted: {} to {} Hz",
        SAMPLE_RATES.start(),
        SAMPLE_RATES.end()
    )]
    SampleRate { rate: u64 },
    #[error("the audio track has {channels} channels; the limit is {MAX_CHANNELS}")]
    Channels { channels: usize },
    #[error(
        "the audio track declares packets of {frames} frames; the limit is {MAX_FRAMES_PER_PACKET}"
    )]
    PacketSize { frames: u64 },
    #[error(
        "{bytes} bytes of media would decode to {samples:.0} samples, over {limit} per byte \
         (--max-media-samples-per-byte): the header claims more audio than the bytes can hold"
    )]
    Amplified {
        bytes: u64,
        samples: f64,
        limit: f64,
    },
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
    let bytes = media.len() as u64;
    contained(|| decode_source(Box::new(Cursor::new(media)), bytes, &Hint::new(), limits))
}

/// Runs a decode, turning a panic inside a codec library into [`MediaError::Corrupt`]:
/// the media is at fault (an `InputError` for the caller, not a failed call). Found by
/// fuzz/media_decode: symphonia's FLAC decoder overflows on crafted LPC data, a panic
/// wherever overflow checks are on (debug builds; its release builds wrap).
fn contained(decode: impl FnOnce() -> Result<Audio, MediaError>) -> Result<Audio, MediaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(MediaError::Corrupt(format!(
            "the decoder failed on it ({reason})"
        )))
    })
}

/// Decodes a media file; its extension helps pick the format.
pub fn decode_file(path: &Path, limits: DecodeLimits) -> Result<Audio, MediaError> {
    let file = std::fs::File::open(path).map_err(|source| MediaError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut hint = Hint::new();
    if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(extension);
    }
    contained(|| decode_source(Box::new(file), bytes, &hint, limits))
}

fn decode_source(
    source: Box<dyn MediaSource + '_>,
    bytes: u64,
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
    check_header(&track)?;
    let budget = Budget { bytes, limits };
    if let Some(seconds) = stated_seconds(&track, sample_rate) {
        budget.check(seconds)?;
    }
    let mut decoder = make_decoder(&track)?;
    let mut sink = MonoSink::new(sample_rate, budget, stated_seconds(&track, sample_rate))?;
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
    let rate = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .and_then(|params| params.sample_rate)
        .filter(|rate| *rate > 0)
        .ok_or_else(|| MediaError::Corrupt("the audio track states no sample rate".to_owned()))?;
    if SAMPLE_RATES.contains(&rate) {
        Ok(rate)
    } else {
        Err(MediaError::SampleRate {
            rate: u64::from(rate),
        })
    }
}

/// The header fields that size a decoder's buffers, checked before it is made.
fn check_header(track: &Track) -> Result<(), MediaError> {
    let Some(params) = track.codec_params.as_ref().and_then(|p| p.audio()) else {
        return Ok(());
    };
    if let Some(channels) = &params.channels
        && channels.count() > MAX_CHANNELS
    {
        return Err(MediaError::Channels {
            channels: channels.count(),
        });
    }
    match params.max_frames_per_packet {
        Some(frames) if frames > MAX_FRAMES_PER_PACKET => Err(MediaError::PacketSize { frames }),
        _ => Ok(()),
    }
}

/// What a piece of media may cost: its length, and samples per byte sent.
#[derive(Debug, Clone, Copy)]
struct Budget {
    bytes: u64,
    limits: DecodeLimits,
}

impl Budget {
    /// Refuses `seconds` of audio (stated by the header, or decoded so far) that is over
    /// the length limit or more than the bytes can hold.
    fn check(&self, seconds: f64) -> Result<(), MediaError> {
        check_length(seconds, self.limits)?;
        let samples = seconds * f64::from(SAMPLE_RATE);
        let limit = self.limits.max_samples_per_byte;
        // A second of slack: short clips carry a header worth more than their audio.
        if samples > (self.bytes as f64 + 1.0) * limit + f64::from(SAMPLE_RATE) {
            return Err(MediaError::Amplified {
                bytes: self.bytes,
                samples,
                limit,
            });
        }
        Ok(())
    }
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
    budget: Budget,
    /// One decoded packet, interleaved; reused.
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    samples: Vec<f32>,
    source_frames: u64,
}

impl MonoSink {
    fn new(rate: u32, budget: Budget, stated: Option<f64>) -> Result<Self, MediaError> {
        // Reserve what the header promises (checked against the budget) to avoid regrowing.
        let reserve = stated
            .map(|s| {
                (s.min(budget.limits.max_seconds) * f64::from(SAMPLE_RATE)) as usize
                    + SAMPLE_RATE as usize
            })
            .unwrap_or(0);
        Ok(Self {
            resampler: MonoResampler::new(rate)?,
            rate,
            budget,
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
        self.budget
            .check(self.source_frames as f64 / f64::from(self.rate))?;
        self.mono.clear();
        self.mono
            .extend(self.interleaved.chunks_exact(channels).map(|frame| {
                let mixed = frame.iter().sum::<f32>() / channels as f32;
                // Float PCM may hold NaN, infinities or values far out of range: they
                // poisoned the resampler's FFT (a panic in rubato, found by
                // fuzz/media_decode) and would reach Whisper. Clip them instead.
                if mixed.is_finite() {
                    mixed.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A PCM WAV: 44-byte header claiming `data_len` bytes of data, then `payload`.
    fn wav(rate: u32, channels: u16, data_len: u32, payload: &[u8]) -> Vec<u8> {
        let bits: u16 = 16;
        let block = channels * bits / 8;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&rate.wrapping_mul(u32::from(block)).to_le_bytes());
        out.extend_from_slice(&block.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn the_76_byte_wav_claiming_4_ghz_is_refused_before_any_allocation() {
        let media = wav(4_294_967_291, 1, 32, &[0; 32]);
        assert_eq!(media.len(), 76);
        let error = decode(&media, DecodeLimits::default()).expect_err("refused");
        assert!(
            matches!(
                error,
                MediaError::SampleRate {
                    rate: 4_294_967_291
                }
            ),
            "{error}"
        );
        assert!(error.is_input_fault());
        assert!(error.to_string().contains("4000 to 384000 Hz"), "{error}");
    }

    #[test]
    fn a_1_hz_wav_is_refused() {
        let error =
            decode(&wav(1, 1, 2000, &[0; 2000]), DecodeLimits::default()).expect_err("refused");
        assert!(
            matches!(error, MediaError::SampleRate { rate: 1 }),
            "{error}"
        );
    }

    #[test]
    fn too_many_channels_are_refused() {
        // symphonia's WAV reader refuses 64 channels itself; other containers reach ours.
        let error =
            decode(&wav(16_000, 64, 256, &[0; 256]), DecodeLimits::default()).expect_err("refused");
        assert!(
            matches!(
                error,
                MediaError::Channels { .. } | MediaError::UnknownFormat(_)
            ),
            "{error}"
        );
        assert!(error.is_input_fault());
    }

    #[test]
    fn a_header_claiming_more_audio_than_the_bytes_hold_is_refused_up_front() {
        // 8 kHz 8-bit-ish claims: the data chunk says 2 GB, the file holds 2 KB.
        let limits = DecodeLimits {
            max_seconds: 1e9,
            max_samples_per_byte: 64.0,
        };
        let error = decode(&wav(8_000, 1, 2_000_000_000, &[0; 2048]), limits).expect_err("refused");
        assert!(matches!(error, MediaError::Amplified { .. }), "{error}");
        assert!(
            error.to_string().contains("--max-media-samples-per-byte"),
            "{error}"
        );
    }

    #[test]
    fn float_pcm_with_nan_infinity_and_huge_values_is_clipped_not_a_panic() {
        // 32-bit float WAV (format 3) at 11025 Hz, so the samples go through the FFT
        // resampler: NaN, infinities and 3e38 once made rubato panic.
        let mut media = wav(11_025, 1, 0, &[]);
        let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38, -3e38, 0.5];
        let payload: Vec<u8> = (0..11_025)
            .flat_map(|i| bad[i % bad.len()].to_le_bytes())
            .collect();
        media[20..22].copy_from_slice(&3u16.to_le_bytes()); // IEEE float
        media[28..32].copy_from_slice(&(11_025u32 * 4).to_le_bytes());
        media[32..34].copy_from_slice(&4u16.to_le_bytes());
        media[34..36].copy_from_slice(&32u16.to_le_bytes());
        media[40..44].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        media[4..8].copy_from_slice(&(36 + payload.len() as u32).to_le_bytes());
        media.extend_from_slice(&payload);
        let audio = decode(&media, DecodeLimits::default()).expect("decodes");
        assert!((audio.duration - 1.0).abs() < 1e-6, "{}", audio.duration);
        assert!(audio.samples.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn ordinary_pcm_decodes_within_the_budget() {
        // One second of 16 kHz 16-bit silence: 0.5 samples per byte.
        let audio = decode(
            &wav(16_000, 1, 32_000, &[0; 32_000]),
            DecodeLimits::default(),
        )
        .expect("decodes");
        assert!((audio.duration - 1.0).abs() < 1e-9, "{}", audio.duration);
    }
}
