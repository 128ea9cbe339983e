//! An energy gate: Whisper invents words for silence, so audio (or a stretch of it)
//! quieter than this never reaches the transcript.

use crate::SAMPLE_RATE;

/// Frame RMS below which a 20 ms frame counts as silent (about -50 dBFS).
const SILENT_RMS: f32 = 0.003;
const FRAME: usize = SAMPLE_RATE as usize / 50;

/// Whether any 20 ms frame of `samples` is loud enough to hold speech.
pub fn has_sound(samples: &[f32]) -> bool {
    samples.chunks(FRAME).any(|frame| rms(frame) >= SILENT_RMS)
}

/// [`has_sound`] over the stretch from `start` to `end` seconds.
pub fn has_sound_between(samples: &[f32], start: f64, end: f64) -> bool {
    let at =
        |seconds: f64| ((seconds.max(0.0) * f64::from(SAMPLE_RATE)) as usize).min(samples.len());
    let (from, to) = (at(start), at(end));
    from < to && has_sound(&samples[from..to])
}

fn rms(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_is_silent_and_speech_level_is_not() {
        let silence = vec![0.0; 16_000];
        let hiss: Vec<f32> = (0..16_000)
            .map(|i| if i % 2 == 0 { 0.001 } else { -0.001 })
            .collect();
        let voice: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        assert!(!has_sound(&silence));
        assert!(!has_sound(&hiss));
        assert!(has_sound(&voice));
        let mut mixed = silence.clone();
        mixed.extend_from_slice(&voice);
        assert!(!has_sound_between(&mixed, 0.0, 1.0));
        assert!(has_sound_between(&mixed, 0.5, 1.5));
        assert!(!has_sound_between(&mixed, 3.0, 4.0));
    }
}
