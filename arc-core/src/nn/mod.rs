//! Layers, losses, optimizers and the built model: the component traits that
//! plugins implement, over [`Tensor`](crate::Tensor).

pub mod init;
mod layer;
mod loss;
mod optim;
mod param;
mod view;

pub use layer::{Layer, LayerInputs, ShapeSpec, bind_ports, forward, join_name};
pub use loss::{Loss, Scores, TargetInfo, Task};
pub use optim::{Optimizer, OptimizerState};
pub use param::Param;
pub use view::ModelView;
