"""load_runs: format sniffing, directories and lists of sources."""

import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import load_runs, sniff_format

from .helpers import BRANCH_02, MPL, SWEEP, TRUNK


def test_sniff_formats(tmp_path):
    assert sniff_format(MPL / "csv_25" / "cosine_24000.csv") == "csv"
    assert sniff_format(BRANCH_02) == "wandb-json"
    assert sniff_format(SWEEP / "curves.csv.gz") == "csv"
    p = tmp_path / "x.parquet"
    p.write_text("")
    with pytest.raises(RunError, match="cannot tell the format"):
        load_runs(p)
    with pytest.raises(ValueError, match="format='xml' must be one of"):
        load_runs(MPL / "csv_25" / "cosine_24000.csv", format="xml")


def test_directory_of_csvs_and_list_of_sources():
    runs = load_runs(MPL / "csv_100")
    assert [r.name for r in runs][:3] == ["constant_24000", "constant_72000", "cosine_24000"]
    assert len(runs) == 9
    mixed = load_runs([MPL / "csv_25" / "wsdcon_9.csv", TRUNK, BRANCH_02])
    assert [r.name[:10] for r in mixed] == ["wsdcon_9", "stable-124", "ann124-0.2"]
    assert mixed[2].meta["branch_step"] == 40000
