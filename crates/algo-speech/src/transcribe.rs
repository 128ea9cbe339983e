//! 16 kHz samples to text with whisper.cpp: one `WhisperState` per call on the shared
//! model, greedy decoding, and silence kept out of the transcript.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use whisper_rs::{FullParams, SamplingStrategy};

use crate::model::WhisperModel;
use crate::{Audio, silence};

/// Longest `initial_prompt`, in bytes (Whisper only reads the last 224 tokens anyway).
pub const MAX_PROMPT_BYTES: usize = 4096;

/// Options of one transcription.
#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// Spoken language as a Whisper code (`en`, `de`, ...), or `auto` / `None` to detect
    /// it (multilingual models; English-only models always transcribe English).
    pub language: Option<String>,
    /// Text that primes the decoder: spellings, names, style.
    pub initial_prompt: Option<String>,
}

pub use algorithmia_v1::contracts::speech_to_text::{Segment, Transcript};

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(
        "`language` {0:?} is not a language Whisper knows (use a code such as `en`, `de`, `fr`, or `auto`)"
    )]
    UnknownLanguage(String),
    #[error(
        "`language` {0:?} cannot be transcribed by the English-only model {1}; use a multilingual ggml model (--whisper-model)"
    )]
    EnglishOnly(String, String),
    #[error("`initial_prompt` {0}")]
    BadPrompt(&'static str),
    #[error("the transcription was cancelled")]
    Cancelled,
    #[error("whisper.cpp failed: {0}")]
    Engine(String),
}

impl TranscribeError {
    /// Whether the caller's options are at fault (as opposed to the engine).
    pub fn is_input_fault(&self) -> bool {
        matches!(
            self,
            Self::UnknownLanguage(_) | Self::EnglishOnly(..) | Self::BadPrompt(_)
        )
    }
}

/// Runs Whisper on a shared model; one per server, used from many threads at once.
pub struct Transcriber {
    model: WhisperModel,
    threads: usize,
    /// `cores / threads`: transcriptions that run at once.
    concurrency: usize,
    slots: Slots,
    /// Decoder settings per language, built once: whisper-rs leaks the language string
    /// each time one is set, so it is set once per language rather than once per call.
    templates: Mutex<HashMap<Option<c_int>, Arc<FullParams<'static, 'static>>>>,
}

impl Transcriber {
    /// `threads`: CPU threads whisper.cpp uses per call (at least 1). Calls beyond
    /// `cores / threads` at once wait their turn: ggml's threads spin while they wait
    /// for each other, so oversubscribed cores make every call many times slower.
    pub fn new(model: WhisperModel, threads: usize) -> Self {
        let threads = threads.max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let concurrency = (cores / threads).max(1);
        Self {
            model,
            threads,
            concurrency,
            slots: Slots::new(concurrency),
            templates: Mutex::new(HashMap::new()),
        }
    }

