//! Epoch metrics: accuracy and macro-F1 for classification; MSE, MAE and R²
//! for regression.

use std::collections::BTreeMap;

use crate::{Result, Tensor};

/// Whether the model classifies (i64 class targets) or regresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Class targets; the prediction is `[N, C]` logits.
    Classification,
    /// Real targets, the prediction of the same element count.
    Regression,
}

/// Accuracy and macro-F1 of `predicted` classes against `target` classes.
///
/// Macro-F1 averages each class's `F1 = 2·TP / (2·TP + FP + FN)` over the
/// classes present in the targets or the predictions.
pub fn classification(predicted: &[i64], target: &[i64]) -> BTreeMap<String, f64> {
    let n = target.len().max(1) as f64;
    let correct = predicted.iter().zip(target).filter(|(p, t)| p == t).count() as f64;
    let mut classes: Vec<i64> = predicted.iter().chain(target).copied().collect();
    classes.sort_unstable();
    classes.dedup();
    let f1: f64 = classes
        .iter()
        .map(|&c| {
            let tp = predicted.iter().zip(target).filter(|(p, t)| **p == c && **t == c).count() as f64;
            let fp = predicted.iter().zip(target).filter(|(p, t)| **p == c && **t != c).count() as f64;
            let fn_ = predicted.iter().zip(target).filter(|(p, t)| **p != c && **t == c).count() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
        })
        .sum::<f64>()
        / classes.len().max(1) as f64;
    BTreeMap::from([("accuracy".to_owned(), correct / n), ("macro_f1".to_owned(), f1)])
}

/// MSE, MAE and `R² = 1 - SS_res / SS_tot` (0 when the targets are constant).
pub fn regression(predicted: &[f32], target: &[f32]) -> BTreeMap<String, f64> {
    let n = target.len().max(1) as f64;
    let mean = target.iter().map(|&t| f64::from(t)).sum::<f64>() / n;
    let (mut se, mut ae, mut tot) = (0.0, 0.0, 0.0);
    for (&p, &t) in predicted.iter().zip(target) {
        let d = f64::from(p) - f64::from(t);
        se += d * d;
        ae += d.abs();
        tot += (f64::from(t) - mean).powi(2);
    }
    let r2 = if tot > 0.0 { 1.0 - se / tot } else { 0.0 };
    BTreeMap::from([("mse".to_owned(), se / n), ("mae".to_owned(), ae / n), ("r2".to_owned(), r2)])
}

/// The metrics of a prediction tensor against a target tensor.
pub fn compute(task: Task, prediction: &Tensor, target: &Tensor) -> Result<BTreeMap<String, f64>> {
    Ok(match task {
        Task::Classification => {
            let classes = prediction.argmax(-1, false)?.to_vec_i64()?;
            classification(&classes, &target.to_vec_i64()?)
        }
        Task::Regression => regression(&prediction.to_vec()?, &target.to_dtype(crate::DType::F32)?.to_vec()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_metrics_match_hand_counts() {
        // Classes 0: TP 1, FP 0, FN 1 → F1 2/3; 1: TP 1, FP 1, FN 0 → 2/3; accuracy 2/3.
        let m = classification(&[0, 1, 1], &[0, 1, 0]);
        assert!((m["accuracy"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["macro_f1"] - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn regression_metrics_match_hand_values() {
        // Errors 1, -1, 0: MSE 2/3, MAE 2/3; SS_tot = 2 (targets 1, 2, 3) → R² = 1 - 2/2 = 0.
        let m = regression(&[2.0, 1.0, 3.0], &[1.0, 2.0, 3.0]);
        assert!((m["mse"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["mae"] - 2.0 / 3.0).abs() < 1e-12);
        assert!(m["r2"].abs() < 1e-12);
    }
}
