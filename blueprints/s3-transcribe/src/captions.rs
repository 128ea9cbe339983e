//! The text, WebVTT and SRT renderings of the transcript the SpeechToText algorithm
//! returns (its type is the wire contract in `algorithmia-v1`).

pub use blueprint_core::v1::contracts::speech_to_text::{Segment, Transcript};

/// The text, WebVTT and SRT renderings of a [`Transcript`].
pub trait Captions {
    fn to_txt(&self) -> String;
    fn to_vtt(&self) -> String;
    fn to_srt(&self) -> String;
}

impl Captions for Transcript {
    fn to_txt(&self) -> String {
        let mut text = self.text.trim().to_owned();
        text.push('\n');
        text
    }

    /// WebVTT: a `WEBVTT` header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`.
    fn to_vtt(&self) -> String {
        let mut out = String::from("WEBVTT\n");
        for segment in cues(self) {
            out.push_str(&format!(
                "\n{} --> {}\n{}\n",
                timestamp(segment.start, '.'),
                timestamp(segment.end, '.'),
                segment.text.trim()
            ));
        }
        out
    }

    /// SRT: numbered cues `HH:MM:SS,mmm --> HH:MM:SS,mmm`, blank-line separated.
    fn to_srt(&self) -> String {
        let mut out = String::new();
        for (i, segment) in cues(self).enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!(
                "{}\n{} --> {}\n{}\n",
                i + 1,
                timestamp(segment.start, ','),
                timestamp(segment.end, ','),
                segment.text.trim()
            ));
        }
        out
    }
}

/// Segments worth a cue: with text, and lasting at least a millisecond.
fn cues(transcript: &Transcript) -> impl Iterator<Item = &Segment> {
    transcript
        .segments
        .iter()
        .filter(|s| !s.text.trim().is_empty() && s.end > s.start)
}

/// `HH:MM:SS<sep>mmm`, rounded to the millisecond.
fn timestamp(seconds: f64, separator: char) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{h:02}:{m:02}:{s:02}{separator}{ms:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript() -> Transcript {
        Transcript {
            text: " Hello world. Second line.".into(),
            language: Some("en".into()),
            duration: 3723.5,
            segments: vec![
                Segment {
                    start: 0.0,
                    end: 1.5,
                    text: " Hello world.".into(),
                },
                Segment {
                    start: 1.5,
                    end: 1.5,
                    text: "".into(),
                },
                Segment {
                    start: 3661.0416,
                    end: 3723.5,
                    text: " Second line.".into(),
                },
            ],
        }
    }

    #[test]
    fn timestamps_use_each_formats_syntax() {
        assert_eq!(timestamp(3661.0416, '.'), "01:01:01.042");
        assert_eq!(timestamp(0.0, ','), "00:00:00,000");
        assert_eq!(timestamp(59.9996, ','), "00:01:00,000");
    }

    #[test]
    fn renders_vtt_srt_and_text() {
        let t = transcript();
        assert_eq!(
            t.to_vtt(),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello world.\n\n01:01:01.042 --> 01:02:03.500\nSecond line.\n"
        );
        assert_eq!(
            t.to_srt(),
            "1\n00:00:00,000 --> 00:00:01,500\nHello world.\n\n2\n01:01:01,042 --> 01:02:03,500\nSecond line.\n"
        );
        assert_eq!(t.to_txt(), "Hello world. Second line.\n");
    }
}
