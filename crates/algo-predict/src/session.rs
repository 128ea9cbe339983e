//! One model's ONNX Runtime sessions: which graph input and output to use, and one
//! batched run per call.

use std::sync::{Mutex, PoisonError};

use ort::session::Session;
use ort::value::{Outlet, TensorElementType, TensorRef, ValueType};

use crate::manifest::{Manifest, Task};
use crate::runtime::Runtime;

/// Floating-point width of a graph input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

/// A loaded model. `Session::run` needs `&mut`, so concurrent calls each check out a
/// session of their own: the pool grows to the number of calls that ran at once.
pub struct ModelSession {
    runtime: Runtime,
    graph: Vec<u8>,
    idle: Mutex<Vec<Session>>,
    input: String,
    input_precision: Precision,
    output: String,
    /// Values per row in the output: the class count, or 1 for a regressor.
    pub columns: usize,
}

impl ModelSession {
    /// Builds a first session from the ONNX bytes and picks its input and output.
    pub fn open(runtime: &Runtime, graph: Vec<u8>, manifest: &Manifest) -> Result<Self, String> {
        let first = build(runtime, &graph)?;
        let (input, input_precision) = pick_input(first.inputs(), manifest)?;
        let columns = match manifest.kind {
            Task::Classifier => manifest.labels.len(),
            Task::Regressor => 1,
        };
        let output = pick_output(first.outputs(), manifest, columns)?;
        Ok(ModelSession {
            runtime: runtime.clone(),
            graph,
            idle: Mutex::new(vec![first]),
            input,
            input_precision,
            output,
            columns,
        })
    }

    pub fn input_precision(&self) -> Precision {
        self.input_precision
    }

    /// Runs `rows` rows of `values` (row-major) in one call; returns `rows * columns`
    /// values, row-major.
    pub fn run(&self, rows: usize, values: &[f64]) -> Result<Vec<f64>, String> {
        let features = values.len() / rows.max(1);
        let mut session = self.checkout()?;
        let result = self.run_on(&mut session, [rows, features], values);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
        let output = result?;
        if output.len() != rows * self.columns {
            return Err(format!(
                "output `{}` holds {} values for {rows} rows; expected {} per row",
                self.output,
                output.len(),
                self.columns
            ));
        }
        Ok(output)
    }

    fn run_on(
        &self,
        session: &mut Session,
        shape: [usize; 2],
        values: &[f64],
    ) -> Result<Vec<f64>, String> {
        let failed = |error: ort::Error| error.to_string();
        let outputs = match self.input_precision {
            Precision::F32 => {
                let narrow: Vec<f32> = values.iter().map(|&value| value as f32).collect();
                let tensor =
                    TensorRef::from_array_view((shape, narrow.as_slice())).map_err(failed)?;
                session.run(ort::inputs![self.input.as_str() => tensor])
            }
            Precision::F64 => {
                let tensor = TensorRef::from_array_view((shape, values)).map_err(failed)?;
                session.run(ort::inputs![self.input.as_str() => tensor])
            }
        }
        .map_err(failed)?;
        let output = outputs
            .get(&self.output)
            .ok_or_else(|| format!("the run returned no output `{}`", self.output))?;
        if let Ok((_, data)) = output.try_extract_tensor::<f32>() {
            Ok(data.iter().map(|&value| f64::from(value)).collect())
        } else {
            let (_, data) = output.try_extract_tensor::<f64>().map_err(failed)?;
            Ok(data.to_vec())
        }
    }

    fn checkout(&self) -> Result<Session, String> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(session) => Ok(session),
            None => build(&self.runtime, &self.graph),
        }
    }
}

fn build(runtime: &Runtime, graph: &[u8]) -> Result<Session, String> {
    // One thread per run: the server already runs one call per CPU.
    Session::builder(runtime.environment())
        .and_then(|builder| Ok(builder.with_intra_threads(1)?))
        .and_then(|builder| Ok(builder.with_inter_threads(1)?))
        .and_then(|mut builder| builder.commit_from_memory(graph))
        .map_err(|error| format!("ONNX Runtime cannot load the model: {error}"))
}

fn precision(outlet: &Outlet) -> Option<Precision> {
    match outlet.dtype() {
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            ..
        } => Some(Precision::F32),
        ValueType::Tensor {
            ty: TensorElementType::Float64,
            ..
        } => Some(Precision::F64),
        _ => None,
    }
}

fn pick_input(inputs: &[Outlet], manifest: &Manifest) -> Result<(String, Precision), String> {
    let outlet = match (&manifest.onnx.input, inputs) {
        (Some(name), _) => inputs
            .iter()
            .find(|outlet| outlet.name() == name)
            .ok_or_else(|| {
                format!("the graph has no input `{name}` (`onnx.input` of the manifest)")
            })?,
        (None, [only]) => only,
        (None, _) => {
            return Err(format!(
                "the graph has {} inputs; name the [batch, features] one in `onnx.input`",
                inputs.len()
            ));
        }
    };
    let precision = precision(outlet).ok_or_else(|| {
        format!(
            "input `{}` is {:?}; only float32 or float64 [batch, features] tensors are served",
            outlet.name(),
            outlet.dtype()
        )
    })?;
    if let ValueType::Tensor { shape, .. } = outlet.dtype() {
        let width = manifest.features.len() as i64;
        if shape.len() != 2 || (shape[1] != -1 && shape[1] != width) {
            return Err(format!(
                "input `{}` has shape {:?}; the manifest lists {width} features, so [batch, {width}] is needed",
                outlet.name(),
                &shape[..]
            ));
        }
    }
    Ok((outlet.name().to_owned(), precision))
}

fn pick_output(outputs: &[Outlet], manifest: &Manifest, columns: usize) -> Result<String, String> {
    if let Some(name) = manifest.onnx.output(manifest.kind) {
        let outlet = outputs
            .iter()
            .find(|outlet| outlet.name() == name)
            .ok_or_else(|| {
                format!("the graph has no output `{name}` named in the manifest's `onnx`")
            })?;
        return precision(outlet)
            .map(|_| name.to_owned())
            .ok_or_else(|| not_a_tensor(outlet));
    }
    let fits = |outlet: &&Outlet| match outlet.dtype() {
        ValueType::Tensor { shape, .. } => {
            precision(outlet).is_some()
                && matches!(shape.last(), Some(&last) if last == -1 || last == columns as i64)
        }
        _ => false,
    };
    let candidates: Vec<&Outlet> = outputs.iter().filter(fits).collect();
    let chosen = match manifest.kind {
        Task::Classifier => candidates
            .iter()
            .find(|outlet| outlet.name().contains("prob"))
            .or(candidates.first()),
        Task::Regressor => candidates.first(),
    };
    match (
        chosen,
        outputs
            .iter()
            .find(|outlet| !matches!(outlet.dtype(), ValueType::Tensor { .. })),
    ) {
        (Some(outlet), _) => Ok(outlet.name().to_owned()),
        (None, Some(zipmap)) => Err(not_a_tensor(zipmap)),
        (None, None) => Err(format!(
            "no float output of shape [batch, {columns}]; name it in the manifest's \
             `onnx.probabilities_output` or `onnx.value_output`"
        )),
    }
}

fn not_a_tensor(outlet: &Outlet) -> String {
    format!(
        "output `{}` is {:?}, not a float tensor; export classifiers with skl2onnx \
         options={{'zipmap': False}} so probabilities come as a [batch, classes] tensor",
        outlet.name(),
        outlet.dtype()
    )
}
