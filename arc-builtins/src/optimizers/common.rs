//! Plumbing shared by the built-in optimizers: config checks with PyTorch's bounds, the
//! per-parameter state kept by name (and its checkpoint form), and the loop that hands each
//! parameter's data and gradient to an update rule as plain slices.
//!
//! On a GPU: `core.SGD`, `core.Adam` and `core.AdamW` (without AMSGrad) keep their state as
//! device tensors ([`DeviceSlot`]) and update through the fused CUDA kernels
//! (`sgd_update_tensor`, `adam_update_tensor`); every other optimizer rejects a parameter on
//! a GPU with an error naming itself and these three (or `device: cpu`) rather than copying
//! each step through the host. A checkpoint's state is always host tensors.

use std::borrow::Cow;
use std::collections::BTreeMap;

use arc_core::nn::{OptimizerState, Param};
use arc_core::{Device, Error, Result, Tensor};

/// An [`Error::InvalidConfig`] for `component`.
pub(crate) fn invalid(component: &str, message: String) -> Error {
    Error::InvalidConfig { component: component.to_owned(), message }
}

/// The learning rate from `lr` or its alias `learning_rate` (the key of Arc's YAML trainer):
/// both given is an error, neither gives `default` (or a missing-parameter error when the
/// optimizer has none), and it must be finite and `>= 0` as in PyTorch. The flag says whether
/// the config gave it (then `trainer.config.learning_rate` does not replace it).
pub(crate) fn resolve_lr(
    component: &str,
    lr: Option<f64>,
    learning_rate: Option<f64>,
    default: Option<f64>,
) -> Result<(f64, bool)> {
    let given = lr.is_some() || learning_rate.is_some();
    let lr = match (lr, learning_rate) {
        (Some(_), Some(_)) => {
            return Err(invalid(component, "give either `lr` or `learning_rate`, not both".to_owned()));
        }
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => {
            default.ok_or_else(|| Error::MissingParam { component: component.to_owned(), param: "lr".to_owned() })?
        }
    };
    non_negative(component, "lr", lr)?;
    Ok((lr, given))
}

/// Fails with "`name` = value: expected ..." unless `ok`.
pub(crate) fn require(component: &str, name: &str, value: f64, ok: bool, expected: &str) -> Result<()> {
    if ok { Ok(()) } else { Err(invalid(component, format!("`{name}` = {value}: expected {expected}"))) }
}

/// `value` must be finite and `>= 0` (NaN fails).
pub(crate) fn non_negative(component: &str, name: &str, value: f64) -> Result<()> {
    require(component, name, value, value >= 0.0 && value.is_finite(), "a finite value >= 0")
}

/// `value` must lie in `[0, 1)` (betas, momentum, decay rates).
pub(crate) fn unit_interval(component: &str, name: &str, value: f64) -> Result<()> {
    require(component, name, value, (0.0..1.0).contains(&value), "a value in [0, 1)")
}

/// `value` must lie in `[0, 1]` (`rho`, `dampening`).
pub(crate) fn closed_unit_interval(component: &str, name: &str, value: f64) -> Result<()> {
    require(component, name, value, (0.0..=1.0).contains(&value), "a value in [0, 1]")
}

/// One parameter's state: scalars (the step count, ASGD's `eta` and `mu`) and buffers of
/// the parameter's shape (moments), in the order of the owning [`StateTable`]'s names.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Slot {
    /// The parameter's shape, for the checkpoint's tensors.
    pub shape: Vec<usize>,
    /// Scalar state, by the table's `scalar_names`.
    pub scalars: Vec<f64>,
    /// Buffers, by the table's `buffer_names`, each of the parameter's element count.
    pub buffers: Vec<Vec<f32>>,
}

/// Per-parameter state keyed by parameter name; its checkpoint form names each entry
/// `<param>.<state>` with PyTorch's state names (`fc1.weight.exp_avg`, `fc1.weight.step`).
#[derive(Clone, Debug)]
pub(crate) struct StateTable {
    scalar_names: Vec<&'static str>,
    buffer_names: Vec<&'static str>,
    slots: BTreeMap<String, Slot>,
    /// The state of parameters on a GPU (a name is in `slots` or here, never both).
    device_slots: BTreeMap<String, DeviceSlot>,
}

