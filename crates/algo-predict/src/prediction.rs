//! The reply: `{"model": "name/version", "predictions": [...]}`, in input order.

use crate::manifest::{Manifest, Task};

pub use algorithmia_v1::contracts::predict::{Prediction, Reply as Predictions};

/// Turns a run's `[rows, columns]` output into predictions, row by row.
pub fn from_output(manifest: &Manifest, columns: usize, output: &[f64]) -> Vec<Prediction> {
    output
        .chunks_exact(columns.max(1))
        .map(|row| match manifest.kind {
            Task::Regressor => Prediction::Value { value: row[0] },
            Task::Classifier => {
                // The first of equal maxima, as numpy's argmax (and skl2onnx's label) picks.
                let (best, score) = row.iter().copied().enumerate().fold(
                    (0, f64::NEG_INFINITY),
                    |best, (index, score)| {
                        if score > best.1 { (index, score) } else { best }
                    },
                );
                Prediction::Class {
                    label: manifest
                        .labels
                        .get(best)
                        .cloned()
                        .unwrap_or_else(|| best.to_string()),
                    score,
                }
            }
        })
        .collect()
}
