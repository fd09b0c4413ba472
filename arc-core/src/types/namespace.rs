//! The three namespaces a spec's processor steps bind values into.

/// The three namespaces values bind into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// `tensors.X`: tensors.
    Tensors,
    /// `vars.X`: scalars.
    Vars,
    /// `states.X`: fitted states.
    States,
}

impl Namespace {
    /// The prefix as written: `tensors`, `vars`, `states`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tensors => "tensors",
            Self::Vars => "vars",
            Self::States => "states",
        }
    }
}
