//! How long a recording is, read cheaply from its container header: a ranged GET of
//! its first 64 KiB (and, for an MP4 whose `moov` box sits at the end, a few small
//! ones more), never the whole file. MP4/MOV/M4A give `mvhd`'s duration, WAV its
//! `data` size over the byte rate, MP3 its Xing/VBRI frame count or its CBR bitrate.
//! Without a readable header the duration is the size at `MEDIA_BITRATE_FLOOR`, a low
//! bitrate, so it is overestimated (the job goes async) rather than under.

use aws_sdk_s3::Client as S3;

use crate::settings::MEDIA_BITRATE_FLOOR;

/// The first read: enough for WAV and MP3 headers and a fast-start MP4's `moov` start.
const HEAD_BYTES: u64 = 64 * 1024;
/// Of a `moov` box, only its start is read: `mvhd` comes first in every writer seen.
const MOOV_BYTES: u64 = 64 * 1024;
/// Top-level MP4 boxes walked, and extra reads made, before giving up on the header.
const MAX_BOXES: usize = 32;
const MAX_EXTRA_READS: usize = 4;
/// Durations outside this are not believed (about 4 months).
const MAX_SECONDS: f64 = 1e7;

/// A recording's duration and what it was read from, for logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaDuration {
    pub seconds: f64,
    pub from: &'static str,
}

/// Reads byte ranges of one object; `None` when the range cannot be read.
pub trait ByteRanges {
    fn read(&self, offset: u64, len: u64) -> impl Future<Output = Option<Vec<u8>>> + Send;
}

/// Ranged GETs of one S3 object (`s3:GetObject` on the source, nothing more).
pub struct S3Ranges<'a> {
    pub s3: &'a S3,
    pub bucket: &'a str,
    pub key: &'a str,
}

impl ByteRanges for S3Ranges<'_> {
    async fn read(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        if len == 0 {
            return None;
        }
        let range = format!("bytes={offset}-{}", offset + len - 1);
        let reply = self
            .s3
            .get_object()
            .bucket(self.bucket)
            .key(self.key)
            .range(range)
            .send()
            .await;
        let mut object = match reply {
            Ok(object) => object,
            Err(e) => {
                tracing::debug!(key = %self.key, error = %e, "no ranged read of the header");
                return None;
            }
        };
        // A server that ignores Range sends the whole object: stop at `len`.
        let mut body = Vec::new();
        while let Some(chunk) = object.body.next().await {
            body.extend_from_slice(&chunk.ok()?);
            if body.len() as u64 >= len {
                body.truncate(len as usize);
                break;
            }
        }
        Some(body)
    }
}

/// The duration from the header, else `size` at `bitrate_floor` bits per second.
pub async fn estimate(ranges: &impl ByteRanges, size: u64, bitrate_floor: u64) -> MediaDuration {
    match from_header(ranges, size).await {
        Some(found) => found,
        None => MediaDuration {
            seconds: size as f64 * 8.0 / bitrate_floor.max(1) as f64,
            from: MEDIA_BITRATE_FLOOR,
        },
    }
}

/// The duration the container header states, if it can be read.
pub async fn from_header(ranges: &impl ByteRanges, size: u64) -> Option<MediaDuration> {
    let head = ranges.read(0, HEAD_BYTES.min(size)).await?;
    let (seconds, from) = if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        (wav_seconds(&head, size)?, "the WAV header")
    } else if head.len() >= 8
        && matches!(
            &head[4..8],
            b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
        )
    {
        (mp4_seconds(ranges, &head, size).await?, "the MP4 mvhd box")
    } else {
        (mp3_seconds(&head, size)?, "the MP3 frame header")
    };
    (seconds.is_finite() && seconds > 0.0 && seconds < MAX_SECONDS)
        .then_some(MediaDuration { seconds, from })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// An ISO BMFF box header at the start of `bytes`: (box size, type, header length).
/// Size 0 means "to the end" (`remaining`); size 1 means a 64-bit size follows.
fn box_header(bytes: &[u8], remaining: u64) -> Option<(u64, [u8; 4], u64)> {
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let (size, header) = match be_u32(bytes, 0)? {
        0 => (remaining, 8),
        1 => (be_u64(bytes, 8)?, 16),
        n => (u64::from(n), 8),
    };
    (size >= header).then_some((size, kind, header))
}

