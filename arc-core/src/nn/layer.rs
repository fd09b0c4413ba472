//! The layer trait (the seed's `ArcLayerBase`) and input routing.

use std::sync::Arc;

use super::Param;
use crate::lower::{OnnxLowering, RowOp};
use crate::{Error, Result, Tensor};

/// A shape as known before running: `None` for the batch dimension or any
/// size known only from data.
pub type ShapeSpec = Vec<Option<usize>>;

/// Named inputs of a multi-input layer, in the layer's port order.
pub type LayerInputs<'a> = [(&'a str, &'a Tensor)];

/// A graph layer, registered by `LayerHookSpec::register_layers`.
///
/// Input routing follows the seed: a single input goes to
/// [`forward_single`](Self::forward_single); several go to
/// [`forward_multi`](Self::forward_multi) by port name, the ports being
/// [`input_names`](Self::input_names). See [`forward`].
///
/// Layers compute with `&self`: one built model serves many threads. State
/// that changes in training (dropout's random stream, batch norm's running
/// statistics) lives behind interior mutability.
pub trait Layer: Send + Sync {
    /// The input ports; `["input"]` by default. Whatever they are, the
    /// first one also answers to `input` in a spec.
    fn input_names(&self) -> &[&str] {
        &["input"]
    }

    /// Whether the layer takes any number of inputs under any port names
    /// (`Concatenate`, `Add`): [`forward_multi`](Self::forward_multi) then
    /// receives them in the order the spec writes them, and
    /// [`output_shape`](Self::output_shape) their shapes in that order.
    /// Default `false`: the ports are [`input_names`](Self::input_names).
    fn takes_any_inputs(&self) -> bool {
        false
    }

    /// The output for one input.
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let _ = input;
        Err(Error::LayerInputs {
            layer: std::any::type_name::<Self>().to_owned(),
            expected: format!("{:?}", self.input_names()),
            got: "one input".into(),
        })
    }

    /// The output for several named inputs, in [`input_names`](Self::input_names) order.
    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        let _ = inputs;
        Err(Error::LayerInputs {
            layer: std::any::type_name::<Self>().to_owned(),
            expected: "one input".into(),
            got: format!("{} inputs", inputs.len()),
        })
    }

    /// Calls `visit` with each trainable parameter under its dotted name
    /// (`weight`, `encoder.linear.weight`), prefixed by `prefix`.
    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        let _ = (prefix, visit);
    }

    /// Calls `visit` with each non-trainable state tensor (batch norm's
    /// running statistics) under its dotted name.
    fn visit_buffers(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Tensor)) {
        let _ = (prefix, visit);
    }

    /// Sets the buffers [`visit_buffers`](Self::visit_buffers) names from
    /// saved values: `get(name)` gives the saved tensor under the dotted
    /// name, or `None` to keep the current one. A saved value of the wrong
    /// shape or dtype is an error naming the buffer.
    fn load_buffers(&self, prefix: &str, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<()> {
        let _ = (prefix, get);
        Ok(())
    }

    /// Switches between training and evaluation behaviour.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// The output shape for the given input shapes (one per port).
    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec>;

    /// The layer over one row, for the Predictor's allocation-free plan:
    /// `input_widths` are the row widths of its inputs (port order). Called
    /// on the built layer in evaluation mode with its trained weights, once
    /// per loaded model. Default `None`: the Predictor then serves the
    /// model on its generic tensor path. See [`crate::lower::row`].
    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let _ = input_widths;
        None
    }

    /// The layer's ONNX form. Default `None`: an ONNX export of a model
    /// using it is an error naming the node and its type. See
    /// [`crate::lower::onnx`].
    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        None
    }
}

/// Joins a parameter name to its prefix with a dot.
pub fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// The port each of a node's inputs binds to, given the ports as written
/// (`None` for a positional ref): a lone positional input takes the first
/// port; positional inputs take the ports in order; a written port must be
/// one of the layer's, `input` standing for the first. A layer that
/// [takes any inputs](Layer::takes_any_inputs) keeps the names written
/// (`input_<k>` for positional ones). A port given twice, an unknown port
/// (with did-you-mean) or more inputs than ports is an error.
///
/// ```
/// # use arc_core::nn::{bind_ports, Layer, ShapeSpec};
/// struct Attention;
/// impl Layer for Attention {
///     fn input_names(&self) -> &[&str] { &["query", "key", "value"] }
///     fn output_shape(&self, inputs: &[ShapeSpec]) -> arc_core::Result<ShapeSpec> { Ok(inputs[0].clone()) }
/// }
/// assert_eq!(bind_ports(&Attention, &[Some("input"), Some("value")])?, ["query", "value"]);
/// assert_eq!(bind_ports(&Attention, &[None, None])?, ["query", "key"]);
/// let err = bind_ports(&Attention, &[Some("qeury")]).unwrap_err();
/// assert_eq!(err.to_string(), "layer: no input port `qeury` (did you mean `query`?)");
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn bind_ports(layer: &dyn Layer, written: &[Option<&str>]) -> Result<Vec<String>> {
    let ports = layer.input_names();
    let any = layer.takes_any_inputs();
    let mut bound: Vec<String> = Vec::with_capacity(written.len());
    for (k, port) in written.iter().enumerate() {
        let name = match port {
            Some(p) if any || ports.contains(p) => (*p).to_owned(),
            Some("input") if !ports.is_empty() => ports[0].to_owned(),
            Some(p) => {
                return Err(Error::UnknownPort {
                    component: "layer".into(),
                    direction: "input",
                    port: (*p).to_owned(),
                    hint: crate::DidYouMean::among(p, ports.iter().copied().chain(["input"])),
                });
            }
            None if any => format!("input_{k}"),
            None => match ports.get(k) {
                Some(p) => (*p).to_owned(),
                None if written.len() == 1 => "input".to_owned(),
                None => {
                    return Err(Error::LayerInputs {
                        layer: "layer".into(),
                        expected: format!("at most {} inputs (ports {ports:?})", ports.len()),
                        got: format!("{}", written.len()),
                    });
                }
            },
        };
        if bound.contains(&name) {
            return Err(Error::LayerInputs {
                layer: "layer".into(),
                expected: format!("each port once (ports {ports:?})"),
                got: format!("`{name}` twice"),
            });
        }
        bound.push(name);
    }
    Ok(bound)
}

