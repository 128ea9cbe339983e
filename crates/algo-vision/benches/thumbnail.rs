//! `cargo bench -p algo-vision --bench thumbnail`: latency of a smart thumbnail of a
//! 12 MP JPEG and of face detection on a 1 MP JPEG, in-process on one thread like one
//! algo-server pool worker (no HTTP, no input parsing), with each face detector: RetinaFace
//! (when `make models` installed it; its 8-bit graph, the server's default, and the float
//! graph it is made from) and SeetaFace.
//!
//! Needs `fixtures/generated/12mp.jpg` (`scripts/fixtures.sh`), or set BENCH_IMAGE.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::Arc;

use algo_vision::retina::{FLOAT_GRAPH_IN_MODELS_DIR, GRAPH_IN_MODELS_DIR, RetinaFace};
use algo_vision::{Detector, Encoding, Limits, ThumbnailSpec};

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
    let limits = Limits::default();
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(&big))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .unwrap_or((0, 0));
    let spec = ThumbnailSpec {
        width: 300,
        height: 300,
        encoding: Encoding::Jpeg,
    };
    let one_mp = one_megapixel(&big);
    for (label, detector) in detectors() {
        let smart_thumbnail = || {
            algo_vision::thumbnail(&big, spec, limits, &detector, &|| false).expect("thumbnail");
        };
        // bench/bench.py reads the line after "SmartThumbnail ... with <detector>".
        report(
            &format!(
                "SmartThumbnail 300x300 jpeg of {} ({w}x{h}, {:.1} MP, {} KB) with {}",
                path.display(),
                f64::from(w * h) / 1e6,
                big.len() / 1024,
                label
            ),
            smart_thumbnail,
        );
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        report_side_by_side(
            &format!(
                "SmartThumbnail 300x300 of the same JPEG, {workers} calls side by side, with {label}"
            ),
            workers,
            smart_thumbnail,
        );
        report(
            &format!(
                "FaceDetection of a 1 MP JPEG ({} KB) with {label}",
                one_mp.len() / 1024,
            ),
            || {
                algo_vision::faces::find(&one_mp, limits, &detector, &|| false).expect("faces");
            },
        );
    }
}

/// (label, detector): RetinaFace's 8-bit and float graphs when `make models` installed
/// them and ONNX Runtime, then SeetaFace. bench/bench.py reads the labels' first word.
fn detectors() -> Vec<(String, Detector)> {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let runtime =
        algo_predict::runtime::Runtime::load(&algo_predict::runtime::library_path(&models))
            .map_err(|error| error.to_string());
    let mut detectors = Vec::new();
    for (label, graph) in [
        (
            "RetinaFace (ONNX Runtime, 8-bit graph)",
            GRAPH_IN_MODELS_DIR,
        ),
        (
            "RetinaFace-float (ONNX Runtime, float graph)",
            FLOAT_GRAPH_IN_MODELS_DIR,
        ),
    ] {
        let retina = runtime
            .clone()
            .and_then(|runtime| RetinaFace::open(runtime.environment(), &models.join(graph)));
        match retina {
            Ok(retina) => detectors.push((label.to_owned(), Detector::Retina(Arc::new(retina)))),
            Err(error) => eprintln!("{label} not measured ({error}): run `make models`"),
        }
    }
    detectors.push((Detector::Seeta.name().to_owned(), Detector::Seeta));
    detectors
}

/// The big image resized to about 1 MP and encoded as JPEG.
fn one_megapixel(big: &[u8]) -> Vec<u8> {
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
    out.into_inner()
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

/// `workers` threads each calling `run` [`RUNS`] times, as algo-server's workers do under
/// load: thumbnails per second over all, and the median call.
fn report_side_by_side(label: &str, workers: usize, run: impl Fn() + Sync) {
    run();
    let started = Instant::now();
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    (0..RUNS)
                        .map(|_| {
                            let call = Instant::now();
                            run();
                            call.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("worker"))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    times.sort();
    println!(
        "{label}\n  {:.1} per second, median call {:.0} ms ({} calls)",
        times.len() as f64 / wall,
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times.len()
    );
}
