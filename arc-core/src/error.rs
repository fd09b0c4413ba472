//! The one error type of arc-core, grouped by concern.

use crate::tensor::DType;

/// Every error arc-core returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- tensors: shapes -------------------------------------------------
    /// Two shapes that an op needs to agree (or broadcast) do not.
    #[error("op `{op}`: shapes {lhs:?} and {rhs:?} are incompatible")]
    ShapeMismatch {
        /// The op that compared the shapes.
        op: &'static str,
        /// The first (left-hand) shape.
        lhs: Vec<usize>,
        /// The second (right-hand) shape.
        rhs: Vec<usize>,
    },
    /// A buffer's length does not match the element count of the requested shape.
    #[error("op `{op}`: shape {shape:?} holds {expected} elements, got {got}")]
    ElementCountMismatch {
        /// The op (`from_vec`, `reshape`, ...).
        op: &'static str,
        /// The requested shape.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// A dimension index outside `-rank..rank`.
    #[error("op `{op}`: dim {dim} is out of range for a tensor of rank {rank}")]
    BadAxis {
        /// The op.
        op: &'static str,
        /// The dimension asked for (negative counts from the end).
        dim: isize,
        /// The tensor's rank.
        rank: usize,
    },
    /// An op needs a tensor of a given rank (or rank range).
    #[error("op `{op}`: expected {expected}, got a tensor of shape {shape:?}")]
    BadRank {
        /// The op.
        op: &'static str,
        /// What the op accepts, in words (e.g. "a 2-D tensor").
        expected: &'static str,
        /// The shape received.
        shape: Vec<usize>,
    },
    /// `item` on a tensor that does not hold exactly one element.
    #[error("op `item`: tensor of shape {shape:?} does not hold exactly one element")]
    NotAScalar {
        /// The tensor's shape.
        shape: Vec<usize>,
    },

    // ---- tensors: dtypes, devices, values --------------------------------
    /// An op received a tensor of the wrong element type.
    #[error("op `{op}`: expected dtype {expected}, got {got}")]
    DTypeMismatch {
        /// The op.
        op: &'static str,
        /// The dtype the op needs.
        expected: DType,
        /// The dtype received.
        got: DType,
    },
    /// An index (in an index tensor or an argument) is outside its dimension.
    #[error("op `{op}`: index {index} is out of range for a dimension of size {size}")]
    IndexOutOfRange {
        /// The op.
        op: &'static str,
        /// The offending index.
        index: i64,
        /// The size of the indexed dimension.
        size: usize,
    },
    /// A scalar argument outside its domain (a probability above 1, a zero chunk size, ...).
    #[error("op `{op}`: argument `{name}` = {value} is invalid: expected {expected}")]
    InvalidArgument {
        /// The op.
        op: &'static str,
        /// The argument's name.
        name: &'static str,
        /// The value received, formatted.
        value: String,
        /// What is accepted, in words.
        expected: &'static str,
    },
    /// The tensor (or the requested device) is on CUDA, and this build has no CUDA backend.
    #[error("op `{op}`: arc-core was built without CUDA support (enable the `cuda` feature)")]
    NotCompiledWithCuda {
        /// The op.
        op: &'static str,
    },

    // ---- tensors: autograd -------------------------------------------------
    /// An op in a graph that needs gradients has no backward.
    #[error("op `{op}` has no backward, but a gradient is needed through it")]
    NoBackward {
        /// The op's name (a custom op's `name()`).
        op: String,
    },
    /// A backward returned no gradient for an input that requires one.
    #[error("op `{op}`: backward returned no gradient for input {input}, which requires one")]
    MissingGradient {
        /// The op.
        op: String,
        /// The position of the input.
        input: usize,
    },
    /// A backward returned a gradient of the wrong shape or count.
    #[error(
        "op `{op}`: backward returned a gradient of shape {got:?} for input {input} of shape {expected:?}"
    )]
    BadGradient {
        /// The op.
        op: String,
        /// The position of the input.
        input: usize,
        /// The input's shape.
        expected: Vec<usize>,
        /// The gradient's shape.
        got: Vec<usize>,
    },
    /// `backward` walked into a graph already freed by an earlier `backward`.
    #[error(
        "op `{op}`: the graph was freed by an earlier backward; pass `retain_graph` to backward twice"
    )]
    GraphFreed {
        /// The first op found freed.
        op: String,
    },
    /// `backward()` without a seed gradient on a tensor of more than one element.
    #[error(
        "backward without a seed gradient needs a one-element tensor, got shape {shape:?}; use backward_with"
    )]
    NonScalarBackward {
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// `backward` on a tensor that neither requires grad nor comes from one that does.
    #[error("backward on a tensor that does not require grad and has no grad_fn")]
    NoGradFn,
    /// `set_requires_grad` on a tensor computed by an op.
    #[error("requires_grad can only be changed on leaf tensors, not on the output of `{op}`")]
    NotALeaf {
        /// The op that produced the tensor.
        op: String,
    },
    /// `gradcheck` found an analytic gradient far from the finite-difference one.
    #[error(
        "gradcheck: input {input}, element {index}: analytic {analytic} vs numeric {numeric} (tolerance {tol})"
    )]
    GradcheckFailed {
        /// The input position.
        input: usize,
        /// The flat element index inside the input.
        index: usize,
        /// The gradient from backward.
        analytic: f64,
        /// The central-difference estimate.
        numeric: f64,
        /// The tolerance used.
        tol: f64,
    },

    // ---- plugins -------------------------------------------------------
    /// A plugin with this name is already registered.
    #[error("plugin `{name}` is already registered")]
    PluginNameTaken {
        /// The plugin name.
        name: String,
    },
}

/// `Result` with arc-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