/// Routes inputs as the seed does: a single input to `forward_single`;
/// several to `forward_multi`, each matched by name to one of the layer's
/// ports and passed in port order (a layer with optional ports, such as
/// attention masks, receives only those given), or in the order given for
/// a layer that [takes any inputs](Layer::takes_any_inputs). No input, an
/// unknown port or a port given twice is an error naming the ports.
pub fn forward(layer: &dyn Layer, name: &str, inputs: &LayerInputs<'_>) -> Result<Tensor> {
    if layer.takes_any_inputs() && inputs.len() > 1 {
        return layer.forward_multi(inputs);
    }
    let ports = layer.input_names();
    let mismatch = || Error::LayerInputs {
        layer: name.to_owned(),
        expected: format!("ports {ports:?}"),
        got: format!("{:?}", inputs.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
    };
    match inputs {
        [] => Err(mismatch()),
        [(_, x)] => layer.forward_single(x),
        _ => {
            let known = inputs.iter().all(|(n, _)| ports.contains(n));
            let unique = inputs.iter().enumerate().all(|(i, (n, _))| inputs[..i].iter().all(|(m, _)| m != n));
            if !known || !unique {
                return Err(mismatch());
            }
            let ordered: Vec<_> = ports.iter().filter_map(|p| inputs.iter().find(|(n, _)| n == p).copied()).collect();
            layer.forward_multi(&ordered)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input * 2`.
    struct Double;
    impl Layer for Double {
        fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
            input.mul_scalar(2.0)
        }
        fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
            Ok(inputs[0].clone())
        }
    }

    /// `a - b`, on ports `a` and `b`.
    struct Minus;
    impl Layer for Minus {
        fn input_names(&self) -> &[&str] {
            &["a", "b"]
        }
        fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
            inputs[0].1.sub(inputs[1].1)
        }
        fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
            Ok(inputs[0].clone())
        }
    }

    fn t(v: f32) -> Tensor {
        Tensor::from_vec(vec![v], &[1]).unwrap()
    }

    #[test]
    fn one_input_goes_to_forward_single() {
        let x = t(3.0);
        assert_eq!(forward(&Double, "double", &[("input", &x)]).unwrap().to_vec().unwrap(), [6.0]);
    }

    #[test]
    fn named_inputs_are_ordered_by_port() {
        let (a, b) = (t(5.0), t(2.0));
        let out = forward(&Minus, "minus", &[("b", &b), ("a", &a)]).unwrap();
        assert_eq!(out.to_vec().unwrap(), [3.0]);
    }

    #[test]
    fn other_combinations_are_errors_naming_the_ports() {
        let (a, b) = (t(5.0), t(2.0));
        let err = forward(&Minus, "minus", &[("a", &a), ("c", &b)]).unwrap_err();
        assert_eq!(err.to_string(), r#"layer `minus`: expected ports ["a", "b"], got ["a", "c"]"#);
        let err = forward(&Minus, "minus", &[("a", &a), ("a", &b)]).unwrap_err();
        assert_eq!(err.to_string(), r#"layer `minus`: expected ports ["a", "b"], got ["a", "a"]"#);
        let err = forward(&Minus, "minus", &[]).unwrap_err();
        assert_eq!(err.to_string(), r#"layer `minus`: expected ports ["a", "b"], got []"#);
        // A lone input goes to forward_single, which Minus does not have.
        let err = forward(&Minus, "minus", &[("a", &a)]).unwrap_err();
        assert!(err.to_string().contains("got one input"), "{err}");
        let err = forward(&Double, "double", &[("input", &a), ("other", &b)]).unwrap_err();
        assert_eq!(err.to_string(), r#"layer `double`: expected ports ["input"], got ["input", "other"]"#);
    }

    #[test]
    fn join_name_dots_prefixes() {
        assert_eq!(join_name("", "weight"), "weight");
        assert_eq!(join_name("encoder.linear", "weight"), "encoder.linear.weight");
    }
}
