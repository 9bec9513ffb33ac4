//! Arrow tables handed to Python without copying: [`ArrowTable`] holds record batches and
//! exports them through the Arrow PyCapsule interface (`__arrow_c_stream__`), so
//! `pyarrow.table(t)`, `polars.DataFrame(t)` and pandas (through pyarrow) read the engine's
//! buffers in place.
//!
//! Shaped so: arrow's own C stream (`arrow::ffi_stream`, the `ffi` feature of the arrow 56
//! the engine already builds) in a PyCapsule named `arrow_array_stream` is a few lines and
//! adds no crate. A `requested_schema` is honoured when it is the table's own and refused,
//! naming the differences, otherwise (no cast on the way out, which would copy). `pyo3-arrow` would do the same with a second Arrow abstraction and its own
//! pyo3/arrow version pins to keep in step with the engine's.

use crate::errors::value_error;
use arrow::array::{RecordBatch, RecordBatchIterator};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::CString;

/// The schema in an `arrow_schema` PyCapsule (what `pyarrow.Schema.__arrow_c_schema__()`
/// returns).
fn requested(req: &Bound<'_, PyAny>) -> PyResult<Schema> {
    let bad = || {
        value_error(
            "requested_schema: not an Arrow schema capsule; allowed: None or a PyCapsule named \"arrow_schema\" (e.g. pyarrow.Schema.__arrow_c_schema__())",
        )
    };
    let capsule = req.downcast::<PyCapsule>().map_err(|_| bad())?;
    match capsule.name()? {
        Some(n) if n.to_bytes() == b"arrow_schema" => {}
        _ => return Err(bad()),
    }
    // SAFETY: a capsule named "arrow_schema" holds an `ArrowSchema` struct (the Arrow C data
    // interface), alive as long as the capsule, which `req` holds; it is only read here.
    let ffi = unsafe { &*(capsule.pointer() as *const FFI_ArrowSchema) };
    Schema::try_from(ffi).map_err(|e| value_error(format!("requested_schema: {e}")))
}

/// How `want` differs from `have`, column by column (empty: equal).
fn differences(have: &Schema, want: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let (h, w) = (have.fields(), want.fields());
    if h.len() != w.len() {
        out.push(format!(
            "{} columns requested, the table has {}",
            w.len(),
            h.len()
        ));
    }
    for (i, (a, b)) in h.iter().zip(w.iter()).enumerate() {
        if a.name() != b.name() {
            out.push(format!(
                "column {i} is named {:?}, requested {:?}",
                a.name(),
                b.name()
            ));
        }
        if a.data_type() != b.data_type() {
            out.push(format!(
                "column {i} ({}) has type {}, requested {}",
                a.name(),
                a.data_type(),
                b.data_type()
            ));
        }
        if a.is_nullable() != b.is_nullable() {
            let word = |n: bool| if n { "nullable" } else { "not nullable" };
            out.push(format!(
                "column {i} ({}) is {}, requested {}",
                a.name(),
                word(a.is_nullable()),
                word(b.is_nullable())
            ));
        }
    }
    if w.len() > h.len() {
        let extra: Vec<&str> = w[h.len()..].iter().map(|f| f.name().as_str()).collect();
        out.push(format!(
            "requested columns the table lacks: {}",
            extra.join(", ")
        ));
    }
    out
}

#[pyclass(frozen, module = "tokenrisk", name = "ArrowTable")]
pub struct ArrowTable {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl ArrowTable {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> ArrowTable {
        ArrowTable { schema, batches }
    }
}

#[pymethods]
impl ArrowTable {
    /// The Arrow PyCapsule stream protocol. A `requested_schema` (an `arrow_schema`
    /// capsule) equal to the table's (same columns in order, types and nullability; schema
    /// metadata is not compared) is honoured as is; any other is refused with a `ValueError`
    /// naming each difference, rather than handing over a table of another schema: these
    /// tables are never cast on the way out (that would copy), the consumer casts after.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        if let Some(req) = requested_schema.filter(|r| !r.is_none()) {
            let want = requested(&req)?;
            let diffs = differences(&self.schema, &want);
            if !diffs.is_empty() {
                return Err(value_error(format!(
                    "requested_schema differs from the table's schema: {}; allowed: the table's own schema (read it as is and cast afterwards)",
                    diffs.join("; ")
                )));
            }
        }
        // Cloning a batch clones Arcs of its buffers, never the data.
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        let name = CString::new("arrow_array_stream").expect("no NUL in the name");
        PyCapsule::new(py, stream, Some(name))
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    /// Address of the values buffer of column `i` of the first batch (for the zero-copy test).
    fn _values_address(&self, i: usize) -> Option<usize> {
        let data = self.batches.first()?.column(i).to_data();
        data.buffers().first().map(|b| b.as_ptr() as usize)
    }

    fn __repr__(&self) -> String {
        format!(
            "ArrowTable({} rows x {} columns: {})",
            self.num_rows(),
            self.schema.fields().len(),
            self.column_names().join(", ")
        )
    }
}
