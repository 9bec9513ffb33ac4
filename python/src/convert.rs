//! Values between Python and the engine's forms: Python values as TOML values (for
//! `Scenario.set`, `with_` and `from_dict`) and one-row Arrow tables as Python dicts (the
//! summary row), column types mapped as pyarrow would map them.

use crate::errors::value_error;
use arrow::array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::DataType;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// `v` as a TOML value; `key` names it in the error.
pub fn to_toml(key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        let i: i64 = v.extract().map_err(|_| {
            value_error(format!(
                "{key}: value {v} does not fit a TOML integer; allowed: -2^63 to 2^63-1"
            ))
        })?;
        return Ok(toml::Value::Integer(i));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract()?));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items = v
            .try_iter()?
            .enumerate()
            .map(|(i, x)| to_toml(&format!("{key}[{i}]"), &x?))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(toml::Value::Array(items));
    }
    if let Ok(d) = v.downcast::<PyDict>() {
        return Ok(toml::Value::Table(dict_to_table(key, d)?));
    }
    Err(value_error(format!(
        "{key}: a value of type {} is not a scenario value; allowed: bool, int, float, str, list, dict",
        v.get_type().name()?
    )))
}

/// A dict with string keys as a TOML table.
pub fn dict_to_table(key: &str, d: &Bound<'_, PyDict>) -> PyResult<toml::Table> {
    let mut t = toml::Table::new();
    for (k, v) in d.iter() {
        let k: String = k.extract().map_err(|_| {
            value_error(format!(
                "{key}: key {k} is not a string; allowed: string keys"
            ))
        })?;
        let path = if key.is_empty() {
            k.clone()
        } else {
            format!("{key}.{k}")
        };
        t.insert(k, to_toml(&path, &v)?);
    }
    Ok(t)
}

/// The first row of `batch` as a dict (null as `None`).
pub fn first_row<'py>(py: Python<'py>, batch: &RecordBatch) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        if col.is_empty() || col.is_null(0) {
            d.set_item(name, py.None())?;
            continue;
        }
        let any = col.as_any();
        match col.data_type() {
            DataType::Float64 => d.set_item(name, down::<Float64Array>(any).value(0))?,
            DataType::UInt64 => d.set_item(name, down::<UInt64Array>(any).value(0))?,
            DataType::UInt32 => d.set_item(name, down::<UInt32Array>(any).value(0))?,
            DataType::Int64 => d.set_item(name, down::<Int64Array>(any).value(0))?,
            DataType::Boolean => d.set_item(name, down::<BooleanArray>(any).value(0))?,
            DataType::Utf8 => d.set_item(name, down::<StringArray>(any).value(0))?,
            other => {
                return Err(value_error(format!(
                    "summary column {name} has type {other}, which this version cannot convert"
                )))
            }
        }
    }
    Ok(d)
}

fn down<T: 'static>(a: &dyn std::any::Any) -> &T {
    a.downcast_ref::<T>()
        .expect("column type matches its DataType")
}
