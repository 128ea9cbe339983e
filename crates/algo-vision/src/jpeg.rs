//! JPEG pixels through libjpeg-turbo (MozJPEG's build of it, SIMD on x86-64 when `nasm`
//! is installed and on arm64 always), which scales in the DCT domain about twice as
//! fast as `jpeg-decoder`. The header has been read and checked before this is called.
//!
//! libjpeg reports a fatal error by calling `error_exit` and a warning through
//! `emit_message`; both unwind out of the C code here (the crate builds it with
//! `-fexceptions`) and are caught at [`pixels`]. Warnings are errors, as in sharp's
//! default: a JPEG whose data ends early or is corrupt is refused, not filled with grey.

use std::any::Any;
use std::mem;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use mozjpeg_sys::{JWRN_JPEG_EOF, jpeg_common_struct, jpeg_error_mgr};

use crate::Error;

/// Why libjpeg stopped.
enum Stop {
    Truncated,
    Invalid(String),
}

/// Decodes `bytes` at `eighths`/8 of its size (1, 2, 4 or 8) to 8-bit grey (one byte a
/// pixel) or RGB (three); the decoded width, height and pixels.
pub(crate) fn pixels(
    bytes: &[u8],
    what: &str,
    eighths: u8,
    grey: bool,
) -> Result<(u32, u32, Vec<u8>), Error> {
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let mut decompress = mozjpeg::Decompress::with_err(strict_errors())
            .from_mem(bytes)
            .map_err(|error| Stop::Invalid(error.to_string()))?;
        decompress.scale(eighths);
        let mut started = match grey {
            true => decompress.grayscale(),
            false => decompress.rgb(),
        }
        .map_err(|error| Stop::Invalid(error.to_string()))?;
        let (width, height) = (started.width(), started.height());
        let pixels: Vec<u8> = started
            .read_scanlines()
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::UnexpectedEof => Stop::Truncated,
                _ => Stop::Invalid(error.to_string()),
            })?;
        started
            .finish()
            .map_err(|error| Stop::Invalid(error.to_string()))?;
        Ok((width, height, pixels))
    }));
    let stopped = match decoded {
        Ok(Ok((width, height, pixels))) => {
            let side =
                |n: usize| u32::try_from(n).map_err(|_| Error::ShortPixels { what: what.into() });
            return Ok((side(width)?, side(height)?, pixels));
        }
        Ok(Err(stop)) => stop,
        Err(payload) => stop_of(payload),
    };
    Err(match stopped {
        Stop::Truncated => Error::TruncatedJpeg { what: what.into() },
        Stop::Invalid(reason) => Error::Invalid {
            what: what.into(),
            format: "JPEG".into(),
            reason,
        },
    })
}

/// Encodes 8-bit grey (`grey`) or RGB pixels as a baseline JPEG at `quality` with
/// libjpeg-turbo's defaults (4:2:0 chroma), none of MozJPEG's slower size searches:
/// about ten times faster than the `image` crate's encoder for a 300x300 thumbnail.
pub(crate) fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    grey: bool,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let encoded = catch_unwind(AssertUnwindSafe(|| {
        let space = match grey {
            true => mozjpeg::ColorSpace::JCS_GRAYSCALE,
            false => mozjpeg::ColorSpace::JCS_RGB,
        };
        let mut compress = mozjpeg::Compress::new(space);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        compress.set_quality(f32::from(quality));
        let mut started = compress
            .start_compress(Vec::with_capacity(pixels.len() / 8))
            .map_err(|error| error.to_string())?;
        started
            .write_scanlines(pixels)
            .map_err(|error| error.to_string())?;
        started.finish().map_err(|error| error.to_string())
    }));
    encoded.unwrap_or_else(|payload| Err(panic_text(payload, "the JPEG encoder failed")))
}

fn stop_of(payload: Box<dyn Any + Send>) -> Stop {
    match payload.downcast::<Stop>() {
        Ok(stop) => *stop,
        Err(other) => Stop::Invalid(panic_text(other, "the JPEG decoder failed")),
    }
}

/// The message the mozjpeg crate's own error handler unwinds with, or `fallback`.
fn panic_text(payload: Box<dyn Any + Send>, fallback: &str) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(_) => fallback.into(),
    }
}

/// libjpeg's standard error manager with its exits replaced by unwinding.
fn strict_errors() -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills every field of a zeroed manager (C's own usage).
    let mut errors: jpeg_error_mgr = unsafe { mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut errors) };
    errors.error_exit = Some(on_error);
    errors.emit_message = Some(on_message);
    errors
}

extern "C-unwind" fn on_error(cinfo: &mut jpeg_common_struct) {
    resume_unwind(Box::new(Stop::Invalid(message(cinfo))));
}

/// `level` -1 is a warning (corrupt or missing data); higher levels are trace output.
extern "C-unwind" fn on_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level >= 0 {
        return;
    }
    // SAFETY: libjpeg calls this with its own struct, whose `err` is the manager above.
    let code = unsafe { cinfo.err.as_ref() }.map_or(0, |errors| errors.msg_code);
    if code == JWRN_JPEG_EOF as c_int {
        resume_unwind(Box::new(Stop::Truncated));
    }
    resume_unwind(Box::new(Stop::Invalid(message(cinfo))));
}

/// libjpeg's text for its current message ("Corrupt JPEG data: ...").
fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: as above.
    let Some(format) = (unsafe { cinfo.err.as_ref() }).and_then(|errors| errors.format_message)
    else {
        return "the JPEG decoder failed".into();
    };
    // The binding types the buffer as shared, but format_message writes into it (at
    // most JMSG_LENGTH_MAX = 80 bytes, NUL-terminated): called through the same
    // function with the buffer typed as written to, as the mozjpeg crate does.
    type Writes = unsafe extern "C-unwind" fn(&mut jpeg_common_struct, &mut [u8; 80]);
    let format: Writes = unsafe { mem::transmute(format) };
    let mut buffer = [0u8; 80];
    unsafe { format(cinfo, &mut buffer) };
    let text = buffer.split(|&byte| byte == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}
