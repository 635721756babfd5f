"""cptdyn: predict and plan LLM loss curves under learning-rate schedules."""

__version__ = "0.1.0"
