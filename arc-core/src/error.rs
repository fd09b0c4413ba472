//! The one error type of arc-core, grouped by concern.

use std::fmt;

use crate::types::{ComponentKind, DType, Device, Location, ValidationIssue};

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

    /// Tensors of one op live on different devices (or a host-only op got a GPU tensor).
    #[error("op `{op}`: expected a tensor on {expected}, got one on {got}")]
    DeviceMismatch {
        /// The op.
        op: &'static str,
        /// The device the op runs on, in words (`cuda:0`, `the cpu`).
        expected: String,
        /// The device of the offending tensor.
        got: Device,
    },
    /// A CUDA device (or a CUDA library) cannot be used.
    #[error("{device} is not available: {reason}")]
    CudaUnavailable {
        /// The device or library (`cuda:0`, `nvrtc`).
        device: String,
        /// Why, in words.
        reason: String,
    },
    /// A CUDA driver or cuBLAS call failed.
    #[error("CUDA error in `{op}`: {message}")]
    Cuda {
        /// The op or kernel.
        op: String,
        /// The driver's message.
        message: String,
    },
    /// NVRTC rejected a kernel source.
    #[error("CUDA kernel module `{kernel}` failed to compile:\n{log}")]
    CudaCompile {
        /// The module (a built-in family or a custom op's name).
        kernel: String,
        /// NVRTC's log.
        log: String,
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
    #[error("op `{op}`: backward returned a gradient of shape {got:?} for input {input} of shape {expected:?}")]
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
    #[error("op `{op}`: the graph was freed by an earlier backward; pass `retain_graph` to backward twice")]
    GraphFreed {
        /// The first op found freed.
        op: String,
    },
    /// `backward()` without a seed gradient on a tensor of more than one element.
    #[error("backward without a seed gradient needs a one-element tensor, got shape {shape:?}; use backward_with")]
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
    #[error("gradcheck: input {input}, element {index}: analytic {analytic} vs numeric {numeric} (tolerance {tol})")]
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
    #[error("plugin name `{name}` is already taken by a registered plugin")]
    PluginNameTaken {
        /// The plugin name.
        name: String,
    },
    /// The name is blocked (`set_blocked`).
    #[error("plugin `{name}` is blocked; `unblock` it first")]
    PluginBlocked {
        /// The plugin name.
        name: String,
    },
    /// This very instance is registered already.
    #[error("cannot register plugin `{name}`: this instance is already registered as `{as_name}`")]
    PluginAlreadyRegistered {
        /// The name asked for.
        name: String,
        /// The name it is registered under.
        as_name: String,
    },
    /// No plugin of that name is registered.
    #[error("no plugin named `{name}` is registered{hint}")]
    PluginNotFound {
        /// The name asked for.
        name: String,
        /// Close names.
        hint: DidYouMean,
    },
    /// A hook implementation panicked; the manager stays usable.
    #[error("plugin `{plugin}` panicked in hook `{hook}`: {message}")]
    HookPanicked {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: &'static str,
        /// The panic message.
        message: String,
    },
    /// A component's factory (`Component::create`) panicked; the manager stays usable.
    #[error("plugin `{plugin}` panicked building {kind} `{component}`: {message}")]
    ComponentPanicked {
        /// The plugin that registered the component.
        plugin: String,
        /// The component kind.
        kind: ComponentKind,
        /// The component's full name.
        component: String,
        /// The panic message.
        message: String,
    },
    /// A wrapper returned without running the rest of the call.
    #[error("wrapper of plugin `{plugin}` in hook `{hook}` returned without calling `inner.call()`")]
    WrapperSkippedInner {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: &'static str,
    },
    /// A hook implementation returned an error (a hook declared as
    /// returning `Result`), or a wrapper reported one; the original is the
    /// `source()`.
    #[error("plugin `{plugin}` failed in hook `{hook}`: {source}")]
    HookFailed {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// What went wrong, as the implementation said it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// `before` / `after` options of hook implementations form a cycle.
    #[error("hook `{spec}.{hook}`: the `before`/`after` options of plugins {} form a cycle; drop one of them", cycle_text(.plugins))]
    HookOrderCycle {
        /// The spec trait's name.
        spec: &'static str,
        /// The hook.
        hook: &'static str,
        /// Every plugin in the cycle, each running before the next; the
        /// first is repeated at the end.
        plugins: Vec<String>,
    },
    /// A plugin handed to a hook call has no `#[hookimpl]` of that spec.
    #[error("plugin `{plugin}` has no `#[hookimpl]` block for hook spec `{spec}`")]
    NotAHookImpl {
        /// The plugin.
        plugin: String,
        /// The spec trait's name.
        spec: &'static str,
    },
    /// No component of this kind has that name.
    #[error("unknown {kind} `{name}`{hint}")]
    UnknownComponent {
        /// The component kind.
        kind: ComponentKind,
        /// The name asked for.
        name: String,
        /// Close names.
        hint: DidYouMean,
    },

    // ---- layers ----------------------------------------------------------
    /// A layer got inputs that match none of its ports.
    #[error("layer `{layer}`: expected {expected}, got {got}")]
    LayerInputs {
        /// The layer (node name or type).
        layer: String,
        /// Its ports.
        expected: String,
        /// What it got.
        got: String,
    },

    // ---- configs -------------------------------------------------------
    /// A component's params name a parameter it does not take.
    #[error("{component}: unknown parameter `{param}`{hint}")]
    UnknownParam {
        /// The component, e.g. `core.Linear`.
        component: String,
        /// The parameter given.
        param: String,
        /// Close parameter names.
        hint: DidYouMean,
    },
    /// A required parameter is missing.
    #[error("{component}: missing parameter `{param}`")]
    MissingParam {
        /// The component.
        component: String,
        /// The parameter.
        param: String,
    },
    /// A `vars.X` with a fractional value given to a param that takes a
    /// whole number (`max_length: vars.mean_length`).
    #[error("{component}: param `{param}` takes a whole number, but `vars.{var}` is {value}")]
    FractionalVar {
        /// The component.
        component: String,
        /// The param (`max_length`, or a path such as `sizes[1]`).
        param: String,
        /// The var's name, without `vars.`.
        var: String,
        /// Its value.
        value: f64,
    },
    /// A component's config is not what it expects.
    #[error("{component}: invalid config: {message}")]
    InvalidConfig {
        /// The component, e.g. `core.Linear`.
        component: String,
        /// What is wrong.
        message: String,
    },
    /// A YAML document does not parse.
    #[error("{origin}: {message}")]
    Yaml {
        /// The file, or `<string>`.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },

    // ---- data --------------------------------------------------------------
    // Data files and the `data::Table` they load into. File errors name the
    // path and the 1-based line (the header is line 1); table errors name the
    // column and the 1-based row (the first row under the header is row 1).
    /// A data file cannot be opened or read.
    #[error("{path}: cannot read the file: {source}")]
    DataFile {
        /// The path as given.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A data file holds nothing, not even a header row.
    #[error("{path}: the file is empty; a header row naming the columns is required")]
    EmptyData {
        /// The path.
        path: String,
    },
    /// A data file has a header row but no data rows.
    #[error("{path}: the header row has no data rows under it")]
    NoDataRows {
        /// The path.
        path: String,
    },
    /// A malformed field in a CSV file (bad UTF-8, a bad header name, ...).
    #[error(
        "{path}: line {line}, field {field}{}: {message}",
        .column.as_ref().map_or(String::new(), |c| format!(" (column `{c}`)"))
    )]
    Csv {
        /// The path.
        path: String,
        /// The 1-based line of the record (the header is line 1).
        line: u64,
        /// The 1-based field number in the record.
        field: usize,
        /// The column's name, when the header gave one.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A data row with more or fewer fields than the header.
    #[error("{path}: line {line}: expected {expected} fields as in the header, got {got}")]
    RaggedRow {
        /// The path.
        path: String,
        /// The 1-based line of the row (the header is line 1).
        line: u64,
        /// The header's field count.
        expected: usize,
        /// The row's field count.
        got: usize,
    },
    /// No column has that name.
    #[error("no column `{column}`{hint}")]
    MissingColumn {
        /// The name asked for.
        column: String,
        /// Close column names.
        hint: DidYouMean,
    },
    /// Numbers were needed from a text column.
    #[error("column `{column}` is not numeric: row {row} holds `{value}`")]
    NonNumericColumn {
        /// The column.
        column: String,
        /// The 1-based row of the first value that is not a number.
        row: usize,
        /// That value.
        value: String,
    },
    /// Text was needed from a numeric column.
    #[error("column `{column}` holds numbers, not text")]
    NotTextColumn {
        /// The column.
        column: String,
    },
    /// A value was needed where the column has a missing one.
    #[error("column `{column}`: row {row} has a missing value")]
    MissingValue {
        /// The column.
        column: String,
        /// The 1-based row.
        row: usize,
    },
    /// Two columns of one table share a name.
    #[error("duplicate column `{column}`")]
    DuplicateColumn {
        /// The name.
        column: String,
    },
    /// A column whose length differs from the table's other columns.
    #[error("column `{column}` has {got} rows, but the table has {expected}")]
    ColumnLength {
        /// The column.
        column: String,
        /// The table's row count.
        expected: usize,
        /// The column's row count.
        got: usize,
    },

    // ---- processors ----------------------------------------------------
    // The `features.processors` pipeline (`pipeline::Pipeline`) and the
    // processors it runs. A step's failure is wrapped in `ProcessorStep`.
    /// A processor step failed; wraps the cause.
    #[error("step `{step}` (`{op}`): {source}")]
    ProcessorStep {
        /// The step's name.
        step: String,
        /// The step's op.
        op: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// Two steps share a name.
    #[error("duplicate processor step `{step}`")]
    DuplicateStep {
        /// The name.
        step: String,
    },
    /// A step reads a ref that no earlier step bound (or that a train-only
    /// step bound, at prediction).
    #[error("step `{step}`: `{reference}` is not defined{hint}")]
    UndefinedRef {
        /// The step.
        step: String,
        /// The ref, e.g. `tensors.features`.
        reference: String,
        /// Close names bound so far.
        hint: DidYouMean,
    },
    /// A step binds a port its processor does not have.
    #[error("{component}: no {direction} port `{port}`{hint}")]
    UnknownPort {
        /// The processor.
        component: String,
        /// `input` or `output`.
        direction: &'static str,
        /// The port.
        port: String,
        /// Close port names.
        hint: DidYouMean,
    },
    /// A step binds an output into the wrong namespace.
    #[error("step `{step}`: output `{port}` is bound to `{reference}`, but it belongs in `{expected}.*`")]
    OutputNamespace {
        /// The step.
        step: String,
        /// The output port.
        port: String,
        /// The ref it was bound to.
        reference: String,
        /// The namespace its value belongs in.
        expected: &'static str,
    },
    /// A processor's required input port is not bound.
    #[error("{component}: missing input `{port}`")]
    MissingInput {
        /// The processor.
        component: String,
        /// The port.
        port: String,
    },
    /// An input port got the wrong kind of value.
    #[error("{component}: input `{port}` must be {expected}, got {got}")]
    InputKind {
        /// The processor.
        component: String,
        /// The port.
        port: String,
        /// What it takes, e.g. "a tensor".
        expected: &'static str,
        /// What it got.
        got: &'static str,
    },
    /// A fitted state lacks an entry its processor reads.
    #[error("{component}: the fitted state has no `{key}`")]
    InvalidState {
        /// The processor.
        component: String,
        /// The missing entry.
        key: String,
    },
    /// A state fitted by another kind of op.
    #[error("{component}: expected a state fitted by `{expected}`, got one fitted by `{got}`")]
    StateKind {
        /// The processor.
        component: String,
        /// The kind it reads.
        expected: String,
        /// The kind it got.
        got: String,
    },
    /// A category not seen at fit, with `handle_unknown: error`.
    #[error("column `{column}`: unknown category `{value}` (row {row}){hint}")]
    UnknownCategory {
        /// The column.
        column: String,
        /// The value.
        value: String,
        /// The 1-based row.
        row: usize,
        /// Close known categories.
        hint: DidYouMean,
    },
    /// A label not seen at fit.
    #[error("unknown label `{label}`{hint}")]
    UnknownLabel {
        /// The label.
        label: String,
        /// Close known labels.
        hint: DidYouMean,
    },
    /// `decode` on a processor that cannot invert its codes.
    #[error("{component}: cannot decode codes back to values")]
    NoDecode {
        /// The processor.
        component: String,
    },
    /// A graph ref (a node's input, a model output) names no node and no
    /// model input.
    #[error("{holder}: `{reference}` is not a node or a model input{hint}")]
    UnknownRef {
        /// Who holds the ref: ``node `a` `` or `outputs`.
        holder: String,
        /// The ref as written.
        reference: String,
        /// Suggestions among the nodes and inputs.
        hint: DidYouMean,
    },
    /// A model input that its data cannot feed.
    #[error("model input `{input}`: {message}")]
    ModelInput {
        /// The input's name.
        input: String,
        /// What is wrong.
        message: String,
    },

    // ---- graph and training ---------------------------------------------
    /// A spec section is missing or malformed.
    #[error("spec: {message}")]
    Spec {
        /// What is wrong.
        message: String,
    },
    /// A graph node failed to build or run.
    #[error("node `{node}` (`{layer_type}`): {source}")]
    GraphNode {
        /// The node's name.
        node: String,
        /// The node's layer type.
        layer_type: String,
        /// The cause.
        source: Box<Error>,
    },
    /// A graph ref (`node`, `node.output`, an input name) names nothing.
    #[error("node `{node}`: unknown input `{reference}`{hint}")]
    DanglingRef {
        /// The node (or `outputs`) holding the ref.
        node: String,
        /// The ref.
        reference: String,
        /// Close names.
        hint: DidYouMean,
    },
    /// The graph's nodes depend on each other in a cycle.
    #[error("model graph has a cycle: {}", nodes.join(" → "))]
    GraphCycle {
        /// The cycle in order, its first node repeated at the end
        /// (`fc1 → act → fc2 → fc1`).
        nodes: Vec<String>,
    },
    /// A loss that is NaN or infinite.
    #[error("loss is {value} at epoch {epoch}, batch {batch}: training stopped")]
    NonFiniteLoss {
        /// The 1-based epoch.
        epoch: usize,
        /// The 1-based batch.
        batch: usize,
        /// The loss.
        value: f32,
    },
    /// A model directory could not be written or read.
    #[error("model directory `{path}`: {message}")]
    ModelDir {
        /// The directory.
        path: String,
        /// What went wrong.
        message: String,
    },

    // ---- trainer: config, devices, evaluation ------------------------------
    /// `trainer.config.early_stopping.monitor` names no loss or metric of the task.
    #[error("trainer.config.early_stopping.monitor: unknown value `{monitor}`{hint}; expected one of {expected}")]
    UnknownMonitor {
        /// The name given.
        monitor: String,
        /// The accepted names, comma-separated.
        expected: String,
        /// Close accepted names.
        hint: DidYouMean,
    },
    /// The requested training device is not available.
    #[error("trainer.config.device: `{requested}` is not available: {reason}")]
    DeviceUnavailable {
        /// The device asked for (`cuda`).
        requested: String,
        /// Why not, and what to do.
        reason: String,
    },
    /// Something asked for more memory than there is: a tensor whose size
    /// overflows or cannot be allocated, or a model over the memory budget.
    #[error("{what}: {message}")]
    TooLarge {
        /// What asked (`layer \`core.Linear\``, `the model`).
        what: String,
        /// How much, against what.
        message: String,
    },
    /// A finite number in the data beyond f32's range (about ±3.4e38): the
    /// model would see it as infinite.
    #[error("column `{column}`: row {row} holds {value:e}, beyond the f32 range the model computes in (±3.4e38)")]
    BeyondF32 {
        /// The column.
        column: String,
        /// The 1-based row.
        row: usize,
        /// The number.
        value: f64,
    },
    /// The model gave a NaN or infinite output for a row of finite cells
    /// (a value far outside the training data's range that overflowed f32
    /// in a processor or a layer, or weights that did).
    #[error(
        "model output `{output}` is {value} for row {row}: the row's values overflow f32 in the model (far outside the training data?)"
    )]
    NonFiniteOutput {
        /// The model output.
        output: String,
        /// The 1-based row.
        row: usize,
        /// The value.
        value: f32,
    },
    /// A collective operation of a data-parallel run failed, or the run
    /// cannot start as launched (a launcher's world without the backend built in).
    #[error("distributed ({backend}): {message}")]
    Distributed {
        /// The backend (`mpi`, `nccl`, `local`) or the launcher.
        backend: String,
        /// What failed, and what to do.
        message: String,
    },
    /// A target label that the model never saw at training.
    #[error("column `{column}`, row {row}: unknown label `{label}`{hint}")]
    UnknownTargetLabel {
        /// The target column.
        column: String,
        /// The 1-based data row (the first row under the header is row 1).
        row: usize,
        /// The label.
        label: String,
        /// Close known labels.
        hint: DidYouMean,
    },

    // ---- export ------------------------------------------------------------
    /// An export failed: the model or the output file.
    #[error("export to {format}: {message}")]
    Export {
        /// The format (`safetensors`, `onnx`).
        format: String,
        /// What went wrong.
        message: String,
    },
    /// A graph node whose layer type the format cannot express.
    #[error(
        "export to {format}: node `{node}` has layer type `{layer_type}`, which {format} export does not support{detail}"
    )]
    ExportUnsupported {
        /// The format.
        format: String,
        /// The node's name.
        node: String,
        /// The node's layer type.
        layer_type: String,
        /// More about why (empty, or `: ...`).
        detail: String,
    },

    // ---- real data and bad input -------------------------------------------
    /// An error about the rows of a loaded data file, naming the file: a
    /// missing column, text where numbers are needed, a missing value.
    #[error("{path}: {error}")]
    InDataFile {
        /// The file, as the data source was given it.
        path: String,
        /// What is wrong; rows are counted in the file (the first row under
        /// the header is row 1), whatever split or shuffle read them.
        error: Box<Error>,
    },

    // ---- spec: locations, keys, validation -------------------------------
    // Errors about a spec's text. `Located` wraps any error with the file,
    // line and column of the YAML node it is about.
    /// An error at a known place in a spec's YAML text.
    #[error("{location}: {error}")]
    Located {
        /// The file, line and column.
        location: Location,
        /// What is wrong there (not a `source`: the message includes it).
        error: Box<Error>,
    },
    /// The spec's text is not valid YAML.
    #[error("invalid YAML: {message}")]
    YamlSyntax {
        /// The parser's message.
        message: String,
    },
    /// A spec mapping has a key its section does not take.
    #[error("{section}: unknown key `{key}`{hint}")]
    UnknownKey {
        /// The mapping's path (`model.graph[1]`, or `spec` for the top level).
        section: String,
        /// The key.
        key: String,
        /// Close keys the section takes.
        hint: DidYouMean,
    },
    /// A required key of a spec mapping is missing.
    #[error("{section}: missing required key `{key}`")]
    MissingKey {
        /// The mapping's path.
        section: String,
        /// The key.
        key: String,
    },
    /// A spec value has the wrong type or form.
    #[error("{path}: {message}")]
    InvalidValue {
        /// The value's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A node's layer rejects the shapes of its inputs (shape inference).
    #[error("node `{node}` (`{layer_type}`) gets {}: {error}", gets.join(", "))]
    GraphShape {
        /// The node.
        node: String,
        /// Its layer type.
        layer_type: String,
        /// Each input: its shape and the node (or model input) it comes from.
        gets: Vec<String>,
        /// The layer's own error (what it expects).
        error: Box<Error>,
    },
    /// Validation found errors in a spec; every issue is listed, one a line.
    #[error("the spec has {} error(s):\n{}", crate::types::count_errors(issues), crate::types::render(issues))]
    InvalidSpec {
        /// Every issue found (warnings included).
        issues: Vec<ValidationIssue>,
    },

    // ---- predictor -------------------------------------------------------
    /// A model directory file failed the predictor's checks at load.
    #[error("{file}: {message}")]
    PredictorLoad {
        /// The file at fault (its path).
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// An argument of a predict call does not fit the predictor (a feature
    /// slice or an output buffer of the wrong length).
    #[error("predict: {message}")]
    PredictorInput {
        /// What does not fit.
        message: String,
    },

    // ---- data locations and databases ------------------------------------
    // `plugin::open_table` and the SQL data sources (`sqlite://`, `duckdb://`).
    // Each error names the location or the database file as the user gave it.
    /// A location whose `scheme://` no registered data source reads.
    #[error(
        "`{location}`: no data source reads `{scheme}://` locations (known: {}; a path without a scheme is read as CSV)",
        .known.iter().map(|k| format!("`{k}://`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownDataScheme {
        /// The location as given.
        location: String,
        /// Its scheme, without `://`.
        scheme: String,
        /// The schemes of the registered data sources (their short names).
        known: Vec<String>,
    },
    /// A malformed data location (a URL without a table, a bad parameter).
    #[error("`{location}`: {message}")]
    DataLocation {
        /// The location as given.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A database has no table or view of that name.
    #[error("{path}: no table `{table}`{hint}")]
    NoSuchTable {
        /// The database file.
        path: String,
        /// The table asked for.
        table: String,
        /// Close table names.
        hint: DidYouMean,
    },
    /// A write-back target table exists and the location did not ask to replace it.
    #[error("{path}: table `{table}` already exists; add `&if_exists=replace` to the location to replace it")]
    TableExists {
        /// The database file.
        path: String,
        /// The table.
        table: String,
    },
    /// A query failed to prepare or run (bad SQL, an unknown column).
    #[error("{path}: query `{query}` failed: {message}")]
    SqlQuery {
        /// The database file.
        path: String,
        /// The query, as given (or as built from `table=`).
        query: String,
        /// The database engine's message.
        message: String,
    },
    /// A database could not be opened, read or written (not a database, locked, ...).
    #[error("{path}: {message}")]
    Database {
        /// The database file.
        path: String,
        /// What went wrong, with the engine's message.
        message: String,
    },
}

/// `Result` with arc-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Did-you-mean suggestions for an unknown name; displays as
/// `` (did you mean `a` or `b`?)`` or as nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DidYouMean(pub Vec<String>);

impl DidYouMean {
    /// The up to three candidates closest to `name` (edit distance at most
    /// a third of its length, at least 2; case-insensitive match first).
    pub fn among<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        let lower = name.to_lowercase();
        let limit = (name.chars().count() / 3).max(2);
        let mut scored: Vec<(usize, &str)> = candidates
            .into_iter()
            .filter_map(|c| {
                let d = if c.to_lowercase() == lower { 0 } else { strsim::levenshtein(&lower, &c.to_lowercase()) };
                (d <= limit).then_some((d, c))
            })
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        Self(scored.into_iter().take(3).map(|(_, c)| c.to_owned()).collect())
    }
}

impl fmt::Display for DidYouMean {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => Ok(()),
            [one] => write!(f, " (did you mean `{one}`?)"),
            [init @ .., last] => {
                let init: Vec<_> = init.iter().map(|s| format!("`{s}`")).collect();
                write!(f, " (did you mean {} or `{last}`?)", init.join(", "))
            }
        }
    }
}

fn cycle_text(plugins: &[String]) -> String {
    plugins.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_picks_close_names_in_order() {
        let hint = DidYouMean::among("Linaer", ["Linear", "core.Linear", "ReLU", "LayerNorm"]);
        assert_eq!(hint.0, ["Linear"]);
        assert_eq!(hint.to_string(), " (did you mean `Linear`?)");
        assert_eq!(DidYouMean::among("zzz", ["Linear"]).to_string(), "");
        let two = DidYouMean::among("relu", ["ReLU", "GELU"]);
        assert_eq!(two.to_string(), " (did you mean `ReLU` or `GELU`?)");
    }
}