    pub fn model(&self) -> &WhisperModel {
        &self.model
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Transcribes `audio`. `cancelled` is polled during inference (from whisper.cpp's
    /// worker threads); when it returns true the call stops with `Cancelled`.
    pub fn transcribe(
        &self,
        audio: &Audio,
        options: &TranscribeOptions,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Transcript, TranscribeError> {
        let language = self.language_id(options.language.as_deref())?;
        let prompt = self.prompt_tokens(options.initial_prompt.as_deref())?;
        let default_language = language
            .and_then(whisper_rs::get_lang_str)
            .unwrap_or("en")
            .to_owned();
        let silent = Transcript {
            text: String::new(),
            language: Some(default_language),
            duration: audio.duration,
            segments: Vec::new(),
        };
        if !silence::has_sound(&audio.samples) {
            return Ok(silent);
        }
        let mut params = (*self.template(language)).clone();
        params.set_n_threads(c_int::try_from(self.threads).unwrap_or(1));
        params.set_tokens(&prompt);
        // The callback reads `cancelled` through this thin pointer, alive until `full` returns.
        let cancelled_ref: &(dyn Fn() -> bool + Sync) = cancelled;
        let user_data = &cancelled_ref as *const &(dyn Fn() -> bool + Sync) as *mut c_void;
        // SAFETY: `abort_trampoline` only reads `user_data`, which points at `cancelled_ref`
        // on this stack frame, and whisper.cpp calls it only inside `state.full` below.
        unsafe {
            params.set_abort_callback(Some(abort_trampoline));
            params.set_abort_callback_user_data(user_data);
        }
        let _slot = self.slots.acquire(cancelled)?;
        let mut state =
            self.model.context().create_state().map_err(|e| {
                TranscribeError::Engine(format!("cannot create a decoder state: {e}"))
            })?;
        let outcome = state.full(params, &audio.samples);
        if cancelled() {
            return Err(TranscribeError::Cancelled);
        }
        outcome.map_err(|e| TranscribeError::Engine(e.to_string()))?;
        let language = whisper_rs::get_lang_str(state.full_lang_id_from_state())
            .map(str::to_owned)
            .or(silent.language);
        let segments = collect_segments(&state, audio)?;
        let text = segments
            .iter()
            .map(|segment| segment.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            text,
            language,
            duration: audio.duration,
            segments,
        })
    }

    /// Transcriptions that run at once; more wait for a slot. A server can make callers
    /// wait for one of these before giving them a thread.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Checks `options` without transcribing: call it before fetching media.
    pub fn check_options(&self, options: &TranscribeOptions) -> Result<(), TranscribeError> {
        self.language_id(options.language.as_deref())?;
        self.prompt_tokens(options.initial_prompt.as_deref())?;
        Ok(())
    }

    /// `None` means detect (multilingual models only).
    fn language_id(&self, language: Option<&str>) -> Result<Option<c_int>, TranscribeError> {
        let code = language
            .map(str::trim)
            .filter(|code| !code.is_empty() && *code != "auto");
        let Some(code) = code else {
            return Ok(self.model.is_english_only().then_some(0));
        };
        let code = code.to_ascii_lowercase();
        if code.contains('\0') {
            return Err(TranscribeError::UnknownLanguage(code));
        }
        let id = whisper_rs::get_lang_id(&code)
            .ok_or_else(|| TranscribeError::UnknownLanguage(code.clone()))?;
        if self.model.is_english_only() && id != 0 {
            return Err(TranscribeError::EnglishOnly(
                code,
                self.model.path().display().to_string(),
            ));
        }
        Ok(Some(id))
    }

    fn prompt_tokens(&self, prompt: Option<&str>) -> Result<Vec<c_int>, TranscribeError> {
        let Some(prompt) = prompt.filter(|p| !p.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        if prompt.len() > MAX_PROMPT_BYTES {
            return Err(TranscribeError::BadPrompt("is longer than 4096 bytes"));
        }
        if prompt.contains('\0') {
            return Err(TranscribeError::BadPrompt("contains a NUL character"));
        }
        // A token covers at least one byte, so this bound is never too small.
        self.model
            .context()
            .tokenize(prompt, prompt.len() + 1)
            .map_err(|e| TranscribeError::Engine(format!("cannot tokenize `initial_prompt`: {e}")))
    }

    fn template(&self, language: Option<c_int>) -> Arc<FullParams<'static, 'static>> {
        let mut templates = self
            .templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let template = templates
            .entry(language)
            .or_insert_with(|| Arc::new(base_params(language)));
        Arc::clone(template)
    }
}

/// A counting semaphore for inferences running at once.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(count: usize) -> Self {
        Self {
            free: Mutex::new(count),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a free slot, giving up if the call is cancelled meanwhile.
    fn acquire(&self, cancelled: &dyn Fn() -> bool) -> Result<Slot<'_>, TranscribeError> {
        let mut free = self.lock();
        while *free == 0 {
            if cancelled() {
                return Err(TranscribeError::Cancelled);
            }
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *free -= 1;
        Ok(Slot(self))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.lock() += 1;
        self.0.freed.notify_one();
    }
}

fn base_params(language: Option<c_int>) -> FullParams<'static, 'static> {
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(language.and_then(whisper_rs::get_lang_str));
    params.set_translate(false);
    params.set_no_context(true);
    params.set_suppress_blank(true);
    params.set_suppress_nst(true);
    params.set_no_speech_thold(0.6);
    params.set_print_special(false);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params
}

unsafe extern "C" fn abort_trampoline(user_data: *mut c_void) -> bool {
    // SAFETY: set in `transcribe` to a live `&(dyn Fn() -> bool + Sync)`.
    let cancelled = unsafe { &*(user_data as *const &(dyn Fn() -> bool + Sync)) };
    cancelled()
}

fn collect_segments(
    state: &whisper_rs::WhisperState,
    audio: &Audio,
) -> Result<Vec<Segment>, TranscribeError> {
    let mut segments: Vec<Segment> = Vec::new();
    for segment in state.as_iter() {
        let text = segment
            .to_str_lossy()
            .map_err(|e| TranscribeError::Engine(format!("cannot read a segment's text: {e}")))?;
        let text = text.trim();
        // Timestamps are in centiseconds; keep them ordered and within the media.
        let floor = segments.last().map_or(0.0, |last| last.end);
        let start = (segment.start_timestamp() as f64 / 100.0).clamp(floor, audio.duration);
        let end = (segment.end_timestamp() as f64 / 100.0).clamp(start, audio.duration);
        if text.is_empty()
            || is_annotation(text)
            || !silence::has_sound_between(&audio.samples, start, end)
        {
            continue;
        }
        segments.push(Segment {
            start,
            end,
            text: text.to_owned(),
        });
    }
    Ok(segments)
}

/// `[BLANK_AUDIO]`, `(music)`, `[Silence]`: Whisper's notes about sound, not speech.
fn is_annotation(text: &str) -> bool {
    let bracketed = |open: char, close: char| text.starts_with(open) && text.ends_with(close);
    bracketed('[', ']') || bracketed('(', ')') || bracketed('*', '*')
}

#[cfg(test)]
mod tests {
    use super::is_annotation;

    #[test]
    fn slots_limit_concurrency_and_honour_cancellation() {
        let slots = super::Slots::new(1);
        let first = slots.acquire(&|| false).expect("a free slot");
        assert!(matches!(
            slots.acquire(&|| true),
            Err(super::TranscribeError::Cancelled)
        ));
        drop(first);
        assert!(slots.acquire(&|| false).is_ok());
    }

    #[test]
    fn notes_about_sound_are_not_speech() {
        assert!(is_annotation("[BLANK_AUDIO]"));
        assert!(is_annotation("(music playing)"));
        assert!(!is_annotation("Hello (there)."));
    }
}
