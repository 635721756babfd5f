import cptdyn
import cptdyn.dynamics
import cptdyn.planner
import cptdyn.schedules


def test_version():
    assert isinstance(cptdyn.__version__, str)