/// One GPU parameter's state: the scalars on the host, the buffers as tensors on the
/// parameter's device (replaced, never written in place, at each step).
#[derive(Clone, Debug)]
pub(crate) struct DeviceSlot {
    /// Scalar state, by the table's `scalar_names`.
    pub scalars: Vec<f64>,
    /// Buffers, by the table's `buffer_names`, each of the parameter's shape.
    pub buffers: Vec<Tensor>,
}

impl StateTable {
    /// An empty table whose slots hold these scalars and buffers.
    pub fn new(scalar_names: Vec<&'static str>, buffer_names: Vec<&'static str>) -> Self {
        Self { scalar_names, buffer_names, slots: BTreeMap::new(), device_slots: BTreeMap::new() }
    }

    /// The host slot of `name`, created by `init` on the parameter's first step (or copied
    /// from the GPU when the parameter moved back to the host).
    pub fn slot(&mut self, name: &str, init: impl FnOnce() -> Slot) -> Result<&mut Slot> {
        if let Some(d) = self.device_slots.remove(name) {
            let shape = d.buffers.first().map(|b| b.shape().to_vec()).unwrap_or_default();
            let buffers = d.buffers.iter().map(Tensor::to_vec).collect::<Result<Vec<_>>>()?;
            self.slots.insert(name.to_owned(), Slot { shape, scalars: d.scalars, buffers });
        }
        Ok(self.slots.entry(name.to_owned()).or_insert_with(init))
    }

    /// The device slot of `name` on `value`'s device: created on the first step (scalars 0,
    /// buffers zeros of `value`'s shape), or moved there from the host (a loaded checkpoint)
    /// or another GPU.
    pub fn device_slot(&mut self, name: &str, value: &Tensor) -> Result<&mut DeviceSlot> {
        let device = value.device();
        let slot = match (self.device_slots.remove(name), self.slots.remove(name)) {
            (Some(d), _) => DeviceSlot {
                scalars: d.scalars,
                buffers: d.buffers.iter().map(|b| b.to_device(device)).collect::<Result<_>>()?,
            },
            (None, Some(host)) => {
                check_slot(name, &host, value.numel())?;
                let buffers = host
                    .buffers
                    .into_iter()
                    .map(|b| Tensor::from_vec(b, value.shape())?.to_device(device))
                    .collect::<Result<_>>()?;
                DeviceSlot { scalars: host.scalars, buffers }
            }
            (None, None) => DeviceSlot {
                scalars: vec![0.0; self.scalar_names.len()],
                buffers: (0..self.buffer_names.len())
                    .map(|_| Tensor::zeros(value.shape()).to_device(device))
                    .collect::<Result<_>>()?,
            },
        };
        if slot.buffers.iter().any(|b| b.shape() != value.shape()) {
            return Err(bad_state(name, "state whose size differs from the parameter's"));
        }
        Ok(self.device_slots.entry(name.to_owned()).or_insert(slot))
    }

    /// Whether `name` has state yet (SGD's momentum buffer starts on the first step).
    pub fn contains(&self, name: &str) -> bool {
        self.slots.contains_key(name) || self.device_slots.contains_key(name)
    }

    /// The checkpoint form.
    pub fn to_state(&self) -> OptimizerState {
        let mut state = OptimizerState::default();
        for (param, slot) in &self.slots {
            for (key, value) in self.scalar_names.iter().zip(&slot.scalars) {
                state.scalars.insert(format!("{param}.{key}"), *value);
            }
            for (key, buffer) in self.buffer_names.iter().zip(&slot.buffers) {
                let tensor = Tensor::from_vec(buffer.clone(), &slot.shape)
                    .expect("a slot's buffers hold its parameter's element count");
                state.tensors.insert(format!("{param}.{key}"), tensor);
            }
        }
        for (param, slot) in &self.device_slots {
            for (key, value) in self.scalar_names.iter().zip(&slot.scalars) {
                state.scalars.insert(format!("{param}.{key}"), *value);
            }
            for (key, buffer) in self.buffer_names.iter().zip(&slot.buffers) {
                // A checkpoint holds host tensors; should the copy fail the device tensor
                // is kept (its values can still be read).
                let tensor = buffer.to_device(Device::Cpu).unwrap_or_else(|_| buffer.clone());
                state.tensors.insert(format!("{param}.{key}"), tensor);
            }
        }
        state
    }

