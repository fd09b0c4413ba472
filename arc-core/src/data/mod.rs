//! Data sources and the column [`Table`] they load, shared with the
//! feature processors.
//!
//! A [`DataSource`] plugin (`core.csv`, `core.sqlite`, ...) turns a location
//! into a [`Table`] (`arc_core::plugin::open_table` picks the source): named columns, each either numbers ([`f64`], a missing
//! value is `NaN`) or text (a missing value is `None`). The [`cell`] rules
//! say which cells are numbers and which are missing, so that every source
//! infers column types the same way.
//!
//! ```
//! use arc_core::data::{Column, Table};
//!
//! let table = Table::new(vec![
//!     Column::numeric("sepal_length", vec![5.1, 4.9, 6.3]),
//!     Column::text("species", vec![Some("setosa".into()), Some("setosa".into()), Some("virginica".into())]),
//! ])?;
//! let x = table.to_tensor(&["sepal_length"])?;
//! assert_eq!(x.shape(), [3, 1]);
//! assert_eq!(table.unique_labels("species")?, ["setosa", "virginica"]);
//! let err = table.numeric("sepal_lenght").unwrap_err();
//! assert_eq!(err.to_string(), "no column `sepal_lenght` (did you mean `sepal_length`?)");
//! # Ok::<(), arc_core::Error>(())
//! ```

pub mod cell;
mod source;
mod table;

pub use source::DataSource;
pub use table::{Column, ColumnValues, Table};
