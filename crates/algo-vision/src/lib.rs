//! Images for `algo-server`'s FaceDetection and SmartThumbnail: [`reference`]s to
//! image bytes, [`decode`] under [`Limits`], [`faces`] (RetinaFace through ONNX Runtime
//! when installed, else SeetaFace, embedded), the
//! face-aware [`crop`], [`resize`] and [`encode`], and the [`thumbnail`] pipeline.
//!
//! ```no_run
//! use algo_vision::{Encoding, Limits, ThumbnailSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let photo = std::fs::read("photo.jpg")?;
//! let spec = ThumbnailSpec { width: 300, height: 300, encoding: Encoding::Jpeg };
//! let detector = algo_vision::Detector::Seeta;
//! let jpeg = algo_vision::thumbnail(&photo, spec, Limits::default(), &detector, &|| false)?;
//! let found = algo_vision::faces::find(&photo, Limits::default(), &detector, &|| false)?;
//! println!("{} faces, thumbnail of {} bytes", found.faces.len(), jpeg.len());
//! # Ok(()) }
//! ```

pub mod crop;
pub mod decode;
pub mod encode;
pub mod error;
pub mod faces;
mod jpeg;
pub mod limits;
pub mod reference;
pub mod resize;
pub mod retina;
pub mod thumbnail;

pub use decode::{DecodedImage, decode};
pub use encode::{Encoding, encode};
pub use error::Error;
pub use faces::{Detector, Face, Faces};
pub use limits::Limits;
pub use reference::Reference;
pub use resize::Region;
pub use thumbnail::{ThumbnailSpec, thumbnail};
