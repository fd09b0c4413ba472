//! The ONNX bytes decoded back with prost: op types, attributes,
//! initializers and wiring per layer kind.

use arc_core::export::{ExportInput, ExportModel, ExportNode, ExportOutput};
use arc_core::process::FittedState;
use arc_core::spec::{ArcSpec, Config};
use arc_core::{Error, Tensor};
use prost::Message;

use super::proto::{DimValue, ModelProto, NodeProto, attribute_type};
use super::{OnnxConfig, encode};

/// A node of the built-in layer `layer_type`, built from `params` for its lowering.
fn node(name: &str, layer_type: &str, params: &str, inputs: &[&str]) -> ExportNode {
    let pm = arc_core::PluginManager::new();
    pm.register_plugin(crate::BuiltinLayerPlugin, "builtin_layers").expect("registers");
    pm.refresh_registries().expect("refreshes");
    let params = Config::from_yaml(params).expect("params");
    let layer = pm.get_layer(layer_type).expect("a built-in layer").create(&params).expect("builds");
    ExportNode {
        name: name.into(),
        layer_type: format!("core.{layer_type}"),
        params,
        inputs: inputs.iter().enumerate().map(|(i, s)| (format!("input_{i}"), (*s).to_owned())).collect(),
        onnx: layer.onnx(),
    }
}

fn model(nodes: Vec<ExportNode>, weights: Vec<(&str, Tensor)>, features: Option<&str>) -> ExportModel {
    let mut yaml = "model_name: m\nmodel: {}\n".to_owned();
    if let Some(f) = features {
        yaml.push_str(f);
    }
    let last = nodes.last().map(|n| n.name.clone()).unwrap_or_default();
    ExportModel {
        spec: ArcSpec::from_yaml(&yaml, "test").expect("spec"),
        inputs: vec![ExportInput { name: "x".into(), source: "x".into(), shape: vec![None, Some(2)] }],
        nodes,
        outputs: vec![ExportOutput { name: "y".into(), source: last }],
        weights: weights.into_iter().map(|(n, t)| (n.to_owned(), t)).collect(),
        fitted: FittedState::default(),
        processors: Vec::new(),
    }
}

fn t(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).expect("tensor")
}

fn decode(m: &ExportModel, opset: i64) -> ModelProto {
    let bytes = encode(m, &OnnxConfig { opset, include_processors: true }).expect("encodes");
    ModelProto::decode(bytes.as_slice()).expect("decodes")
}

fn ops(p: &ModelProto) -> Vec<&str> {
    p.graph.as_ref().expect("graph").node.iter().map(|n| n.op_type.as_str()).collect()
}

fn find<'a>(p: &'a ModelProto, op: &str) -> &'a NodeProto {
    p.graph.as_ref().expect("graph").node.iter().find(|n| n.op_type == op).expect("op present")
}

