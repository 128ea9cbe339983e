//! The media decode entry of SpeechToText: `algo_speech::decode` (probe, header checks,
//! demux, decode, mix-down, resample to 16 kHz) on arbitrary bytes, with small limits.
//! Checks that a success keeps the promises the limits make.
//!
//! The server runs `decode` with panics unwinding (release profile `panic = "unwind"`),
//! and `decode` turns a panic inside a codec library into `MediaError::Corrupt` (an
//! InputError). The harness keeps that behaviour: libfuzzer-sys's panic hook would abort
//! at the panic, before `decode` could contain it. A panic that escapes `decode` still
//! ends the run as a crash (libfuzzer-sys catches it and aborts). Each panic location is
//! printed once, `fuzz: panic at ...`, so contained codec bugs are reported too.
#![no_main]

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};

use algo_speech::{DecodeLimits, SAMPLE_RATE, decode};
use libfuzzer_sys::fuzz_target;

fn report_panics_once_per_location() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let new = SEEN.lock().map(|mut seen| seen.insert(at.clone()));
            if new.unwrap_or(true) {
                eprintln!(
                    "fuzz: panic at {at}: {}",
                    info.payload_as_str().unwrap_or("?")
                );
            }
        }));
    });
}

/// Small limits: 20 s of media, 64 samples per byte (the server's default ratio).
const LIMITS: DecodeLimits = DecodeLimits {
    max_seconds: 20.0,
    max_samples_per_byte: 64.0,
};

fuzz_target!(|data: &[u8]| {
    report_panics_once_per_location();
    match decode(data, LIMITS) {
        Ok(audio) => {
            let rate = f64::from(SAMPLE_RATE);
            assert!(
                audio.duration.is_finite() && audio.duration > 0.0,
                "duration {}",
                audio.duration
            );
            assert!(
                audio.duration <= LIMITS.max_seconds,
                "{} s decoded, limit {} s",
                audio.duration,
                LIMITS.max_seconds
            );
            // The amplification cap, with the budget's one second of slack.
            let budget = (data.len() as f64 + 1.0) * LIMITS.max_samples_per_byte + rate;
            assert!(
                audio.duration * rate <= budget,
                "{} bytes decoded to {} s",
                data.len(),
                audio.duration
            );
            // The 16 kHz output follows the decoded length (plus the resampler's tail).
            let samples = audio.samples.len() as f64;
            assert!(
                samples <= audio.duration * rate + rate,
                "{samples} samples for {} s",
                audio.duration
            );
        }
        Err(error) => {
            let _ = error.is_input_fault();
            assert!(!error.to_string().is_empty());
        }
    }
});
