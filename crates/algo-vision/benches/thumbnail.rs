//! `cargo bench -p algo-server`: latency of SmartThumbnail on a 12 MP JPEG and of
//! FaceDetection on a 1 MP JPEG, run in-process on one thread like one pool worker.
//!
//! Needs `fixtures/generated/12mp.jpg` (`scripts/fixtures.sh`), or set BENCH_IMAGE.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use algo_server::algorithm::{CallInfo, Limits, Services};
use algo_server::algorithms::face::FaceDetection;
use algo_server::algorithms::thumbnail::SmartThumbnail;
use algo_server::fetch::{FetchPolicy, Fetcher};
use algo_server::{Algorithm, Context, Input};
use algorithmia_v1::Version;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

const RUNS: usize = 15;

fn main() {
    let path = std::env::var_os("BENCH_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/12mp.jpg")
        });
    let Ok(big) = std::fs::read(&path) else {
        eprintln!(
            "missing {}: run scripts/fixtures.sh first (or set BENCH_IMAGE)",
            path.display()
        );
        std::process::exit(1);
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let fetcher =
        Fetcher::new(FetchPolicy::new(&[], 1 << 20, Duration::from_secs(5))).expect("fetcher");
    let services = Arc::new(Services::new(
        Arc::new(fetcher),
        Limits {
            max_image_pixels: 64_000_000,
        },
        runtime.handle().clone(),
    ));
    let ctx = |params: &[(&str, &str)]| {
        let call = CallInfo {
            request_id: "bench".into(),
            version: Version::new(1, 0, 0),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            timeout: Duration::from_secs(300),
        };
        Context::new(call, Arc::clone(&services), CancellationToken::new())
    };

    let big = Bytes::from(big);
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(&big))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .unwrap_or((0, 0));
    let thumb_ctx = ctx(&[("width", "300"), ("height", "300"), ("format", "jpeg")]);
    report(
        &format!(
            "SmartThumbnail 300x300 jpeg of {} ({w}x{h}, {:.1} MP, {} KB)",
            path.display(),
            f64::from(w * h) / 1e6,
            big.len() / 1024
        ),
        || {
            SmartThumbnail
                .call(Input::Binary(big.clone()), &thumb_ctx)
                .expect("thumbnail");
        },
    );

    let one_mp = one_megapixel(&big);
    let face_ctx = ctx(&[]);
    report(
        &format!("FaceDetection of a 1 MP JPEG ({} KB)", one_mp.len() / 1024),
        || {
            FaceDetection
                .call(Input::Binary(one_mp.clone()), &face_ctx)
                .expect("faces");
        },
    );
}

/// The big image resized to about 1 MP and encoded as JPEG.
fn one_megapixel(big: &[u8]) -> Bytes {
    let image = image::load_from_memory(big).expect("decode");
    let scale = (1_000_000.0 / (f64::from(image.width()) * f64::from(image.height()))).sqrt();
    let small = image.resize(
        (f64::from(image.width()) * scale) as u32,
        (f64::from(image.height()) * scale) as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut out = std::io::Cursor::new(Vec::new());
    small
        .to_rgb8()
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    Bytes::from(out.into_inner())
}

fn report(label: &str, mut run: impl FnMut()) {
    for _ in 0..2 {
        run();
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}\n  median {:.0} ms (min {:.0} – max {:.0} ms, {RUNS} runs)",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
}
