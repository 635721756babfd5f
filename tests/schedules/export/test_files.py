"""CSV and JSON exports round-trip the float64 plan exactly."""

import json

import numpy as np

from cptdyn.schedules._core import schedule_from_spec
from cptdyn.schedules._export import EXPORT_TARGETS, export

from .helpers import HEADLINE, T, planned


def test_csv_and_json_round_trip(tmp_path):
    s = HEADLINE["wsd-1-sqrt"]
    want = planned(s)
    c = export(s, "csv")
    lines = c.files["lr.csv"].splitlines()
    assert lines[0] == "step,lr" and len(lines) == T + 1
    got = np.array([float(x.split(",")[1]) for x in lines[1:]])
    assert [int(x.split(",")[0]) for x in lines[1:]] == list(range(T))
    np.testing.assert_array_equal(got, want)  # float64 repr round-trips exactly
    j = export(s, "json")
    assert j.native and j.payload == s.to_spec()
    np.testing.assert_array_equal(planned(schedule_from_spec(json.loads(j.text()))), want)
    ja = export(s, "json", mode="array")
    np.testing.assert_array_equal(np.array(json.loads(ja.text())["lr"]), want)
    assert sorted(EXPORT_TARGETS) == sorted(
        ["optax", "torch", "hf", "megatron", "torchtitan", "nanotron", "olmo-core", "maxtext",
         "levanter", "csv", "json"])
