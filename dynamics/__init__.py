"""Loss laws, runs and fitting."""
