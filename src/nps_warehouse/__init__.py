"""NPS warehouse: synthetic raw data generator and helpers for the dbt-on-DuckDB project."""

__version__ = "0.1.0"