    /// Replaces the table by a checkpoint's state (all or nothing): every entry must end in
    /// one of this optimizer's state names, and each parameter must have all of them.
    pub fn load(&mut self, state: &OptimizerState) -> Result<()> {
        let split = |key: &str, names: &[&'static str]| -> Option<(String, usize)> {
            names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| key.strip_suffix(n)?.strip_suffix('.').map(|p| (p.to_owned(), i)))
                .max_by_key(|(p, _)| usize::MAX - p.len())
        };
        let mut scalars: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let mut buffers: BTreeMap<String, Vec<Option<Tensor>>> = BTreeMap::new();
        for (key, value) in &state.scalars {
            let (param, i) = split(key, &self.scalar_names).ok_or_else(|| bad_state(key, "an unknown scalar"))?;
            scalars.entry(param).or_insert_with(|| vec![None; self.scalar_names.len()])[i] = Some(*value);
        }
        for (key, tensor) in &state.tensors {
            let (param, i) = split(key, &self.buffer_names).ok_or_else(|| bad_state(key, "an unknown tensor"))?;
            buffers.entry(param).or_insert_with(|| vec![None; self.buffer_names.len()])[i] = Some(tensor.clone());
        }
        let mut slots = BTreeMap::new();
        let params: std::collections::BTreeSet<&String> = scalars.keys().chain(buffers.keys()).collect();
        for param in params {
            let missing = |kind| bad_state(param, kind);
            let scalar_values = match scalars.get(param) {
                Some(v) => v.iter().copied().collect::<Option<Vec<f64>>>(),
                None => self.scalar_names.is_empty().then(Vec::new),
            }
            .ok_or_else(|| missing("a parameter missing some scalar state"))?;
            let tensors = match buffers.get(param) {
                Some(v) => v.iter().cloned().collect::<Option<Vec<Tensor>>>(),
                None => self.buffer_names.is_empty().then(Vec::new),
            }
            .ok_or_else(|| missing("a parameter missing some tensor state"))?;
            let shape = tensors.first().map(|t| t.shape().to_vec()).unwrap_or_default();
            if tensors.iter().any(|t| t.shape() != shape.as_slice()) {
                return Err(missing("a parameter whose state tensors differ in shape"));
            }
            let buffer_values = tensors.iter().map(Tensor::to_vec).collect::<Result<Vec<_>>>()?;
            slots.insert(param.clone(), Slot { shape, scalars: scalar_values, buffers: buffer_values });
        }
        self.slots = slots;
        self.device_slots.clear();
        Ok(())
    }
}

fn bad_state(key: &str, what: &'static str) -> Error {
    Error::InvalidArgument {
        op: "load_state",
        name: "state",
        value: format!("`{key}` ({what})"),
        expected: "the state saved by the same optimizer type and config",
    }
}

/// The error of an optimizer that runs on the host only, given a parameter on a GPU.
pub(crate) fn host_only(component: &str, name: &str, device: Device) -> Error {
    invalid(
        component,
        format!(
            "parameter `{name}` is on {device}, but {component} updates parameters on the cpu only; \
             on a GPU use core.SGD, core.Adam or core.AdamW (without amsgrad), or train with `device: cpu`"
        ),
    )
}

/// Parameters under their names, as an optimizer step takes them.
pub(crate) type Named<'a> = Vec<(&'a str, &'a Param)>;

/// `params` split into those on the host and those on a GPU.
pub(crate) fn split_by_device<'a>(params: &[(&'a str, &'a Param)]) -> (Named<'a>, Named<'a>) {
    params.iter().partition(|(_, p)| p.value().device().is_cpu())
}

