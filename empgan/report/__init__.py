"""The report's tables and plots, read from MLflow: `export_table`, `print_table_for_sweep`.

Imported lazily, so that building the `empgan` command line does not load MLflow and matplotlib.
"""

__all__ = ["export_table", "print_table_for_sweep"]


def __getattr__(name: str):
    if name in __all__:
        from empgan.report import export
        return getattr(export, name)
    raise AttributeError(f"module 'empgan.report' has no attribute '{name}'")
