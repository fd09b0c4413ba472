//! Behaviour the torch fixtures cannot pin: initialisation statistics, dropout masks, the
//! positional table far along the sequence, shape inference with unknown sizes, and errors on
//! bad input.

use super::*;

// ---- initialisation ------------------------------------------------------------------

#[test]
fn linear_init_is_pytorchs_kaiming_uniform_and_seeded() -> Result<()> {
    let pm = manager();
    let draw = |seed| -> Result<(Vec<f32>, Vec<f32>)> {
        init::manual_seed(seed);
        let layer = create(&pm, "Linear", "in_features: 256\nout_features: 64")?;
        Ok((with_param(&*layer, "weight", Param::value).to_vec()?, with_param(&*layer, "bias", Param::value).to_vec()?))
    };
    let (w, b) = draw(11)?;
    assert_eq!((w.clone(), b.clone()), draw(11)?, "same seed, same parameters");
    assert_ne!(w, draw(12)?.0, "another seed, other parameters");
    // U(-k, k) with k = 1/sqrt(256) = 1/16: |v| <= k, mean ~ 0, std = k / sqrt(3) ~ 0.0361.
    let k = 1.0 / 16.0;
    assert!(w.iter().chain(&b).all(|v| v.abs() <= k));
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
    assert!(mean.abs() < 2e-3 && (std - k / 3f32.sqrt()).abs() < 1e-3, "mean {mean}, std {std}");
    Ok(())
}

#[test]
fn norm_and_embedding_init_follow_pytorch() -> Result<()> {
    let pm = manager();
    let bn = create(&pm, "BatchNorm1d", "num_features: 3")?;
    assert_eq!(with_param(&*bn, "weight", Param::value).to_vec()?, [1.0; 3]);
    assert_eq!(with_param(&*bn, "bias", Param::value).to_vec()?, [0.0; 3]);
    let stats = buffers(&*bn);
    assert_eq!((stats["running_mean"].to_vec()?, stats["running_var"].to_vec()?), (vec![0.0; 3], vec![1.0; 3]));
    assert_eq!((stats["num_batches_tracked"].shape(), stats["num_batches_tracked"].item_i64()?), (&[][..], 0));
    let ln = create(&pm, "LayerNorm", "normalized_shape: [2, 3]")?;
    assert_eq!(with_param(&*ln, "weight", Param::shape), [2, 3]);
    assert_eq!(with_param(&*ln, "bias", Param::value).to_vec()?, [0.0; 6]);

    init::manual_seed(5);
    let emb = create(&pm, "Embedding", "{num_embeddings: 200, embedding_dim: 50, padding_idx: 7}")?;
    let w = with_param(&*emb, "weight", Param::value).to_vec()?;
    assert!(w[7 * 50..8 * 50].iter().all(|&v| v == 0.0), "the padding row starts at zero");
    // N(0, 1) over 9950 other draws: mean within ~4 sigma (0.04), std within 0.03.
    let rest: Vec<f32> = w.iter().enumerate().filter(|(i, _)| i / 50 != 7).map(|(_, v)| *v).collect();
    let mean = rest.iter().sum::<f32>() / rest.len() as f32;
    let std = (rest.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / rest.len() as f32).sqrt();
    assert!(mean.abs() < 0.04 && (std - 1.0).abs() < 0.03, "mean {mean}, std {std}");
    Ok(())
}

// ---- dropout and other random layers ---------------------------------------------------

#[test]
fn dropout_in_training_zeroes_about_p_and_scales_the_rest() -> Result<()> {
    let pm = manager();
    init::manual_seed(21);
    let layer = create(&pm, "Dropout", "p: 0.3")?;
    let x = Tensor::ones(&[200, 100]).requires_grad_()?;
    let y = layer.forward_single(&x)?;
    let values = y.to_vec()?;
    let keep = 1.0 / 0.7;
    assert!(values.iter().all(|&v| v == 0.0 || (v - keep).abs() < 1e-6), "each output is 0 or 1/(1-p)");
    // 20000 Bernoulli(0.3) draws: the dropped fraction has std 0.0032; allow ~4 sigma.
    let dropped = values.iter().filter(|&&v| v == 0.0).count() as f32 / values.len() as f32;
    assert!((dropped - 0.3).abs() < 0.013, "dropped fraction {dropped}");
    // The gradient of sum(y) is the mask itself.
    y.sum_all()?.backward()?;
    assert_eq!(x.grad().unwrap().to_vec()?, values);
    // Consecutive calls draw new masks; the same seed replays the same stream.
    assert_ne!(layer.forward_single(&x)?.to_vec()?, values);
    init::manual_seed(21);
    let again = create(&pm, "Dropout", "p: 0.3")?;
    assert_eq!(again.forward_single(&x)?.to_vec()?, values);
    Ok(())
}