fn attr_i(n: &NodeProto, name: &str) -> i64 {
    let a = n.attribute.iter().find(|a| a.name == name).expect("attribute");
    assert_eq!(a.r#type, attribute_type::INT, "{name}");
    a.i
}

fn attr_f(n: &NodeProto, name: &str) -> f32 {
    let a = n.attribute.iter().find(|a| a.name == name).expect("attribute");
    assert_eq!(a.r#type, attribute_type::FLOAT, "{name}");
    a.f
}

fn init_values(p: &ModelProto, name: &str) -> (Vec<i64>, Vec<f32>) {
    let t = p.graph.as_ref().expect("graph").initializer.iter().find(|t| t.name == name).expect("initializer");
    assert_eq!(t.data_type, super::proto::FLOAT);
    (t.dims.clone(), t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[test]
fn linear_is_matmul_with_the_transposed_weight_plus_bias() {
    let m = model(
        vec![node("fc", "Linear", "{in_features: 2, out_features: 3}", &["x"])],
        vec![("fc.weight", t(&[1., 2., 3., 4., 5., 6.], &[3, 2])), ("fc.bias", t(&[0.5, 0.25, 0.125], &[3]))],
        None,
    );
    let p = decode(&m, 17);
    assert_eq!(p.ir_version, 8);
    assert_eq!((p.opset_import[0].domain.as_str(), p.opset_import[0].version), ("", 17));
    assert_eq!(ops(&p), ["MatMul", "Add", "Identity"]);
    // torch's [out, in] = [[1, 2], [3, 4], [5, 6]] stored as [in, out].
    assert_eq!(init_values(&p, "fc.weight_t"), (vec![2, 3], vec![1., 3., 5., 2., 4., 6.]));
    assert_eq!(init_values(&p, "fc.bias"), (vec![3], vec![0.5, 0.25, 0.125]));
    let graph = p.graph.as_ref().expect("graph");
    assert_eq!(find(&p, "MatMul").input[0], "x");
    assert_eq!(find(&p, "Add").output, ["fc.output"]);
    assert_eq!((find(&p, "Identity").input[0].as_str(), find(&p, "Identity").output[0].as_str()), ("fc.output", "y"));
    let dims = &graph.input[0].r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().shape.as_ref().unwrap().dim;
    assert_eq!(dims[0].value, Some(DimValue::DimParam("batch".into())));
    assert_eq!(dims[1].value, Some(DimValue::DimValue(2)));
    assert_eq!(graph.output[0].name, "y");
}

#[test]
fn activations_map_to_their_ops_with_axes() {
    for (layer, params, op) in [
        ("ReLU", "{}", "Relu"),
        ("Sigmoid", "{}", "Sigmoid"),
        ("Tanh", "{}", "Tanh"),
        ("Dropout", "{p: 0.3}", "Identity"),
    ] {
        let p = decode(&model(vec![node("a", layer, params, &["x"])], vec![], None), 17);
        assert_eq!(ops(&p), [op, "Identity"], "{layer}");
    }
    let p = decode(&model(vec![node("s", "Softmax", "{dim: 1}", &["x"])], vec![], None), 17);
    assert_eq!(attr_i(find(&p, "Softmax"), "axis"), 1);
    let p = decode(&model(vec![node("s", "Softmax", "{}", &["x"])], vec![], None), 17);
    assert_eq!(attr_i(find(&p, "Softmax"), "axis"), -1);
}

#[test]
fn gelu_is_the_erf_formula_below_opset_20_and_gelu_from_it() {
    let p = decode(&model(vec![node("g", "GELU", "{}", &["x"])], vec![], None), 17);
    assert_eq!(ops(&p), ["Div", "Erf", "Add", "Mul", "Mul", "Identity"]);
    let consts: Vec<f32> =
        p.graph.as_ref().unwrap().initializer.iter().map(|t| init_values(&p, &t.name).1[0]).collect();
    assert_eq!(consts, [std::f32::consts::SQRT_2, 1.0, 0.5]);
    let p = decode(&model(vec![node("g", "GELU", "{approximate: tanh}", &["x"])], vec![], None), 17);
    assert_eq!(ops(&p), ["Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul", "Identity"]);
    let p = decode(&model(vec![node("g", "GELU", "{approximate: tanh}", &["x"])], vec![], None), 20);
    assert_eq!(ops(&p), ["Gelu", "Identity"]);
    assert_eq!(find(&p, "Gelu").attribute[0].s, b"tanh");
    assert_eq!(p.ir_version, 9);
}

#[test]
fn layer_norm_and_batch_norm_carry_epsilon_axis_and_statistics() {
    let m = model(
        vec![node("ln", "LayerNorm", "{normalized_shape: [2], eps: 0.001}", &["x"])],
        vec![("ln.weight", t(&[1., 2.], &[2])), ("ln.bias", t(&[3., 4.], &[2]))],
        None,
    );
    let p = decode(&m, 17);
    let ln = find(&p, "LayerNormalization");
    assert_eq!(ln.input, ["x", "ln.weight", "ln.bias"]);
    assert_eq!((attr_i(ln, "axis"), attr_f(ln, "epsilon")), (-1, 0.001));
    let m =
        model(vec![node("ln", "LayerNorm", "{normalized_shape: 2, elementwise_affine: false}", &["x"])], vec![], None);
    let p = decode(&m, 17);
    assert_eq!(find(&p, "LayerNormalization").input.len(), 2);
    assert_eq!(init_values(&p, "ln.weight"), (vec![2], vec![1., 1.]));

    let m = model(
        vec![node("bn", "BatchNorm1d", "{num_features: 2}", &["x"])],
        vec![
            ("bn.weight", t(&[1., 2.], &[2])),
            ("bn.bias", t(&[0., 1.], &[2])),
            ("bn.running_mean", t(&[0.5, -0.5], &[2])),
            ("bn.running_var", t(&[2., 3.], &[2])),
        ],
        None,
    );
    let p = decode(&m, 17);
    let bn = find(&p, "BatchNormalization");
    assert_eq!(bn.input, ["x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]);
    assert_eq!(attr_f(bn, "epsilon"), 1e-5);
    assert_eq!(init_values(&p, "bn.running_var").1, [2., 3.]);
}

#[test]
fn embedding_gathers_with_int64_indices_and_combiners_wire_every_input() {
    let mut m = model(
        vec![node("emb", "Embedding", "{num_embeddings: 3, embedding_dim: 2}", &["x"])],
        vec![("emb.weight", t(&[0.; 6], &[3, 2]))],
        None,
    );
    let p = decode(&m, 17);
    let gather = find(&p, "Gather");
    assert_eq!((gather.input.as_slice(), attr_i(gather, "axis")), (&["emb.weight".to_owned(), "x".to_owned()][..], 0));
    let elem = p.graph.as_ref().unwrap().input[0].r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().elem_type;
    assert_eq!(elem, super::proto::INT64);

    m.nodes = vec![
        node("r", "ReLU", "{}", &["x"]),
        node("sum", "Add", "{num_inputs: 3}", &["x", "r", "x"]),
        node("cat", "Concatenate", "{dim: 1}", &["sum", "r"]),
        node("flat", "Flatten", "{}", &["cat"]),
    ];
    m.outputs[0].source = "flat".into();
    let p = decode(&m, 17);
    assert_eq!(ops(&p), ["Relu", "Add", "Add", "Concat", "Flatten", "Identity"]);
    let graph = p.graph.as_ref().unwrap();
    assert_eq!(graph.node[1].input, ["x", "r.output"]);
    assert_eq!(graph.node[2].input, [graph.node[1].output[0].clone(), "x".to_owned()]);
    assert_eq!(graph.node[2].output, ["sum.output"]);
    assert_eq!(find(&p, "Concat").input, ["sum.output", "r.output"]);
    assert_eq!(attr_i(find(&p, "Concat"), "axis"), 1);
    assert_eq!(attr_i(find(&p, "Flatten"), "axis"), 1);
}

#[test]
fn scalers_become_sub_and_div_on_raw_columns() {
    let features = "features:\n  feature_columns: [a, b]\n  processors:\n    \
        - {name: assemble, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.raw: output}}\n    \
        - {name: scale, op: StandardNormalization, inputs: {x: tensors.raw}, outputs: {tensors.x: output, states.s: state}}\n";
    let mut m = model(vec![node("r", "ReLU", "{}", &["x"])], vec![], Some(features));
    let state: arc_core::process::ProcessorState =
        serde_json::from_str(r#"{"kind": "standard_scaler", "numbers": {"mean": [1.0, 2.0], "scale": [0.5, 0.0]}}"#)
            .expect("state");
    m.fitted.states.insert("s".into(), state);
    let pm = arc_core::PluginManager::new();
    pm.register_plugin(crate::BuiltinProcessorPlugin, "builtin_processors").expect("registers");
    pm.refresh_registries().expect("refreshes");
    let pipeline = arc_core::pipeline::Pipeline::from_spec(&m.spec.features, &pm).expect("a pipeline");
    m.processors = pipeline.export_steps(&m.fitted).expect("the steps");
    let p = decode(&m, 17);
    assert_eq!(ops(&p), ["Sub", "Div", "Relu", "Identity"]);
    assert_eq!(init_values(&p, "processors.scale.mean").1, [1.0, 2.0]);
    // A zero scale divides by 1, as the processor does.
    assert_eq!(init_values(&p, "processors.scale.scale").1, [0.5, 1.0]);
    assert_eq!(p.metadata_props[0].key, "arc.input.x.columns");
    assert_eq!(p.metadata_props[0].value, "a,b");
    assert!(p.graph.as_ref().unwrap().input[0].doc_string.starts_with("raw feature columns [a, b]"));
    // Left out on request: the input is the pipeline tensor.
    let bytes = encode(&m, &OnnxConfig { opset: 17, include_processors: false }).expect("encodes");
    assert_eq!(ops(&ModelProto::decode(bytes.as_slice()).expect("decodes")), ["Relu", "Identity"]);
}

#[test]
fn an_unsupported_layer_is_an_error_naming_the_node_and_type() {
    let m = model(vec![node("rnn", "LSTM", "{input_size: 2, hidden_size: 2}", &["x"])], vec![], None);
    let err = encode(&m, &OnnxConfig { opset: 17, include_processors: true }).unwrap_err();
    assert!(matches!(err, Error::ExportUnsupported { .. }));
    let shown = err.to_string();
    assert!(shown.starts_with("export to onnx: node `rnn` has layer type `core.LSTM`, which onnx export does not support: the layer has no ONNX lowering (`Layer::onnx`)"), "{shown}");
    let m = model(vec![node("f", "Flatten", "{start_dim: 0, end_dim: 1}", &["x"])], vec![], None);
    let err = encode(&m, &OnnxConfig { opset: 17, include_processors: true }).unwrap_err().to_string();
    assert!(err.contains("node `f`") && err.contains("end_dim 1"), "{err}");
}
