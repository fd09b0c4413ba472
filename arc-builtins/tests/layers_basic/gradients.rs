//! Finite-difference checks of input gradients (`arc_core::tensor::gradcheck`) and of
//! parameter gradients through the layers.

use super::*;

// ---- gradcheck ---------------------------------------------------------------------------

/// Finite differences for a parameter: `dL/dp_j ~ (L(p_j + eps) - L(p_j - eps)) / 2 eps` with
/// `L = sum(f() * r)`, against the gradient backward accumulates on the parameter, within
/// `tol * (1 + |numeric|)` (eps 1e-3, tol 1e-2 suit O(1) values in f32).
fn check_param_grad(layer: &dyn Layer, name: &str, f: &dyn Fn() -> Result<Tensor>) -> Result<()> {
    let (eps, tol) = (1e-3f32, 1e-2f64);
    let y = f()?;
    let r = Tensor::randn(y.shape(), &mut Rng::new(99));
    with_param(layer, name, Param::zero_grad);
    y.mul(&r)?.sum_all()?.backward()?;
    let analytic = with_param(layer, name, Param::grad).expect("a gradient").to_vec()?;
    let base = with_param(layer, name, Param::value);
    let loss = |delta: f32, j: usize| -> Result<f64> {
        let mut data = base.to_vec()?;
        data[j] += delta;
        with_param(layer, name, |p| p.set(Tensor::from_vec(data, base.shape())?))?;
        let _guard = no_grad();
        Ok(f()?.mul(&r)?.sum_all()?.item()? as f64)
    };
    for (j, &a) in analytic.iter().enumerate() {
        let numeric = (loss(eps, j)? - loss(-eps, j)?) / (2.0 * eps as f64);
        assert!((a as f64 - numeric).abs() <= tol * (1.0 + numeric.abs()), "{name}[{j}]: {a} vs {numeric}");
    }
    with_param(layer, name, |p| p.set(base.clone()))
}

#[test]
fn gradcheck_inputs_through_layers() -> Result<()> {
    let pm = manager();
    let mut rng = Rng::new(7);
    let x = Tensor::randn(&[5, 4], &mut rng);
    for (layer_type, yaml) in [
        ("Linear", "in_features: 4\nout_features: 3"),
        ("BatchNorm1d", "num_features: 4"),
        ("LayerNorm", "normalized_shape: 4"),
        ("GELU", ""),
        ("Softmax", "dim: 0"),
        ("Flatten", "start_dim: 0"),
    ] {
        let layer = create(&pm, layer_type, yaml)?;
        gradcheck(|t| layer.forward_single(&t[0]), &[&x], 1e-3, 1e-2)?;
    }
    let x3 = Tensor::randn(&[2, 3, 4], &mut rng);
    let mut bn = create(&pm, "BatchNorm1d", "num_features: 3")?;
    gradcheck(|t| bn.forward_single(&t[0]), &[&x3], 1e-3, 1e-2)?;
    bn.set_training(false);
    gradcheck(|t| bn.forward_single(&t[0]), &[&x3], 1e-3, 1e-2)?;
    let ln = create(&pm, "LayerNorm", "normalized_shape: [3, 4]")?;
    gradcheck(|t| ln.forward_single(&t[0]), &[&x3], 1e-3, 1e-2)?;
    let mut pe = create(&pm, "PositionalEncoding", "d_model: 4")?;
    pe.set_training(false);
    gradcheck(|t| pe.forward_single(&t[0]), &[&x3], 1e-3, 1e-2)?;
    let concat = create(&pm, "Concatenate", "dim: 1")?;
    let add = create(&pm, "Add", "")?;
    let (a, b) = (Tensor::randn(&[2, 3], &mut rng), Tensor::randn(&[2, 1], &mut rng));
    gradcheck(|t| nn::forward(&*concat, "c", &[("input_0", &t[0]), ("input_1", &t[1])]), &[&a, &b], 1e-3, 1e-2)?;
    gradcheck(|t| nn::forward(&*add, "a", &[("input_0", &t[0]), ("input_1", &t[1])]), &[&a, &b], 1e-3, 1e-2)
}

#[test]
fn gradcheck_parameters() -> Result<()> {
    let pm = manager();
    let mut rng = Rng::new(8);
    let linear = create(&pm, "Linear", "in_features: 3\nout_features: 2")?;
    let x = Tensor::randn(&[4, 3], &mut rng);
    for name in ["weight", "bias"] {
        check_param_grad(&*linear, name, &|| linear.forward_single(&x))?;
    }
    let bn = create(&pm, "BatchNorm1d", "num_features: 3")?;
    let x3 = Tensor::randn(&[4, 3, 2], &mut rng);
    for name in ["weight", "bias"] {
        check_param_grad(&*bn, name, &|| bn.forward_single(&x3))?;
    }
    let ln = create(&pm, "LayerNorm", "normalized_shape: [3, 2]")?;
    for name in ["weight", "bias"] {
        check_param_grad(&*ln, name, &|| ln.forward_single(&x3))?;
    }
    // The lookup's custom backward (a scatter-add of repeated rows) against finite differences.
    let emb = create(&pm, "Embedding", "{num_embeddings: 5, embedding_dim: 3}")?;
    let ids = Tensor::from_vec_i64(vec![4, 0, 4, 2], &[2, 2])?;
    check_param_grad(&*emb, "weight", &|| emb.forward_single(&ids))
}
