//! Epoch metrics, by task: accuracy and macro-F1 for multiclass (per row or
//! per position); accuracy, precision, recall, F1 and ROC AUC for binary;
//! MSE, MAE and R² for regression.

use std::collections::BTreeMap;

pub use crate::nn::Task;
use crate::nn::{Scores, TargetInfo};
use crate::{DType, Result, Tensor};

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

/// Binary metrics of `scores` (any scale that grows with the positive
/// class: logits or probabilities) against 0/1 `target`s, a row predicted
/// positive when its score reaches `threshold`: accuracy, precision
/// `TP / (TP + FP)`, recall `TP / (TP + FN)`, F1 (each 0 when its
/// denominator is, as scikit-learn's `zero_division=0`) and `roc_auc`, the
/// Mann–Whitney statistic with ties counted half (scikit-learn's
/// `roc_auc_score`), left out when the targets hold one class only. A
/// target is positive when it is at least 0.5 (soft labels).
pub fn binary(scores: &[f32], target: &[f32], threshold: f32) -> BTreeMap<String, f64> {
    let n = target.len().max(1) as f64;
    let positive: Vec<bool> = target.iter().map(|&t| t >= 0.5).collect();
    let predicted: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
    let count = |p: bool, t: bool| predicted.iter().zip(&positive).filter(|(a, b)| **a == p && **b == t).count() as f64;
    let (tp, fp, fn_, tn) = (count(true, true), count(true, false), count(false, true), count(false, false));
    let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let mut metrics = BTreeMap::from([
        ("accuracy".to_owned(), (tp + tn) / n),
        ("precision".to_owned(), precision),
        ("recall".to_owned(), recall),
        ("f1".to_owned(), ratio(2.0 * precision * recall, precision + recall)),
    ]);
    if let Some(auc) = roc_auc(scores, &positive) {
        metrics.insert("roc_auc".to_owned(), auc);
    }
    metrics
}

/// The area under the ROC curve: the probability that a random positive
/// scores above a random negative, ties counting half; `None` without both
/// classes.
fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average 1-based ranks over runs of equal scores.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let (p, q) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * q))
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

/// The class each position of `prediction` picks (the argmax over
/// `class_dim`), flattened.
pub fn predicted_classes(prediction: &Tensor, class_dim: usize) -> Result<Vec<i64>> {
    prediction.argmax(class_dim as isize, false)?.to_vec_i64()
}

/// The metrics of a prediction tensor against a target tensor, read as
/// `info` says: positions whose target is `ignore_index` are left out of a
/// multiclass task's metrics.
pub fn compute(info: &TargetInfo, prediction: &Tensor, target: &Tensor) -> Result<BTreeMap<String, f64>> {
    Ok(match info.task {
        Task::Multiclass | Task::MulticlassPerPosition => {
            let dim = info.class_dim.unwrap_or(usize::from(prediction.rank() >= 2));
            let classes = predicted_classes(prediction, dim)?;
            let target = target.to_vec_i64()?;
            let (predicted, target): (Vec<i64>, Vec<i64>) =
                classes.into_iter().zip(target).filter(|(_, t)| Some(*t) != info.ignore_index).unzip();
            classification(&predicted, &target)
        }
        Task::Binary => {
            let threshold = match info.scores {
                Scores::Logits => 0.0,
                Scores::LogProbabilities => 0.5f32.ln(),
                Scores::Probabilities | Scores::Values => 0.5,
            };
            binary(&prediction.to_dtype(DType::F32)?.to_vec()?, &target.to_dtype(DType::F32)?.to_vec()?, threshold)
        }
        Task::Regression => regression(&prediction.to_vec()?, &target.to_dtype(DType::F32)?.to_vec()?),
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
    fn binary_metrics_match_hand_counts() {
        // Scores 0.9 0.8 0.3 0.6 0.1 against 1 1 1 0 0 at 0.5: TP 2, FN 1, FP 1, TN 1.
        let m = binary(&[0.9, 0.8, 0.3, 0.6, 0.1], &[1.0, 1.0, 1.0, 0.0, 0.0], 0.5);
        assert!((m["accuracy"] - 3.0 / 5.0).abs() < 1e-12);
        assert!((m["precision"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["recall"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["f1"] - 2.0 / 3.0).abs() < 1e-12);
        // Pairs (positive, negative) ordered right: (0.9, 0.6) (0.9, 0.1) (0.8, 0.6) (0.8, 0.1) (0.3, 0.1) = 5 of 6.
        assert!((m["roc_auc"] - 5.0 / 6.0).abs() < 1e-12);
        // A tie between a positive and a negative counts half: 0.5 of 1 pair.
        assert!((binary(&[0.4, 0.4], &[1.0, 0.0], 0.5)["roc_auc"] - 0.5).abs() < 1e-12);
        // One class only: no AUC, as scikit-learn refuses one.
        assert!(!binary(&[0.4, 0.7], &[1.0, 1.0], 0.5).contains_key("roc_auc"));
        // No positive prediction: precision 0, not NaN.
        assert_eq!(binary(&[0.1, 0.2], &[1.0, 0.0], 0.5)["precision"], 0.0);
    }

    #[test]
    fn regression_metrics_match_hand_values() {
        // Errors 1, -1, 0: MSE 2/3, MAE 2/3; SS_tot = 2 (targets 1, 2, 3) → R² = 1 - 2/2 = 0.
        let m = regression(&[2.0, 1.0, 3.0], &[1.0, 2.0, 3.0]);
        assert!((m["mse"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["mae"] - 2.0 / 3.0).abs() < 1e-12);
        assert!(m["r2"].abs() < 1e-12);
    }

    #[test]
    fn per_position_metrics_skip_ignored_targets() -> Result<()> {
        // [N=1, L=3, C=2] logits; the argmax per position is 1, 0, 1.
        let pred = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0], &[1, 3, 2])?;
        let target = Tensor::from_vec_i64(vec![1, 1, -100], &[1, 3])?;
        let mut info = TargetInfo::new(Task::MulticlassPerPosition, Scores::Logits, "logits");
        info.class_dim = Some(2);
        info.ignore_index = Some(-100);
        // Two positions count: 1 right (1 vs 1), 1 wrong (0 vs 1).
        assert_eq!(compute(&info, &pred, &target)?["accuracy"], 0.5);
        // The same scores as PyTorch's [N, C, L]: classes on dim 1.
        let nc_l = pred.permute(&[0, 2, 1])?;
        info.class_dim = Some(1);
        assert_eq!(compute(&info, &nc_l, &target)?["accuracy"], 0.5);
        Ok(())
    }
}
