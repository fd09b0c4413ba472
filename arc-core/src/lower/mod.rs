//! Lowerings: what a component gives the fast paths and the exporters,
//! through optional methods of its trait (each defaulting to "not
//! supported"), so a plugin's component has them on the same terms as a
//! built-in one.
//!
//! - [`row`]: a layer's [`RowOp`] (a kernel over one row of plain `f32`
//!   values in a scratch arena) for the Predictor's compiled plan
//!   ([`Layer::row_op`](crate::nn::Layer::row_op)).
//!   A processor's [`RowTransform`] (from
//!   [`Processor::row_transform`](crate::process::Processor::row_transform))
//!   reads table columns and tensor rows into its output row the same way.
//! - [`onnx`]: a layer's ONNX lowering, written against the
//!   [`OnnxGraph`] API (nodes, initializers, attributes,
//!   value names); an ONNX exporter implements that API and does the
//!   encoding ([`Layer::onnx`](crate::nn::Layer::onnx); a processor's is
//!   [`Processor::onnx`](crate::process::Processor::onnx)).
//! - [`kernels`]: allocation-free row maths (a vectorized linear map,
//!   activations, softmax, layer norm) a row kernel may call.

pub mod kernels;
pub mod onnx;
pub mod row;

pub use onnx::{Attr, AttrValue, OnnxGraph, OnnxLowering, OnnxNode};
pub use row::{RowColumns, RowInputs, RowKernel, RowOp, RowTransform, RowTransformKernel, Slot, Value};
