"""Arrow hand-over: the tables are PyCapsule streams that pyarrow reads in place (the same
buffer addresses as the engine's), pandas through pyarrow, polars when installed; a
requested_schema equal to the table's is honoured (zero-copy still), any other refused with
an error naming each difference."""

import pyarrow as pa
import pytest

import tokenrisk

PATHS = 70_000  # more than one 65,536-row batch (output::parquet::ROWS_PER_BATCH)


@pytest.fixture(scope="module")
def run():
    return tokenrisk.run(tokenrisk.Scenario.preset("bittensor_halving"), paths=PATHS, seed=2, horizon=90, progress=False)


def test_pyarrow_reads_the_paths_table(run):
    t = pa.table(run.paths)
    assert t.num_rows == PATHS == len(run.paths) == run.paths.num_rows
    assert t.column_names == run.paths.column_names
    assert t.column_names[:3] == ["scenario", "path", "spiral"]
    assert t.column("path").to_pylist() == list(range(PATHS))
    assert t.schema.field("spiral_day").nullable
    assert [len(c) for c in t.column("path").chunks] == [65_536, PATHS - 65_536]


def test_hand_over_is_zero_copy(run):
    paths = run.paths
    t = pa.table(paths)
    i = t.column_names.index("final_price")
    engine_addr = paths._values_address(i)
    chunk = t.column(i).chunks[0]
    assert chunk.buffers()[1].address == engine_addr
    # A second hand-over shares the same buffers again.
    assert pa.table(paths).column(i).chunks[0].buffers()[1].address == engine_addr


def test_stream_capsule_protocol(run):
    cap = run.timeseries.__arrow_c_stream__()
    reader = pa.RecordBatchReader._import_from_c_capsule(cap)
    t = reader.read_all()
    assert t.num_rows == run.timeseries.num_rows > 0
    # A capsule never consumed is released without leaking or crashing.
    run.paths.__arrow_c_stream__(None)


def test_requested_schema_equal_to_the_tables_is_honoured(run):
    paths = run.paths
    schema = pa.table(paths).schema
    reader = pa.RecordBatchReader._import_from_c_capsule(paths.__arrow_c_stream__(schema.__arrow_c_schema__()))
    t = reader.read_all()
    assert t.schema == schema and t.num_rows == PATHS
    i = t.column_names.index("final_price")
    assert t.column(i).chunks[0].buffers()[1].address == paths._values_address(i)
    # pyarrow's own consumer passes it on.
    assert pa.table(paths, schema=schema).num_rows == PATHS


def test_requested_schema_that_differs_is_refused_naming_the_difference(run):
    ts = run.timeseries
    schema = pa.table(ts).schema
    as_f32 = pa.schema([pa.field(f.name, pa.float32(), f.nullable) if f.name == "mean" else f for f in schema])
    with pytest.raises(ValueError, match=r"column 3 \(mean\) has type Float64, requested Float32"):
        ts.__arrow_c_stream__(as_f32.__arrow_c_schema__())
    with pytest.raises(ValueError, match=r"column 3 \(mean\) has type Float64, requested Float32"):
        pa.table(ts, schema=as_f32)
    renamed = pa.schema([f.with_name("avg") if f.name == "mean" else f for f in schema])
    with pytest.raises(ValueError, match=r'column 3 is named "mean", requested "avg"'):
        ts.__arrow_c_stream__(renamed.__arrow_c_schema__())
    nullable = pa.schema([f.with_nullable(True) if f.name == "day" else f for f in schema])
    with pytest.raises(ValueError, match=r"column 1 \(day\) is not nullable, requested nullable"):
        ts.__arrow_c_stream__(nullable.__arrow_c_schema__())
    with pytest.raises(ValueError, match=rf"3 columns requested, the table has {len(schema)}"):
        ts.__arrow_c_stream__(pa.schema(list(schema)[:3]).__arrow_c_schema__())
    with pytest.raises(ValueError, match="requested columns the table lacks: extra"):
        ts.__arrow_c_stream__(schema.append(pa.field("extra", pa.int8())).__arrow_c_schema__())
    with pytest.raises(ValueError, match="not an Arrow schema capsule"):
        ts.__arrow_c_stream__("not a schema")


def test_summary_is_a_mapping_with_ses_and_intervals(run):
    s = run.summary
    assert s["paths"] == PATHS and s["seed"] == 2 and s["scenario"] == "bittensor-halving"
    e = s.estimate("p_spiral")
    assert set(e) == {"value", "se", "lo", "hi"}
    assert e["lo"] <= e["value"] <= e["hi"]
    assert pa.table(run.summary_table).to_pylist()[0].keys() == dict(s).keys()


def test_pandas():
    pd = pytest.importorskip("pandas")
    r = tokenrisk.run(tokenrisk.Scenario.preset("render_bme"), paths=1500, seed=1, progress=False)
    df = pa.table(r.paths).to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 1500
    assert df["path"].tolist() == list(range(1500))


def test_polars():
    pl = pytest.importorskip("polars")
    r = tokenrisk.run(tokenrisk.Scenario.preset("render_bme"), paths=1500, seed=1, progress=False)
    df = pl.DataFrame(r.paths)
    assert df.height == 1500
