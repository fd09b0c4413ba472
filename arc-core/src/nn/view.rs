//! [`ModelView`]: a built model as the plugins' lifecycle hooks see it.

use super::Param;

/// A built model as a `post_model_build` hook sees it: its nodes, its
/// outputs and its parameters, whatever built it (the graph builder's
/// `GraphModel` implements it), so the hook specs need no builder type.
///
/// ```
/// use arc_core::nn::{ModelView, Param};
///
/// /// A model of one node `fc` with one parameter.
/// struct One(Param);
/// impl ModelView for One {
///     fn node_names(&self) -> Vec<&str> { vec!["fc"] }
///     fn output_names(&self) -> Vec<&str> { vec!["fc"] }
///     fn visit_params<'a>(&'a self, visit: &mut dyn FnMut(&str, &'a Param)) { visit("fc.weight", &self.0) }
/// }
/// let model = One(Param::new(arc_core::Tensor::zeros(&[2, 3]))?);
/// let mut sizes = Vec::new();
/// model.visit_params(&mut |name, p| sizes.push((name.to_owned(), p.shape())));
/// assert_eq!(sizes, [("fc.weight".to_owned(), vec![2, 3])]);
/// # Ok::<(), arc_core::Error>(())
/// ```
pub trait ModelView {
    /// The node names, in execution order.
    fn node_names(&self) -> Vec<&str>;

    /// The output names, in the order the spec writes them.
    fn output_names(&self) -> Vec<&str>;

    /// Calls `visit` with every parameter under its `node.param` name.
    fn visit_params<'a>(&'a self, visit: &mut dyn FnMut(&str, &'a Param));
}
