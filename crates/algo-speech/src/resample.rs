//! Streaming conversion of mono audio at any rate to 16 kHz (rubato's FFT resampler),
//! one chunk at a time, with the resampler's start-up delay trimmed off.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::SAMPLE_RATE;

/// Input frames per resampler call.
const CHUNK: usize = 4096;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResampleError(String);

fn error(context: &str, detail: impl std::fmt::Display) -> ResampleError {
    ResampleError(format!("{context}: {detail}"))
}

/// Mono samples at the source rate in, 16 kHz samples out.
pub struct MonoResampler {
    /// `None` when the source already is 16 kHz.
    fft: Option<Fft<f32>>,
    ratio: f64,
    /// Input not yet consumed (less than one chunk between calls).
    pending: Vec<f32>,
    /// One chunk of output; reused.
    chunk_out: Vec<f32>,
    /// Output frames still to drop: the resampler's delay.
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl MonoResampler {
    pub fn new(source_rate: u32) -> Result<Self, ResampleError> {
        let fft = if source_rate == SAMPLE_RATE {
            None
        } else {
            let fft = Fft::<f32>::new(
                source_rate as usize,
                SAMPLE_RATE as usize,
                CHUNK,
                1,
                FixedSync::Input,
            )
            .map_err(|e| error(&format!("cannot resample from {source_rate} Hz"), e))?;
            Some(fft)
        };
        let (delay_left, max_out) = fft
            .as_ref()
            .map_or((0, 0), |fft| (fft.output_delay(), fft.output_frames_max()));
        Ok(Self {
            fft,
            ratio: f64::from(SAMPLE_RATE) / f64::from(source_rate),
            pending: Vec::with_capacity(2 * CHUNK),
            chunk_out: vec![0.0; max_out],
            delay_left,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Resamples `input`, appending the 16 kHz output ready so far to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.frames_in += input.len() as u64;
        if self.fft.is_none() {
            out.extend_from_slice(input);
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        let mut used = 0;
        while let Some(fft) = self.fft.as_ref() {
            if self.pending.len() - used < fft.input_frames_next() {
                break;
            }
            used += self.run(used, None, out)?;
        }
        self.pending.drain(..used);
        Ok(())
    }

    /// Flushes what is left, so that `out` holds exactly the input's length at 16 kHz.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        if self.fft.is_none() {
            return Ok(());
        }
        let expected = (self.frames_in as f64 * self.ratio).round() as u64;
        let left = self.pending.len();
        if left > 0 {
            self.run(0, Some(left), out)?;
            self.pending.clear();
        }
        // Pump silence through until the delayed tail is out.
        let mut guard = 0;
        while self.frames_out < expected && guard < 64 {
            self.run(0, Some(0), out)?;
            guard += 1;
        }
        let excess = self.frames_out.saturating_sub(expected) as usize;
        out.truncate(out.len().saturating_sub(excess));
        self.frames_out -= excess as u64;
        Ok(())
    }

    /// One resampler call on `pending[offset..]`; returns the input frames consumed.
    fn run(
        &mut self,
        offset: usize,
        partial: Option<usize>,
        out: &mut Vec<f32>,
    ) -> Result<usize, ResampleError> {
        let Some(fft) = self.fft.as_mut() else {
            return Ok(0);
        };
        let available = self.pending.len() - offset;
        let frames = partial
            .unwrap_or_else(|| fft.input_frames_next())
            .min(available);
        let input = InterleavedSlice::new(&self.pending[offset..], 1, frames)
            .map_err(|e| error("input buffer", e))?;
        let capacity = self.chunk_out.len();
        let mut output = InterleavedSlice::new_mut(&mut self.chunk_out[..], 1, capacity)
            .map_err(|e| error("output buffer", e))?;
        let indexing = partial.map(|len| Indexing::new().partial_len(len));
        let (consumed, produced) = fft
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| error("resampler", e))?;
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        out.extend_from_slice(&self.chunk_out[skip..produced]);
        self.frames_out += (produced - skip) as u64;
        Ok(if partial.is_some() { frames } else { consumed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(rate)).sin() as f32 * 0.5
            })
            .collect()
    }

    fn resample_in_pieces(rate: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut resampler = MonoResampler::new(rate).expect("resampler");
        let mut out = Vec::new();
        for part in input.chunks(piece) {
            resampler.push(part, &mut out).expect("push");
        }
        resampler.finish(&mut out).expect("finish");
        out
    }

    #[test]
    fn output_length_matches_duration_at_16_khz() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let input = tone(rate, 1.37);
            let out = resample_in_pieces(rate, &input, 1_000);
            let expected = (input.len() as f64 * 16_000.0 / f64::from(rate)).round() as usize;
            assert_eq!(out.len(), expected, "rate {rate}");
        }
    }

    #[test]
    fn keeps_the_tone_and_its_timing() {
        // Resampling must not shift the signal: compare with a tone made at 16 kHz.
        let out = resample_in_pieces(44_100, &tone(44_100, 1.0), 777);
        let reference = tone(16_000, 1.0);
        let middle = 4_000..12_000;
        let error: f32 = middle
            .clone()
            .map(|i| (out[i] - reference[i]).abs())
            .fold(0.0, f32::max);
        assert!(error < 0.02, "max error {error}");
    }

    #[test]
    fn sixteen_khz_passes_through() {
        let input = tone(16_000, 0.5);
        assert_eq!(resample_in_pieces(16_000, &input, 333), input);
    }

    #[test]
    fn tiny_input_still_gives_its_length() {
        let out = resample_in_pieces(48_000, &tone(48_000, 0.01), 100);
        assert_eq!(out.len(), 160);
    }
}
