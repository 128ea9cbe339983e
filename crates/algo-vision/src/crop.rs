//! Where a smart thumbnail crops: the largest W:H window of the image, centred on the
//! faces (with a margin), or on the busiest content when there is no face.

use image::GrayImage;

use crate::faces::Face;
use crate::resize::Region;

/// Margin kept around faces, as a fraction of each face's size.
const FACE_MARGIN: f64 = 0.3;
/// Windows within this fraction of the busiest one count as equally busy; the most
/// central of them wins.
const CONTENT_TOLERANCE: f64 = 0.97;

/// The largest `target_w`:`target_h` window that fits in `width` x `height`.
pub fn window(width: u32, height: u32, target_w: u32, target_h: u32) -> (f64, f64) {
    let (w, h) = (f64::from(width), f64::from(height));
    let aspect = f64::from(target_w) / f64::from(target_h);
    if w / h > aspect {
        (h * aspect, h)
    } else {
        (w, w / aspect)
    }
}

/// The output size: the target, or smaller with the same aspect if the window has fewer
/// pixels (thumbnails are never upscaled).
pub fn output_size(window: (f64, f64), target_w: u32, target_h: u32) -> (u32, u32) {
    let shrink = (window.0 / f64::from(target_w)).min(1.0);
    let w = (f64::from(target_w) * shrink).round().max(1.0) as u32;
    let h = (f64::from(target_h) * shrink).round().max(1.0) as u32;
    (w, h)
}

/// The window centred on the faces (all of them, with a margin), kept inside the image.
pub fn on_faces(width: u32, height: u32, window: (f64, f64), faces: &[Face]) -> Option<Region> {
    if faces.is_empty() {
        return None;
    }
    let bounds = faces.iter().fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(x0, y0, x1, y1), face| {
            let (mx, my) = (face.width * FACE_MARGIN, face.height * FACE_MARGIN);
            (
                x0.min(face.x - mx),
                y0.min(face.y - my),
                x1.max(face.x + face.width + mx),
                y1.max(face.y + face.height + my),
            )
        },
    );
    let centre = ((bounds.0 + bounds.2) / 2.0, (bounds.1 + bounds.3) / 2.0);
    Some(placed(width, height, window, centre))
}

/// The window over the busiest content (edge energy of `grey`, a small copy of the
/// image at `scale` times its size). The window spans one axis fully, so it only slides
/// along the other.
pub fn on_content(
    width: u32,
    height: u32,
    window: (f64, f64),
    grey: &GrayImage,
    scale: f64,
) -> Region {
    let centre = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let horizontal = window.0 < f64::from(width) - 0.5;
    let vertical = window.1 < f64::from(height) - 0.5;
    if !horizontal && !vertical {
        return placed(width, height, window, centre);
    }
    let profile = edge_profile(grey, horizontal);
    let span = if horizontal { window.0 } else { window.1 } * scale;
    let span = (span.round() as usize).clamp(1, profile.len().max(1));
    let Some(best_start) = busiest_window(&profile, span) else {
        return placed(width, height, window, centre);
    };
    let middle = (best_start as f64 + span as f64 / 2.0) / scale;
    let centre = if horizontal {
        (middle, centre.1)
    } else {
        (centre.0, middle)
    };
    placed(width, height, window, centre)
}

fn placed(width: u32, height: u32, window: (f64, f64), centre: (f64, f64)) -> Region {
    let x = (centre.0 - window.0 / 2.0).clamp(0.0, (f64::from(width) - window.0).max(0.0));
    let y = (centre.1 - window.1 / 2.0).clamp(0.0, (f64::from(height) - window.1).max(0.0));
    Region {
        x,
        y,
        width: window.0,
        height: window.1,
    }
}

/// Sum of absolute gradients per column (`by_column`) or per row.
fn edge_profile(grey: &GrayImage, by_column: bool) -> Vec<f64> {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let pixels = grey.as_raw();
    let mut profile = vec![0.0; if by_column { w } else { h }];
    for y in 1..h {
        for x in 1..w {
            let here = i32::from(pixels[y * w + x]);
            let left = i32::from(pixels[y * w + x - 1]);
            let up = i32::from(pixels[(y - 1) * w + x]);
            let energy = f64::from((here - left).abs() + (here - up).abs());
            profile[if by_column { x } else { y }] += energy;
        }
    }
    profile
}

/// Start of the `span`-long window with the most energy; near-ties go to the most
/// central window.
fn busiest_window(profile: &[f64], span: usize) -> Option<usize> {
    if profile.len() < span {
        return None;
    }
    let mut sums = Vec::with_capacity(profile.len() - span + 1);
    let mut sum: f64 = profile[..span].iter().sum();
    sums.push(sum);
    for start in 1..=profile.len() - span {
        sum += profile[start + span - 1] - profile[start - 1];
        sums.push(sum);
    }
    let best = sums.iter().copied().fold(0.0, f64::max);
    let middle = (profile.len() - span) as f64 / 2.0;
    sums.iter()
        .enumerate()
        .filter(|(_, sum)| **sum >= best * CONTENT_TOLERANCE)
        .min_by(|(a, _), (b, _)| {
            let (da, db) = ((*a as f64 - middle).abs(), (*b as f64 - middle).abs());
            da.total_cmp(&db)
        })
        .map(|(start, _)| start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f64, y: f64, size: f64) -> Face {
        Face {
            x,
            y,
            width: size,
            height: size,
            score: 10.0,
        }
    }

    #[test]
    fn window_and_output_size() {
        assert_eq!(window(4000, 3000, 200, 200), (3000.0, 3000.0));
        assert_eq!(window(1000, 3000, 200, 100), (1000.0, 500.0));
        assert_eq!(output_size((3000.0, 3000.0), 200, 200), (200, 200));
        // Never upscaled: a 100 px window gives a 100 px thumbnail, same aspect.
        assert_eq!(output_size((100.0, 50.0), 400, 200), (100, 50));
    }

    #[test]
    fn faces_near_an_edge_stay_inside() {
        let region =
            on_faces(3000, 1000, (1000.0, 1000.0), &[face(2800.0, 400.0, 150.0)]).expect("a face");
        assert_eq!(region.x, 2000.0);
        assert!(region.x <= 2800.0 && region.x + region.width >= 2950.0);
        let region =
            on_faces(3000, 1000, (1000.0, 1000.0), &[face(1000.0, 400.0, 100.0)]).expect("a face");
        assert_eq!(region.x, 1050.0 - 500.0);
    }

    #[test]
    fn without_faces_the_busiest_content_wins_over_the_centre() {
        // A flat wide image with texture only in its right quarter.
        let grey = GrayImage::from_fn(400, 100, |x, y| {
            image::Luma([if x > 300 && (x + y) % 2 == 0 { 255 } else { 0 }])
        });
        let region = on_content(4000, 1000, (1000.0, 1000.0), &grey, 0.1);
        assert!(region.x >= 2900.0, "window at {}", region.x);
        // Flat everywhere: the centre.
        let flat = GrayImage::new(400, 100);
        let region = on_content(4000, 1000, (1000.0, 1000.0), &flat, 0.1);
        assert_eq!(region.x, 1500.0);
    }
}