#[test]
fn dropout_edges_and_eval_mode() -> Result<()> {
    let pm = manager();
    let x = Tensor::randn(&[4, 8], &mut Rng::new(3));
    let all = create(&pm, "Dropout", "p: 1.0")?;
    assert!(all.forward_single(&x)?.to_vec()?.iter().all(|&v| v == 0.0));
    let none = create(&pm, "Dropout", "p: 0.0")?;
    assert_eq!(none.forward_single(&x)?.to_vec()?, x.to_vec()?);
    let mut half = create(&pm, "Dropout", "")?;
    assert_ne!(half.forward_single(&x)?.to_vec()?, x.to_vec()?, "training by default, p = 0.5");
    half.set_training(false);
    assert_eq!(half.forward_single(&x)?.to_vec()?, x.to_vec()?);
    // PositionalEncoding's dropout acts in training mode only, too.
    let mut pe = create(&pm, "PositionalEncoding", "{d_model: 8, dropout: 0.5}")?;
    let zeros = Tensor::zeros(&[4, 10, 8]);
    let train = pe.forward_single(&zeros)?.to_vec()?;
    pe.set_training(false);
    let eval = pe.forward_single(&zeros)?.to_vec()?;
    let dropped = train.iter().zip(&eval).filter(|(t, e)| **t == 0.0 && **e != 0.0).count();
    assert!(dropped > 50, "about half of the 280 non-zero table entries are dropped, got {dropped}");
    assert!(train.iter().zip(&eval).all(|(t, e)| *t == 0.0 || (t - 2.0 * e).abs() < 1e-6));
    Ok(())
}

// ---- positional encoding table -----------------------------------------------------------

#[derive(Deserialize)]
struct TableRows {
    positions: Vec<usize>,
    rows: Fx,
}

#[derive(Deserialize)]
struct Tables {
    max_len: usize,
    d_model: BTreeMap<String, TableRows>,
}

#[test]
fn the_positional_table_matches_numpy_out_to_max_len() -> Result<()> {
    let tables: Tables = fixture("positional_encoding_table");
    let pm = manager();
    for (d, want) in &tables.d_model {
        let mut layer = create(&pm, "PositionalEncoding", &format!("d_model: {d}"))?;
        layer.set_training(false);
        let d: usize = d.parse().unwrap();
        // 0 + pe: the output is the table itself.
        let table = layer.forward_single(&Tensor::zeros(&[1, tables.max_len, d]))?.reshape(&[tables.max_len, d])?;
        let index = Tensor::from_vec_i64(want.positions.iter().map(|&p| p as i64).collect(), &[want.positions.len()])?;
        let rows = table.index_select(0, &index)?.to_vec()?;
        assert_close(&rows, &want.rows.floats(), 1e-5, 1e-6, &format!("pe rows, d_model {d}"));
        let err = layer.forward_single(&Tensor::zeros(&[1, tables.max_len + 1, d])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "layer `core.PositionalEncoding`: expected an input [N, L, d] or [L, d] with d = {d} and L <= 5000, got [1, 5001, {d}]"
            )
        );
    }
    Ok(())
}

// ---- shapes and bad input ----------------------------------------------------------------

fn shape_error(layer: &dyn Layer, inputs: &[ShapeSpec]) -> String {
    layer.output_shape(inputs).unwrap_err().to_string()
}