/// Walks the top-level boxes to `moov` (reading a box header where it is past the
/// first read), then reads `mvhd`'s duration and timescale.
async fn mp4_seconds(ranges: &impl ByteRanges, head: &[u8], size: u64) -> Option<f64> {
    let in_head = |start: u64, len: u64| {
        let end = start.checked_add(len)?;
        head.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
            .map(<[u8]>::to_vec)
    };
    let mut offset = 0u64;
    let mut reads = 0;
    for _ in 0..MAX_BOXES {
        let remaining = size.checked_sub(offset).filter(|r| *r >= 8)?;
        let header_len = remaining.min(16);
        let header = match in_head(offset, header_len) {
            Some(bytes) => bytes,
            None => {
                reads += 1;
                if reads > MAX_EXTRA_READS {
                    return None;
                }
                ranges.read(offset, header_len).await?
            }
        };
        let (box_size, kind, header_len) = box_header(&header, remaining)?;
        if &kind == b"moov" {
            let start = offset + header_len;
            let len = (box_size - header_len).min(MOOV_BYTES);
            let body = match in_head(start, len) {
                Some(bytes) => bytes,
                None => ranges.read(start, len).await?,
            };
            return mvhd_seconds(&body);
        }
        offset = offset.checked_add(box_size)?;
    }
    None
}

/// `mvhd` among the children of a `moov` box: duration / timescale.
fn mvhd_seconds(moov: &[u8]) -> Option<f64> {
    let mut offset = 0usize;
    while offset + 8 <= moov.len() {
        let remaining = (moov.len() - offset) as u64;
        let (size, kind, header) = box_header(&moov[offset..], remaining)?;
        if &kind == b"mvhd" {
            let body = moov.get(offset + header as usize..)?;
            let (timescale, duration) = match body.first()? {
                1 => (be_u32(body, 20)?, be_u64(body, 24)?),
                _ => (be_u32(body, 12)?, u64::from(be_u32(body, 16)?)),
            };
            // All ones: "unknown" (fragmented files); zero: no samples in the moov.
            if timescale == 0 || duration == 0 || duration == u64::MAX || duration == 0xFFFF_FFFF {
                return None;
            }
            return Some(duration as f64 / f64::from(timescale));
        }
        offset = offset.checked_add(usize::try_from(size).ok()?)?;
    }
    None
}

/// RIFF/WAVE: the `data` chunk's size over `fmt `'s byte rate. A streamed WAV's
/// `data` size (0 or all ones) is taken as the rest of the file.
fn wav_seconds(head: &[u8], size: u64) -> Option<f64> {
    let mut offset = 12usize;
    let mut byte_rate = None;
    while offset + 8 <= head.len() {
        let id = &head[offset..offset + 4];
        let chunk = u64::from(le_u32(head, offset + 4)?);
        let body = offset + 8;
        if id == b"fmt " {
            byte_rate = le_u32(head, body + 8).filter(|r| *r > 0);
        } else if id == b"data" {
            let rate = byte_rate?;
            let rest = size.saturating_sub(body as u64);
            let data = if chunk == 0 || chunk == u64::from(u32::MAX) || chunk > rest {
                rest
            } else {
                chunk
            };
            return Some(data as f64 / f64::from(rate));
        }
        offset = body.checked_add(usize::try_from(chunk + (chunk & 1)).ok()?)?;
    }
    None
}

