"""DataFrames: missing values and step-0 observations."""

import numpy as np
import pandas as pd

from cptdyn.dynamics._runs import load_runs


def test_dataframe_with_missing_values_and_step_zero():
    df = pd.DataFrame({"step": [0, 50, 100, 150, 200], "loss": [10.0, np.nan, 3.0, np.nan, 2.8],
                       "learning_rate": [1e-4, 2e-4, 3e-4, 3e-4, 3e-4]})
    (run,) = load_runs(df, name="hf")
    np.testing.assert_array_equal(run.steps, [100, 200])
    assert run.meta["dropped_steps"] == [0] and run.name == "hf"
    assert run.lr[0] == 1e-4 and run.lr[50] == 2e-4