#[test]
fn shape_inference_keeps_unknown_sizes_and_rejects_misfits() -> Result<()> {
    let pm = manager();
    let linear = create(&pm, "Linear", "in_features: 4\nout_features: 3")?;
    assert_eq!(linear.output_shape(&[vec![None, None, Some(4)]])?, [None, None, Some(3)]);
    assert_eq!(linear.output_shape(&[vec![None, None]])?, [None, Some(3)], "an unknown last dim may be 4");
    assert_eq!(
        shape_error(&*linear, &[vec![None, Some(5)]]),
        "layer `core.Linear`: expected an input [..., 4], got [?, 5]"
    );
    let err = linear.forward_single(&Tensor::zeros(&[2, 5])).unwrap_err().to_string();
    assert_eq!(err, "layer `core.Linear`: expected an input [..., 4], got shape [2, 5]");

    let concat = create(&pm, "Concatenate", "num_inputs: 3")?;
    assert_eq!(concat.input_names(), ["input_0", "input_1", "input_2"]);
    let out = concat.output_shape(&[vec![None, Some(2)], vec![None, Some(3)], vec![Some(8), None]])?;
    assert_eq!(out, [Some(8), None]);
    assert_eq!(
        shape_error(&*concat, &[vec![None, Some(2)], vec![Some(3), Some(3)], vec![Some(4), Some(1)]]),
        "layer `core.Concatenate`: expected shapes equal outside dim -1 (like [3, 5]), got [4, 1]"
    );
    assert_eq!(
        shape_error(&*concat, &[vec![None, Some(2)]]),
        "layer `core.Concatenate`: expected 3 inputs (`num_inputs: 3`), got 1"
    );

    let add = create(&pm, "Add", "")?;
    assert_eq!(add.output_shape(&[vec![None, Some(1), Some(4)], vec![Some(3), Some(4)]])?, [None, Some(3), Some(4)]);
    assert_eq!(add.output_shape(&[vec![None, Some(4)], vec![None, Some(1)]])?, [None, Some(4)]);
    assert_eq!(
        shape_error(&*add, &[vec![None, Some(4)], vec![Some(3)]]),
        "layer `core.Add`: expected shapes that broadcast with [?, 4], got [3]"
    );
    // Any port names, in the order given.
    let sum = nn::forward(&*add, "residual", &[("skip", &Tensor::ones(&[2])), ("x", &Tensor::ones(&[2]))])?;
    assert_eq!(sum.to_vec()?, [2.0, 2.0]);
    assert_eq!(add.forward_single(&Tensor::ones(&[2]))?.to_vec()?, [1.0, 1.0]);
    let three = create(&pm, "Add", "num_inputs: 3")?;
    let err = nn::forward(&*three, "residual", &[("a", &Tensor::ones(&[2])), ("b", &Tensor::ones(&[2]))]);
    assert_eq!(err.unwrap_err().to_string(), "layer `core.Add`: expected 3 inputs (`num_inputs: 3`), got 2");
    let lone = create(&pm, "Concatenate", "num_inputs: 1")?;
    let x = Tensor::ones(&[2, 3]);
    assert_eq!(nn::forward(&*lone, "lone", &[("input_0", &x)])?.to_vec()?, x.to_vec()?, "one input: itself");
    assert_eq!(lone.output_shape(&[vec![None, Some(3)]])?, [None, Some(3)]);

    let flatten = create(&pm, "Flatten", "")?;
    assert_eq!(flatten.output_shape(&[vec![None, Some(3), Some(4)]])?, [None, Some(12)]);
    assert_eq!(flatten.output_shape(&[vec![Some(2), None, Some(4)]])?, [Some(2), None]);
    assert_eq!(
        shape_error(&*flatten, &[vec![Some(5)]]),
        "layer `core.Flatten`: expected a dim 1 in range for the input, got an input of rank 1"
    );
    let flatten_all = create(&pm, "Flatten", "start_dim: 0")?;
    assert_eq!(flatten_all.forward_single(&Tensor::scalar(3.0))?.shape(), [1], "a scalar flattens to [1]");
    let backwards = create(&pm, "Flatten", "{start_dim: 2, end_dim: 1}")?;
    assert_eq!(
        shape_error(&*backwards, &[known(&[2, 3, 4])]),
        "layer `core.Flatten`: expected start_dim 2 not after end_dim 1, got [2, 3, 4]"
    );

    let softmax = create(&pm, "Softmax", "dim: 2")?;
    assert_eq!(
        shape_error(&*softmax, &[vec![None, Some(3)]]),
        "layer `core.Softmax`: expected a dim 2 in range for the input, got an input of rank 2"
    );
    let bn = create(&pm, "BatchNorm1d", "num_features: 3")?;
    assert_eq!(
        shape_error(&*bn, &[vec![None, Some(4)]]),
        "layer `core.BatchNorm1d`: expected an input [N, 3] or [N, 3, L], got [?, 4]"
    );
    let ln = create(&pm, "LayerNorm", "normalized_shape: [3, 4]")?;
    assert_eq!(
        shape_error(&*ln, &[known(&[2, 4, 3])]),
        "layer `core.LayerNorm`: expected an input [*, 3, 4], got [2, 4, 3]"
    );
    let emb = create(&pm, "Embedding", "{num_embeddings: 5, embedding_dim: 2}")?;
    assert_eq!(emb.output_shape(&[vec![None, Some(7)]])?, [None, Some(7), Some(2)]);
    let pe = create(&pm, "PositionalEncoding", "{d_model: 6, max_len: 10, batch_first: false}")?;
    assert_eq!(pe.output_shape(&[vec![Some(10), None, Some(6)]])?, [Some(10), None, Some(6)]);
    assert_eq!(
        shape_error(&*pe, &[vec![Some(11), None, Some(6)]]),
        "layer `core.PositionalEncoding`: expected an input [L, N, d] or [L, d] with d = 6 and L <= 10, got [11, ?, 6]"
    );
    Ok(())
}