/// MPEG audio layer III: after any ID3v2 tag, the first frame header; its Xing/Info
/// or VBRI frame count (VBR), else its bitrate (CBR).
fn mp3_seconds(head: &[u8], size: u64) -> Option<f64> {
    let mut start = 0usize;
    if head.len() >= 10 && &head[..3] == b"ID3" {
        let syncsafe = head[6..10]
            .iter()
            .fold(0usize, |n, b| (n << 7) | usize::from(b & 0x7F));
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        start = 10 + syncsafe + footer;
    }
    let window = head.get(start..)?;
    let at = (0..window.len().saturating_sub(4).min(4096))
        .find(|&i| window[i] == 0xFF && window[i + 1] & 0xE0 == 0xE0)?;
    let frame = &window[at..];
    let (b1, b2, b3) = (frame[1], frame[2], frame[3]);
    let version = (b1 >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    if version == 1 || (b1 >> 1) & 3 != 1 {
        return None; // reserved version, or not layer III
    }
    let mpeg1 = version == 3;
    const MPEG1_KBPS: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const MPEG2_KBPS: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let kbps = *(if mpeg1 { &MPEG1_KBPS } else { &MPEG2_KBPS }).get(usize::from(b2 >> 4))?;
    let base_rate = *[44_100u32, 48_000, 32_000].get(usize::from((b2 >> 2) & 3))?;
    let sample_rate = match version {
        3 => base_rate,
        2 => base_rate / 2,
        _ => base_rate / 4,
    };
    let samples_per_frame = if mpeg1 { 1152.0 } else { 576.0 };
    let mono = b3 >> 6 == 3;
    let side_info = match (mpeg1, mono) {
        (true, true) => 17,
        (true, false) => 32,
        (false, true) => 9,
        (false, false) => 17,
    };
    let frames = {
        let xing = 4 + side_info;
        let tag = frame.get(xing..xing + 4);
        if matches!(tag, Some(b"Xing") | Some(b"Info")) && be_u32(frame, xing + 4)? & 1 == 1 {
            Some(be_u32(frame, xing + 8)?)
        } else if frame.get(36..40) == Some(b"VBRI") {
            Some(be_u32(frame, 36 + 14)?)
        } else {
            None
        }
    };
    match frames {
        Some(frames) => Some(f64::from(frames) * samples_per_frame / f64::from(sample_rate)),
        None if kbps > 0 => {
            let audio = size.saturating_sub((start + at) as u64);
            Some(audio as f64 * 8.0 / (f64::from(kbps) * 1000.0))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object in memory, counting the reads made of it.
    struct InMemory {
        bytes: Vec<u8>,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl InMemory {
        fn new(bytes: Vec<u8>) -> Self {
            Self {
                bytes,
                reads: Default::default(),
            }
        }
    }

    impl ByteRanges for InMemory {
        async fn read(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let start = usize::try_from(offset).ok()?;
            let end = (start + usize::try_from(len).ok()?).min(self.bytes.len());
            self.bytes.get(start..end).map(<[u8]>::to_vec)
        }
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut body = vec![0u8; 100];
        body[12..16].copy_from_slice(&timescale.to_be_bytes());
        body[16..20].copy_from_slice(&duration.to_be_bytes());
        mp4_box(b"mvhd", &body)
    }

    #[tokio::test]
    async fn an_mp4_with_its_moov_at_the_end_is_read_with_two_small_reads() {
        let mut file = mp4_box(b"ftyp", b"M4A isomM4A ");
        // A 64-bit mdat larger than the first read, so moov is past it.
        let mdat_len = 200_000usize;
        file.extend_from_slice(&1u32.to_be_bytes());
        file.extend_from_slice(b"mdat");
        file.extend_from_slice(&((mdat_len + 16) as u64).to_be_bytes());
        file.extend(std::iter::repeat_n(0u8, mdat_len));
        // 20 minutes at a timescale of 8000.
        file.extend(mp4_box(b"moov", &mvhd_v0(8000, 8000 * 1200)));
        let size = file.len() as u64;
        let object = InMemory::new(file);
        let found = estimate(&object, size, 16_000).await;
        assert_eq!(found.from, "the MP4 mvhd box");
        assert!((found.seconds - 1200.0).abs() < 1e-9, "{found:?}");
        // The first 64 KiB, the moov header, the moov body.
        assert_eq!(object.reads.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_wav_header_gives_data_over_byte_rate_and_junk_gets_the_floor() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&16u32.to_le_bytes());
        // PCM, mono, 8 kHz, 16 000 bytes per second, 2-byte blocks, 16 bits.
        for field in [1u16, 1] {
            wav.extend_from_slice(&field.to_le_bytes());
        }
        wav.extend_from_slice(&8000u32.to_le_bytes());
        wav.extend_from_slice(&16_000u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&48_000u32.to_le_bytes());
        wav.extend(std::iter::repeat_n(0u8, 48_000));
        let size = wav.len() as u64;
        let found = estimate(&InMemory::new(wav), size, 16_000).await;
        assert_eq!(found.from, "the WAV header");
        assert!((found.seconds - 3.0).abs() < 1e-9, "{found:?}");

        let junk = vec![7u8; 20_000];
        let floor = estimate(&InMemory::new(junk), 20_000, 16_000).await;
        assert_eq!(floor.from, MEDIA_BITRATE_FLOOR);
        assert!((floor.seconds - 10.0).abs() < 1e-9, "{floor:?}");
    }

    #[test]
    fn hostile_headers_give_no_duration() {
        assert_eq!(mvhd_seconds(&mvhd_v0(0, 100)), None);
        assert_eq!(mvhd_seconds(&mvhd_v0(1000, u32::MAX)), None);
        assert_eq!(box_header(&[0, 0, 0, 3, b'm', b'o', b'o', b'v'], 100), None);
        assert_eq!(wav_seconds(b"RIFF\0\0\0\0WAVEdata\x10\0\0\0", 100), None);
        assert_eq!(mp3_seconds(&[0xFF; 3], 3), None);
        assert_eq!(mp3_seconds(b"ID3\x04\0\0\x7F\x7F\x7F\x7F", 10), None);
    }
}
