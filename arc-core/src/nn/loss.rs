//! The loss trait, and what a loss says about the task it trains.

use serde::{Deserialize, Serialize};

use crate::{Result, Tensor};

/// What a model trained with a loss solves. It decides the epoch metrics,
/// how a target column read straight from the table is encoded, and what
/// `arc predict` writes; the loss answers it ([`Loss::task`]), so a
/// plugin's loss takes part as a built-in one does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Real-valued targets: MSE, MAE and R².
    Regression,
    /// Two classes, one score per row (the probability or the logit of the
    /// second class): accuracy, precision, recall, F1 and ROC AUC.
    Binary,
    /// Class scores `[N, C]` against class ids `[N]`: accuracy and macro-F1.
    /// (`classification` in histories written before the binary task.)
    #[serde(alias = "classification")]
    Multiclass,
    /// Class scores per position (`[N, L, C]`, or PyTorch's `[N, C, L]`)
    /// against ids `[N, L]`: accuracy and macro-F1 over the positions whose
    /// target is not the loss's `ignore_index`.
    MulticlassPerPosition,
}

impl Task {
    /// Whether the targets are classes.
    pub fn is_classification(self) -> bool {
        self != Task::Regression
    }

    /// `regression`, `binary`, `multiclass` or `multiclass_per_position`.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Regression => "regression",
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::MulticlassPerPosition => "multiclass_per_position",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a loss's `pred` holds, so that predictions can be read as classes
/// and probabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scores {
    /// Plain values (regression), or class scores with no probability
    /// reading (a margin loss's).
    #[default]
    Values,
    /// Logits: probabilities through the sigmoid (binary) or the softmax.
    Logits,
    /// Probabilities already (`BCELoss` after a `Sigmoid`).
    Probabilities,
    /// Log-probabilities (`NLLLoss` after a `LogSoftmax`).
    LogProbabilities,
}

/// A loss, registered by `LossHookSpec::register_losses`: PyTorch's
/// semantics, `reduction` included.
///
/// Beyond [`forward`](Self::forward), a loss says what it trains, each with
/// a default that suits a regression loss: [`task`](Self::task),
/// [`scores`](Self::scores), [`ignore_index`](Self::ignore_index) and
/// [`class_dim`](Self::class_dim).
///
/// ```
/// use arc_core::nn::{Loss, Scores, Task};
/// use arc_core::{Result, Tensor};
///
/// /// A hinge loss on labels -1 / +1 that trains a binary classifier.
/// struct Hinge;
/// impl Loss for Hinge {
///     fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
///         inputs[0].mul(inputs[1])?.neg()?.add_scalar(1.0)?.relu()?.mean_all()
///     }
///     fn task(&self) -> Task { Task::Binary }
///     fn scores(&self) -> Scores { Scores::Logits }
/// }
/// assert_eq!((Hinge.task(), Hinge.ignore_index()), (Task::Binary, None));
/// assert_eq!(Hinge.class_dim(&[8, 5, 7], &[8, 7])?, 1);
/// # Ok::<(), arc_core::Error>(())
/// ```
pub trait Loss: Send + Sync {
    /// The inputs, in order: `["pred", "target"]` by default; the margin
    /// losses take three (e.g. `["input1", "input2", "target"]`).
    fn input_names(&self) -> &[&str] {
        &["pred", "target"]
    }

    /// The loss of `inputs` (one tensor per [`input_names`](Self::input_names)).
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor>;

    /// The task a model trained with this loss solves; default
    /// [`Task::Regression`]. A multiclass loss answers
    /// [`Task::Multiclass`]: the trainer makes it per-position when `pred`
    /// has a sequence dim.
    fn task(&self) -> Task {
        Task::Regression
    }

    /// What `pred` holds; default [`Scores::Values`].
    fn scores(&self) -> Scores {
        Scores::Values
    }

    /// A class id whose targets count for nothing (PyTorch's
    /// `ignore_index`); metrics skip them too. Default none.
    fn ignore_index(&self) -> Option<i64> {
        None
    }

    /// The dim of `pred` that holds the classes, for `pred` and `target` of
    /// these shapes (a classification loss); default PyTorch's: dim 1 (dim 0
    /// for a 1-D `pred`). An error when the shapes leave it ambiguous.
    fn class_dim(&self, pred: &[usize], target: &[usize]) -> Result<usize> {
        let _ = target;
        Ok(usize::from(pred.len() >= 2))
    }
}

/// How a trained model's loss reads its prediction and its target: what
/// the trainer resolved once (from the loss's answers and the data), saved
/// with the model (`processors.json`, under `target`), and read by the
/// epoch metrics, `arc predict`, `arc evaluate` and the Predictor.
///
/// ```
/// use arc_core::nn::{Scores, TargetInfo, Task};
///
/// let info = TargetInfo::new(Task::Binary, Scores::Probabilities, "probability")
///     .with_classes(vec!["no".into(), "yes".into()]);
/// assert_eq!(info.class_name(1), Some("yes"));
/// let json = serde_json::to_string(&info).unwrap();
/// assert_eq!(json, r#"{"task":"binary","scores":"probabilities","output":"probability","classes":["no","yes"]}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// The task.
    pub task: Task,
    /// What the output holds.
    #[serde(default)]
    pub scores: Scores,
    /// The model output the loss reads (its `pred`).
    pub output: String,
    /// The class names, class id `i` being `classes[i]`: known when the
    /// target is a table column (read straight from it, or through a label
    /// encoder). For a binary task, the second is the positive class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// The dim of the output that holds the classes (a multiclass task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_dim: Option<usize>,
    /// Targets of this class id count for nothing (the loss's `ignore_index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_index: Option<i64>,
}

impl TargetInfo {
    /// A task over `output`, with no classes known.
    pub fn new(task: Task, scores: Scores, output: impl Into<String>) -> Self {
        Self { task, scores, output: output.into(), classes: None, class_dim: None, ignore_index: None }
    }

    /// With the class names.
    pub fn with_classes(mut self, classes: Vec<String>) -> Self {
        self.classes = Some(classes);
        self
    }

    /// The name of class id `id`, when the classes are known.
    pub fn class_name(&self, id: usize) -> Option<&str> {
        self.classes.as_ref()?.get(id).map(String::as_str)
    }
}