#[test]
fn batchnorm_needs_more_than_one_value_per_channel_in_training() -> Result<()> {
    let pm = manager();
    let mut bn = create(&pm, "BatchNorm1d", "num_features: 3")?;
    let one = Tensor::randn(&[1, 3], &mut Rng::new(0));
    assert_eq!(
        bn.forward_single(&one).unwrap_err().to_string(),
        "layer `core.BatchNorm1d`: expected more than 1 value per channel when training, got shape [1, 3]"
    );
    assert_eq!(buffers(&*bn)["num_batches_tracked"].item_i64()?, 0, "a rejected batch is not counted");
    bn.set_training(false);
    // Eval with fresh running stats (mean 0, var 1): y = x / sqrt(1 + eps).
    let want: Vec<f32> = one.to_vec()?.iter().map(|v| v / (1.0f32 + 1e-5).sqrt()).collect();
    assert_close(&bn.forward_single(&one)?.to_vec()?, &want, 1e-6, 1e-7, "eval output");
    // Empty inputs pass through in evaluation mode (no statistics are needed).
    assert_eq!(bn.forward_single(&Tensor::zeros(&[2, 3, 0]))?.shape(), [2, 3, 0]);
    assert_eq!(bn.forward_single(&Tensor::zeros(&[0, 3]))?.shape(), [0, 3]);
    Ok(())
}

#[test]
fn batchnorm_statistics_survive_a_large_offset() -> Result<()> {
    // x = 1000 + N(0, 0.1^2) in f32: a naive f32 E[x^2] - E[x]^2 would lose the variance
    // (1e6 against 1e-2); the output must still have mean 0 and biased variance 1 per
    // channel, to 1e-3 (the eps of 1e-5 against a variance of 1e-2 shifts it by 1e-3 at most).
    let pm = manager();
    let bn = create(&pm, "BatchNorm1d", "num_features: 2")?;
    let x = Tensor::randn(&[512, 2], &mut Rng::new(4)).mul_scalar(0.1)?.add_scalar(1000.0)?;
    let y = bn.forward_single(&x)?;
    let mean = y.mean(&[0], false)?.to_vec()?;
    let var = y.var(&[0], false, false)?.to_vec()?;
    assert!(mean.iter().all(|m| m.abs() < 1e-3) && var.iter().all(|v| (v - 1.0).abs() < 2e-3), "{mean:?} {var:?}");
    Ok(())
}