/// The GPU parameters among `params` that have a gradient, as `(name, param, value, grad)`
/// with the gradient negated when `maximize`; a gradient of another shape or device is an
/// error.
pub(crate) fn device_grads<'a>(
    params: &[(&'a str, &'a Param)],
    maximize: bool,
) -> Result<Vec<(&'a str, &'a Param, Tensor, Tensor)>> {
    let mut out = Vec::new();
    for &(name, param) in params {
        let Some(grad) = param.grad() else { continue };
        let value = param.value();
        if grad.shape() != value.shape() {
            return Err(Error::ShapeMismatch {
                op: "optimizer step",
                lhs: value.shape().to_vec(),
                rhs: grad.shape().to_vec(),
            });
        }
        if grad.device() != value.device() {
            return Err(Error::DeviceMismatch {
                op: "optimizer step",
                expected: value.device().to_string(),
                got: grad.device(),
            });
        }
        let grad = if maximize { grad.neg()? } else { grad };
        out.push((name, param, value, grad));
    }
    Ok(out)
}

/// Runs `update(name, shape, data, grad)` for every parameter that has a gradient (PyTorch skips
/// `grad is None`) on its data, in place where nothing else holds it ([`Param::update`]). With `maximize` the
/// rule sees the negated gradient, as in PyTorch. A parameter on a GPU is an error naming
/// `component` (these rules run on host slices).
pub(crate) fn update_params(
    component: &str,
    params: &[(&str, &Param)],
    maximize: bool,
    mut update: impl FnMut(&str, &[usize], &mut [f32], &[f32]) -> Result<()>,
) -> Result<()> {
    for &(name, param) in params {
        let Some(grad) = param.grad() else { continue };
        let value = param.value();
        if !value.device().is_cpu() {
            return Err(host_only(component, name, value.device()));
        }
        let mut g: Cow<'_, [f32]> = match grad.as_f32_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(grad.to_vec()?),
        };
        if g.len() != value.numel() {
            return Err(Error::ShapeMismatch {
                op: "optimizer step",
                lhs: value.shape().to_vec(),
                rhs: grad.shape().to_vec(),
            });
        }
        if maximize {
            g.to_mut().iter_mut().for_each(|x| *x = -*x);
        }
        let shape = value.shape().to_vec();
        // Dropped first, so that the update can go to the parameter's own storage.
        drop(value);
        param.update(|data| update(name, &shape, data, &g))?;
    }
    Ok(())
}

impl Slot {
    /// A fresh slot: `scalars` as given and `buffers` buffers filled with `fill`.
    pub fn new(shape: &[usize], scalars: Vec<f64>, buffers: usize, fill: f32) -> Self {
        let len = shape.iter().product();
        Slot { shape: shape.to_vec(), scalars, buffers: vec![vec![fill; len]; buffers] }
    }
}

/// Checks that a slot loaded from a checkpoint fits the parameter it is applied to.
pub(crate) fn check_slot(name: &str, slot: &Slot, len: usize) -> Result<()> {
    if slot.buffers.iter().any(|b| b.len() != len) {
        return Err(bad_state(name, "state whose size differs from the parameter's"));
    }
    Ok(())
}

/// Test helpers: one parameter, a chosen gradient.
#[cfg(test)]
pub(crate) mod testing {
    use arc_core::nn::{Optimizer, Param};
    use arc_core::spec::Config;
    use arc_core::{Result, Tensor};

    /// Builds an optimizer from a YAML config.
    pub fn build(factory: super::super::Constructor, yaml: &str) -> Result<Box<dyn Optimizer>> {
        factory(&Config::from_yaml(yaml)?)
    }

    /// Steps `opt` once on `p` with gradient exactly `grad` (the gradient of `sum(p * grad)`)
    /// and returns the new value.
    pub fn step(opt: &mut dyn Optimizer, p: &Param, grad: &[f32]) -> Result<Vec<f32>> {
        p.zero_grad();
        p.value().mul(&Tensor::from_vec(grad.to_vec(), &p.shape())?)?.sum_all()?.backward()?;
        opt.step(&[("p", p)])?;
        p.value().to_vec()
    }

