//! The image entries of FaceDetection and SmartThumbnail on arbitrary bytes, with a small
//! pixel limit: `algo_vision::decode` (format sniffing, header pixel check, DCT-scaled
//! JPEG, EXIF orientation, GIF/BMP/TIFF/WebP/PNG), the whole `thumbnail` pipeline (faces,
//! crop, resize, encode), `faces::find`, and image references (`reference::parse`).
#![no_main]

use algo_vision::{Detector, Encoding, Limits, ThumbnailSpec};
use libfuzzer_sys::fuzz_target;

/// 512 x 512.
const LIMITS: Limits = Limits {
    max_image_pixels: 1 << 18,
};

fuzz_target!(|data: &[u8]| {
    let n = data.len();
    // What the caller needs, and the thumbnail asked for, follow from the input's length,
    // so every seed is a plain image file and the fuzzer still varies them.
    let need = ((n % 61) as u32 + 1, ((n / 61) % 47) as u32 + 1);
    if let Ok(decoded) = algo_vision::decode(data, "input image", LIMITS, |_, _| need) {
        let (w, h) = (decoded.image.width(), decoded.image.height());
        assert!(w >= 1 && h >= 1, "{w} x {h}");
        let full = u64::from(decoded.full_width) * u64::from(decoded.full_height);
        assert!(full <= LIMITS.max_image_pixels, "{full} pixels decoded");
        assert!(
            u64::from(w) * u64::from(h) <= full,
            "decoded larger than the original"
        );
        assert!(decoded.scale() > 0.0 && decoded.scale() <= 1.0);
    }

    let spec = ThumbnailSpec {
        width: 1 + (n % 97) as u32,
        height: 1 + ((n / 97) % 61) as u32,
        encoding: [Encoding::Jpeg, Encoding::Png, Encoding::Webp][n % 3],
    };
    match algo_vision::thumbnail(data, spec, LIMITS, &Detector::Seeta, &|| false) {
        Ok(thumbnail) => {
            let back =
                algo_vision::decode(&thumbnail, "thumbnail", Limits::default(), |w, h| (w, h))
                    .expect("a thumbnail decodes");
            assert!(
                back.full_width <= spec.width && back.full_height <= spec.height,
                "{} x {} thumbnail for {} x {}",
                back.full_width,
                back.full_height,
                spec.width,
                spec.height
            );
        }
        Err(error) => assert!(error.is_input() || !error.to_string().is_empty()),
    }

    if n.is_multiple_of(2)
        && let Ok(found) = algo_vision::faces::find(data, LIMITS, &Detector::Seeta, &|| false)
    {
        for face in &found.faces {
            assert!(face.x >= 0.0 && face.y >= 0.0 && face.width >= 0.0 && face.height >= 0.0);
            assert!(face.x + face.width <= f64::from(found.width));
            assert!(face.y + face.height <= f64::from(found.height));
        }
    }

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = algo_vision::reference::parse(text, "input field `image`");
    }
});