#[test]
fn batchnorm_large_inputs_match_composed_tensor_ops() -> Result<()> {
    // Inputs above the kernel's parallel threshold (32768 elements), against the same maths
    // written with tensor ops: y = (x - mean) / sqrt(var + eps) (biased var over N and L),
    // and the gradient of sum(y * g) through autograd; rtol 1e-4, atol 1e-5.
    let pm = manager();
    let mut rng = Rng::new(6);
    for (shape, dims, c) in [(vec![64, 600], vec![0isize], 600), (vec![8, 300, 20], vec![0, 2], 300)] {
        let bn = create(&pm, "BatchNorm1d", &format!("num_features: {c}"))?;
        let x = Tensor::randn(&shape, &mut rng).mul_scalar(3.0)?.add_scalar(1.0)?.requires_grad_()?;
        let g = Tensor::randn(&shape, &mut rng);
        let y = bn.forward_single(&x)?;
        y.mul(&g)?.sum_all()?.backward()?;
        let xr = x.detach().requires_grad_()?;
        let var = xr.var(&dims, false, true)?;
        let want = xr.sub(&xr.mean(&dims, true)?)?.div(&var.add_scalar(1e-5)?.sqrt()?)?;
        want.mul(&g)?.sum_all()?.backward()?;
        let what = format!("{shape:?}");
        assert_close(&y.to_vec()?, &want.to_vec()?, 1e-4, 1e-5, &format!("{what}: output"));
        assert_close(&x.grad().unwrap().to_vec()?, &xr.grad().unwrap().to_vec()?, 1e-4, 1e-5, &format!("{what}: dx"));
    }
    Ok(())
}

#[test]
fn embedding_rejects_bad_indices() -> Result<()> {
    let pm = manager();
    let emb = create(&pm, "Embedding", "{num_embeddings: 5, embedding_dim: 2}")?;
    let err = emb.forward_single(&Tensor::from_vec_i64(vec![1, 5], &[2])?).unwrap_err();
    assert_eq!(err.to_string(), "op `embedding`: index 5 is out of range for a dimension of size 5");
    let err = emb.forward_single(&Tensor::from_vec_i64(vec![-1], &[1])?).unwrap_err();
    assert_eq!(err.to_string(), "op `embedding`: index -1 is out of range for a dimension of size 5");
    let err = emb.forward_single(&Tensor::zeros(&[2])).unwrap_err();
    assert_eq!(err.to_string(), "op `embedding`: expected dtype i64, got f32");
    // A weight replaced by one of another shape is an error, not an out-of-bounds read.
    emb.visit_params("", &mut |_, w| w.set(Tensor::zeros(&[4, 2])).unwrap());
    let err = emb.forward_single(&Tensor::from_vec_i64(vec![4], &[1])?).unwrap_err();
    assert_eq!(err.to_string(), "op `core.Embedding`: shapes [5, 2] and [4, 2] are incompatible");
    let bn = create(&pm, "BatchNorm1d", "num_features: 3")?;
    bn.visit_params("", &mut |_, p| p.set(Tensor::ones(&[2])).unwrap());
    let err = bn.forward_single(&Tensor::ones(&[4, 3])).unwrap_err();
    assert_eq!(err.to_string(), "op `core.BatchNorm1d`: shapes [3] and [2] are incompatible");
    Ok(())
}

#[test]
fn embedding_max_norm_keeps_an_accumulated_gradient() -> Result<()> {
    // Two micro-batches before one optimizer step: the second renormalises another row, which
    // replaces the weight; the first batch's gradient must survive, as with PyTorch's in-place
    // renorm.
    let pm = manager();
    init::manual_seed(2);
    let emb = create(&pm, "Embedding", "{num_embeddings: 4, embedding_dim: 16, max_norm: 1.0}")?;
    let norm = |row: usize| -> Result<f32> {
        let w = with_param(&*emb, "weight", Param::value).to_vec()?;
        Ok(w[row * 16..(row + 1) * 16].iter().map(|v| v * v).sum::<f32>().sqrt())
    };
    assert!(norm(0)? > 1.0 && norm(1)? > 1.0, "N(0, 1) rows of 16 have norms near 4");
    emb.forward_single(&Tensor::from_vec_i64(vec![0], &[1])?)?.sum_all()?.backward()?;
    emb.forward_single(&Tensor::from_vec_i64(vec![1, 1], &[2])?)?.sum_all()?.backward()?;
    assert!((norm(0)? - 1.0).abs() < 1e-5 && (norm(1)? - 1.0).abs() < 1e-5 && norm(2)? > 1.0);
    // d/dW of sum(W[0]) + sum(W[1] + W[1]): row 0 ones, row 1 twos, the rest zeros.
    let grad = with_param(&*emb, "weight", Param::grad).expect("a gradient").to_vec()?;
    let want: Vec<f32> = (0..64).map(|i| [1.0, 2.0, 0.0, 0.0][i / 16]).collect();
    assert_eq!(grad, want);
    Ok(())
}