    /// A one-element parameter.
    pub fn scalar_param(value: f32) -> Result<Param> {
        Param::new(Tensor::from_vec(vec![value], &[1])?)
    }

    /// `|got - want| <= tol`.
    pub fn assert_near(got: f32, want: f64, tol: f64) {
        assert!((got as f64 - want).abs() <= tol, "got {got}, want {want}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_split_on_the_longest_parameter_free_suffix() -> Result<()> {
        // `exp_avg` and `exp_avg_sq` share a prefix: `w.exp_avg_sq` must not be read as
        // parameter `w.exp_avg`'s `_sq`, nor `w` as `exp_avg`.
        let mut table = StateTable::new(vec!["step"], vec!["exp_avg", "exp_avg_sq"]);
        table.slot("w.exp_avg", || Slot {
            shape: vec![2],
            scalars: vec![3.0],
            buffers: vec![vec![1.0, 2.0], vec![3.0, 4.0]],
        })?;
        let state = table.to_state();
        let mut loaded = StateTable::new(vec!["step"], vec!["exp_avg", "exp_avg_sq"]);
        loaded.load(&state)?;
        assert_eq!(loaded.slots, table.slots);
        Ok(())
    }

    /// Device slots (what GPU parameters use; exercised here with host tensors): created
    /// zeroed, taken over from a loaded host slot, checkpointed, and checked for size.
    #[test]
    fn device_slots_start_zeroed_take_over_loaded_state_and_checkpoint() -> Result<()> {
        let mut table = StateTable::new(vec!["step"], vec!["exp_avg", "exp_avg_sq"]);
        let value = Tensor::zeros(&[2]);
        let slot = table.device_slot("w", &value)?;
        assert_eq!(slot.scalars, [0.0]);
        assert_eq!(slot.buffers.iter().map(Tensor::to_vec).collect::<Result<Vec<_>>>()?, [[0.0; 2]; 2]);
        slot.scalars[0] = 3.0;
        slot.buffers = vec![Tensor::from_vec(vec![1.0, 2.0], &[2])?, Tensor::from_vec(vec![3.0, 4.0], &[2])?];
        assert!(table.contains("w"));
        let state = table.to_state();
        assert_eq!(state.scalars["w.step"], 3.0);
        assert_eq!(state.tensors["w.exp_avg_sq"].to_vec()?, [3.0, 4.0]);
        // A loaded checkpoint is a host slot until the parameter's next device step.
        let mut loaded = StateTable::new(vec!["step"], vec!["exp_avg", "exp_avg_sq"]);
        loaded.load(&state)?;
        let slot = loaded.device_slot("w", &value)?;
        assert_eq!((slot.scalars.clone(), slot.buffers[0].to_vec()?), (vec![3.0], vec![1.0, 2.0]));
        // And back to a host slot when the parameter is on the host again.
        assert_eq!(loaded.slot("w", || unreachable!("the slot exists"))?.buffers[1], [3.0, 4.0]);
        // A parameter of another size is refused.
        assert!(loaded.device_slot("w", &Tensor::zeros(&[3])).is_err());
        Ok(())
    }

    #[test]
    fn lr_and_learning_rate_are_aliases() {
        assert_eq!(resolve_lr("core.X", None, Some(0.5), None).ok(), Some((0.5, true)));
        assert_eq!(resolve_lr("core.X", None, None, Some(1e-3)).ok(), Some((1e-3, false)));
        let both = resolve_lr("core.X", Some(0.1), Some(0.1), None).unwrap_err();
        assert_eq!(both.to_string(), "core.X: invalid config: give either `lr` or `learning_rate`, not both");
        let missing = resolve_lr("core.X", None, None, None).unwrap_err();
        assert_eq!(missing.to_string(), "core.X: missing parameter `lr`");
        let negative = resolve_lr("core.X", Some(-1.0), None, None).unwrap_err();
        assert_eq!(negative.to_string(), "core.X: invalid config: `lr` = -1: expected a finite value >= 0");
    }
}
