//! Arrow tables handed to Python without copying: [`ArrowTable`] holds record batches and
//! exports them through the Arrow PyCapsule interface (`__arrow_c_stream__`), so
//! `pyarrow.table(t)`, `polars.DataFrame(t)` and pandas (through pyarrow) read the engine's
//! buffers in place.
//!
//! Shaped so: arrow's own C stream (`arrow::ffi_stream`, the `ffi` feature of the arrow 56
//! the engine already builds) in a PyCapsule named `arrow_array_stream` is a few lines and
//! adds no crate; `pyo3-arrow` would do the same with a second Arrow abstraction and its own
//! pyo3/arrow version pins to keep in step with the engine's.

use arrow::array::{RecordBatch, RecordBatchIterator};
use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::CString;

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
    /// The Arrow PyCapsule stream protocol. `requested_schema` is accepted and ignored (the
    /// protocol allows that: the consumer casts if it must).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
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
