//! Row kernels: a layer computing one row of plain `f32` values, reading its
//! inputs from and writing its output to fixed places of a scratch arena
//! sized when the plan is compiled, so serving a row allocates nothing.

use std::fmt::Debug;

use crate::Result;

/// A place in the row arena: `len` values from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The first value's index.
    pub offset: usize,
    /// How many values.
    pub len: usize,
}

/// The inputs of one kernel run: one row of values per port, in the
/// layer's port order (the order [`Layer::row_op`](crate::nn::Layer::row_op)
/// got their widths in).
#[derive(Clone, Copy, Debug)]
pub struct RowInputs<'a> {
    arena: &'a [f32],
    slots: &'a [Slot],
}

impl<'a> RowInputs<'a> {
    /// Inputs at `slots` of `arena` (each slot inside it).
    pub fn new(arena: &'a [f32], slots: &'a [Slot]) -> Self {
        Self { arena, slots }
    }

    /// How many inputs.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Input `i` (port order). Panics past [`len`](Self::len): the plan
    /// gives a kernel exactly the inputs it was compiled for.
    pub fn get(&self, i: usize) -> &'a [f32] {
        let s = self.slots[i];
        &self.arena[s.offset..s.offset + s.len]
    }

    /// The first input.
    pub fn first(&self) -> &'a [f32] {
        self.get(0)
    }

    /// The inputs in port order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [f32]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// A layer's computation over one row. `run` must not allocate: a plan
/// whose every node has a kernel serves rows allocation-free.
pub trait RowKernel: Send + Sync + Debug {
    /// Computes the output row from the inputs; `output` has the width the
    /// [`RowOp::Kernel`] declared.
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]);
}

/// What a layer is over one row.
#[derive(Debug)]
pub enum RowOp {
    /// The output is the first input, unchanged (dropout at inference, a
    /// flatten of a row).
    Identity,
    /// A kernel writing `width` values.
    Kernel {
        /// The output row's width.
        width: usize,
        /// The computation.
        kernel: Box<dyn RowKernel>,
    },
}

impl RowOp {
    /// A kernel writing `width` values.
    pub fn kernel(width: usize, kernel: impl RowKernel + 'static) -> Self {
        Self::Kernel { width, kernel: Box::new(kernel) }
    }
}

/// One cell of a row, as the Predictor is given it (and a
/// [`RowTransform`] reads it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A number (`NaN` counts as missing).
    Number(f64),
    /// Text (a category).
    Text(&'a str),
    /// No value.
    Missing,
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Self::Number(v)
    }
}

impl From<f32> for Value<'_> {
    fn from(v: f32) -> Self {
        Self::Number(f64::from(v))
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(v)
    }
}

/// The table columns a [`RowTransform`] reads, for one row: by index in
/// [`RowTransform::columns`].
pub trait RowColumns {
    /// Column `k`'s cell; an error naming the column when the row lacks it.
    fn value(&self, k: usize) -> Result<Value<'_>>;

    /// Column `k`'s name, for messages.
    fn name(&self, k: usize) -> &str;
}

/// A processor's computation over one row: from its table columns and its
/// tensor inputs' rows to its output row. `run` must not allocate on
/// success.
pub trait RowTransformKernel: Send + Sync + Debug {
    /// Computes `output` (of the declared width). A bad cell is an error
    /// naming its column (row 1: the Predictor predicts one row).
    fn run(&self, columns: &dyn RowColumns, inputs: RowInputs<'_>, output: &mut [f32]) -> Result<()>;

    /// A value column `k` accepts, for the Predictor's load-time probe row
    /// (a known category); `None`: the number 0.
    fn probe(&self, k: usize) -> Option<Value<'_>> {
        let _ = k;
        None
    }
}

/// What a processor step is over one row (from
/// [`Processor::row_transform`](crate::process::Processor::row_transform)).
#[derive(Debug)]
pub struct RowTransform {
    /// The table columns it reads, in the order [`RowColumns`] indexes them.
    pub columns: Vec<String>,
    /// The input ports bound to tensors that it reads, in the order
    /// [`RowInputs`] gives them.
    pub inputs: Vec<String>,
    /// The output row's width (the port `output`).
    pub width: usize,
    /// The computation.
    pub kernel: Box<dyn RowTransformKernel>,
}
